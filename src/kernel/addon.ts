/**
 * Typed surface of the native addon `netio` (native/netio.c, built by node-gyp into
 * build/Release/netio.node, or prebuilt in the package: prebuilds/); docs/kernel.md
 * "Native layer".
 *
 * The addon is a thin, generic syscall layer: it knows nothing about IGMP, MLD, mroute or
 * netlink. Option numbers, struct layouts and protocol logic live in TypeScript
 * (src/kernel/structs/*, src/kernel/*.ts). Only modules under src/kernel/ import this file.
 *
 * Errors: every failing syscall throws a plain `Error` whose message reads
 * "<syscall>: <strerror>" (e.g. "setsockopt: Address already in use") with
 *   .code    errno name ("EADDRINUSE"),
 *   .errno   positive errno number,
 *   .syscall the failing call ("setsockopt").
 * See `SyscallError` and `isSyscallError`. Argument type mistakes throw a TypeError.
 *
 * A file descriptor argument must be an integer >= 0 (NaN or -1 is a RangeError, never fd
 * 0). Sockets are always created with SOCK_NONBLOCK | SOCK_CLOEXEC. Readiness is delivered
 * through libuv (`pollStart`), never by blocking. `close()` stops a poll on the fd first.
 * When the Node environment shuts down (process or worker exit) the addon stops all polls
 * and closes every socket it opened that is still open.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { layoutMismatches } from "./structs/abi.js";

/** Raw bytes accepted by the addon: a Buffer or any Uint8Array (no copy is made). */
export type Bytes = Uint8Array;

/** Result of one `recvmsg`. */
export interface RecvResult {
  /** Bytes written into the caller's buffer (never more than its length). */
  bytes: number;
  /** MSG_TRUNC: the datagram was longer than the buffer; the rest is lost. */
  truncated: boolean;
  /** MSG_CTRUNC: ancillary data did not fit (interface, destination, TTL may be missing). */
  controlTruncated: boolean;
  /** Raw source sockaddr (sockaddr_in / sockaddr_in6 / sockaddr_nl), a fresh copy. */
  from: Buffer;
  /** Ingress interface from IP_PKTINFO / IPV6_PKTINFO; 0 when no pktinfo cmsg came. */
  ifindex: number;
  /**
   * Header destination address (4 or 16 bytes, network order) from IP_PKTINFO
   * (ipi_addr) / IPV6_PKTINFO (ipi6_addr); null when no pktinfo cmsg came.
   */
  dst: Buffer | null;
  /** IP_TTL / IPV6_HOPLIMIT cmsg value; -1 when none came. */
  ttl: number;
  /** Raw IPv6 Hop-by-Hop Options header from the IPV6_HOPOPTS cmsg; null when none. */
  hopopts: Buffer | null;
}

/** Ancillary data for `sendmsg`; which cmsgs are built depends on the family of `to`. */
export interface SendControl {
  /** Outgoing interface (IP_PKTINFO ipi_ifindex / IPV6_PKTINFO ipi6_ifindex). */
  ifindex?: number;
  /** Source address, 4 bytes (IP_PKTINFO ipi_spec_dst) or 16 bytes (IPV6_PKTINFO ipi6_addr). */
  src?: Bytes;
  /** TTL (IP_TTL cmsg) or hop limit (IPV6_HOPLIMIT cmsg). */
  hopLimit?: number;
}

