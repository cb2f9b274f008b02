/**
 * systemd readiness protocol (sd_notify(3)): a datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..."). Node has no
 * AF_UNIX datagram sockets, so this goes through the addon. Without $NOTIFY_SOCKET (not
 * started by systemd with Type=notify) it does nothing.
 */
import { netio } from "./addon.js";
import { AF_UNIX, sockaddrUn } from "./structs/sockaddr.js";

const SOCK_DGRAM = 2;

/** Packs a sockaddr_un; "@name" is an abstract socket (leading NUL, no terminator). */
export const packSockaddrUn = sockaddrUn;

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
