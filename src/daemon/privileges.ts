/**
 * Dropping privileges (the `user` setting, igmpproxy's `user NAME`): once the sockets that
 * need them are open, the daemon takes the user's supplementary groups, group and user id,
 * keeping only CAP_NET_ADMIN and CAP_NET_RAW on its main thread (src/kernel/capabilities.ts):
 * an interface that appears later needs a new raw receive socket (CAP_NET_RAW) and a VIF.
 *
 * The user is looked up in /etc/passwd (routers have no other name service); Node.js's
 * process.initgroups / setgid / setuid do the rest (glibc applies them to every thread).
 */
import { readFileSync } from "node:fs";
import { keepCapabilitiesAcrossSetuid, limitToNetworkCapabilities } from "../kernel/index.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** The entry of `name` in passwd(5) text, or null. */
export function findUser(passwd: string, name: string): PasswdEntry | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || f[0] !== name) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) return null;
    return { name, uid, gid };
  }
  return null;
}

/** The process calls privilege dropping uses (injectable for tests). */
export interface IdentityCalls {
  getuid(): number;
  geteuid(): number;
  initgroups(user: string, extraGroup: number): void;
  setgid(id: number): void;
  setuid(id: number): void;
  /** Before setuid: keep the permitted capabilities through it. */
  keepCapabilities(): void;
  /** After setuid: CAP_NET_ADMIN and CAP_NET_RAW only. */
  limitCapabilities(): void;
  readPasswd(): string;
}

const realCalls: IdentityCalls = {
  getuid: () => process.getuid!(),
  geteuid: () => process.geteuid!(),
  // Node.js has process.initgroups (initgroups(3)); @types/node 20 does not declare it.
  initgroups: (user, gid) =>
    (process as unknown as { initgroups(user: string, extraGroup: number): void }).initgroups(user, gid),
  setgid: (id) => process.setgid!(id),
  setuid: (id) => process.setuid!(id),
  keepCapabilities: keepCapabilitiesAcrossSetuid,
  limitCapabilities: limitToNetworkCapabilities,
  readPasswd: () => readFileSync("/etc/passwd", "utf8"),
};

/**
 * Becomes `user` (groups, gid, then uid: the order in which each step is still allowed).
 * Already that user: nothing to do. Throws with a one-line reason when the user is unknown
 * or the process may not change its identity (not root).
 */
export function dropPrivileges(
  user: string,
  calls: IdentityCalls = realCalls,
): PasswdEntry & { changed: boolean } {
  let passwd: string;
  try {
    passwd = calls.readPasswd();
  } catch (err) {
    throw new Error(`cannot run as user ${user}: cannot read /etc/passwd (${(err as Error).message})`);
  }
  const entry = findUser(passwd, user);
  if (!entry) throw new Error(`cannot run as user ${user}: no such user in /etc/passwd`);
  if (calls.getuid() === entry.uid && calls.geteuid() === entry.uid) return { ...entry, changed: false };
  if (calls.geteuid() !== 0) {
    throw new Error(
      `cannot run as user ${user}: only root can change its user (running as uid ${calls.geteuid()})`,
    );
  }
  try {
    calls.initgroups(user, entry.gid);
    calls.setgid(entry.gid);
    calls.keepCapabilities();
    calls.setuid(entry.uid);
    calls.limitCapabilities();
  } catch (err) {
    throw new Error(`cannot run as user ${user}: ${(err as Error).message}`);
  }
  return { ...entry, changed: true };
}
