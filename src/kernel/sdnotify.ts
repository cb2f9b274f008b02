/**
 * systemd readiness protocol (sd_notify(3)): a datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..."). Node has no
 * AF_UNIX datagram sockets, so this goes through the addon. Without $NOTIFY_SOCKET (not
 * started by systemd with Type=notify) it does nothing.
 */
import { netio } from "./addon.js";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;

/** Packs a sockaddr_un; "@name" is an abstract socket (leading NUL, no terminator). */
export function packSockaddrUn(path: string): Buffer {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path, "utf8");
  if (name.length > 107) throw new RangeError(`NOTIFY_SOCKET path too long: ${path}`);
  const buf = Buffer.alloc(2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1));
  buf.writeUInt16LE(AF_UNIX, 0);
  name.copy(buf, abstract ? 3 : 2);
  return buf;
}

/** Sends one notification; returns false when not under systemd or when sending failed. */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path || !(path.startsWith("/") || path.startsWith("@"))) return false;
  let fd = -1;
  try {
    fd = netio.socket(AF_UNIX, SOCK_DGRAM, 0);
    netio.sendmsg(fd, Buffer.from(state, "utf8"), packSockaddrUn(path));
    return true;
  } catch {
    return false;
  } finally {
    if (fd >= 0) netio.close(fd);
  }
}