export interface NetioAddon {
  /** socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC added to `type`. Returns the fd. */
  socket(domain: number, type: number, protocol: number): number;
  /**
   * close(2) of a socket this addon opened; stops a poll on the fd first. Any other fd
   * (never opened here, or already closed) throws EBADF and is left alone.
   */
  close(fd: number): void;
  /** bind(2) to a raw sockaddr. */
  bind(fd: number, sockaddr: Bytes): void;
  /** getsockname(2) into `buf`; returns the address length. */
  getsockname(fd: number, buf: Bytes): number;
  /** setsockopt(2). A number is passed as a C `int` (4 bytes). */
  setsockopt(fd: number, level: number, name: number, value: Bytes | number): void;
  /**
   * getsockopt(2). `buf` is in/out: its content is passed in (MCAST_MSFILTER reads the
   * interface and group from it) and the kernel's answer written over it. Returns optlen.
   */
  getsockopt(fd: number, level: number, name: number, buf: Bytes): number;
  /**
   * setsockopt(SOL_SOCKET, SO_ATTACH_FILTER) with a classic BPF program: `program` is the
   * struct sock_filter array (8 bytes per instruction, src/kernel/structs/bpf.ts), 1 to 4096
   * instructions (RangeError otherwise). The kernel checks the program (EINVAL).
   */
  attachFilter(fd: number, program: Bytes): void;
  /** prctl(PR_SET_KEEPCAPS, 1) on the calling thread: the next setuid keeps the permitted set. */
  keepCapabilities(): void;
  /** capset(2) on the calling thread: permitted = effective = CAP_NET_ADMIN | CAP_NET_RAW. */
  limitCapabilities(): void;
  /**
   * ioctl(2) with `buf` as the in/out argument; returns the ioctl's return value. `size` is
   * the size of the struct the request reads and writes: a shorter `buf` is a RangeError
   * (the kernel would write past it).
   */
  ioctl(fd: number, request: number, buf: Bytes, size: number): number;
  /** recvmsg(2) into `buf`; null on EAGAIN (nothing to read). */
  recvmsg(fd: number, buf: Bytes): RecvResult | null;
  /**
   * sendmsg(2) of `data` to the raw sockaddr `to`. AF_INET adds IP_PKTINFO (ifindex/src)
   * and IP_TTL (hopLimit) cmsgs as given; AF_INET6 adds IPV6_PKTINFO and IPV6_HOPLIMIT;
   * other families (AF_NETLINK) get none. Returns the bytes sent.
   */
  sendmsg(fd: number, data: Bytes, to: Bytes, ctl?: SendControl): number;
  /**
   * Watches `fd` for readability on the libuv loop (uv_poll_t, no threads). The callback
   * gets `true` when readable (read until `recvmsg` returns null), `false` on a poll error.
   * Replaces an earlier poll on the same fd. A throwing callback becomes an uncaught exception: callers catch everything themselves.
   */
  pollStart(fd: number, callback: (readable: boolean) => void): void;
  /** Stops polling `fd`; no-op when not polled. */
  pollStop(fd: number): void;
  /** if_nametoindex(3); 0 when there is no such interface. */
  ifNameToIndex(name: string): number;
  /** if_indextoname(3); null when there is no such interface. */
  ifIndexToName(index: number): string | null;
  /** sizeof/offsetof of the kernel structs as this addon was compiled (native/layouts.h). */
  layouts(): Record<string, number>;
}

/** The shape of errors the addon throws for a failing syscall. */
export interface SyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export function isSyscallError(err: unknown): err is SyscallError {
  return (
    err instanceof Error &&
    typeof (err as Partial<SyscallError>).code === "string" &&
    typeof (err as Partial<SyscallError>).errno === "number" &&
    typeof (err as Partial<SyscallError>).syscall === "string"
  );
}

/**
 * Refuses an addon whose struct layouts differ from the TypeScript tables (structs/abi.ts):
 * an ABI the tables do not describe would otherwise pack garbage into kernel calls.
 */
function checkLayouts(addon: NetioAddon): NetioAddon {
  const wrong = layoutMismatches(addon.layouts());
  if (wrong.length > 0)
    throw new Error(
      `native addon netio.node: kernel struct layouts of this ABI (${process.arch}) differ from improxy's tables: ${wrong.join("; ")}`,
    );
  return addon;
}

/** The package root: the nearest directory above this file with improxy's package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "improxy") return dir;
    } catch {
      // no package.json here: go up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("native addon netio.node: improxy's package.json not found above this file");
    dir = up;
  }
}

/**
 * Loads the addon with node-gyp-build: a local build (build/Release, made by node-gyp in a
 * checkout or when no prebuild matched at install) first, else the prebuilt addon of the
 * package for this platform, CPU and C library (prebuilds/linux-x64/node.napi.glibc.node,
 * ...musl.node: scripts/prebuild.mjs), so that an install needs no compiler.
 */
function load(): NetioAddon {
  const require = createRequire(import.meta.url);
  const root = packageRoot();
  const nodeGypBuild = require("node-gyp-build") as { path(dir: string): string };
  let path: string;
  try {
    path = nodeGypBuild.path(root);
  } catch (err) {
    throw new Error(
      `native addon netio.node: no build and no prebuilt addon for this system (${(err as Error).message.split("\n")[0]}); build it with \`npx node-gyp rebuild\` in ${root}`,
    );
  }
  return checkLayouts(require(path) as NetioAddon);
}

/** The loaded addon (loaded once, at first import). */
export const netio: NetioAddon = load();
