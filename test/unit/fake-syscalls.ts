/**
 * A fake `Syscalls` (src/kernel/syscalls.ts) for unit tests of the kernel layer and its
 * users: no root, no kernel, no addon.
 *
 *   const sys = new FakeSyscalls();
 *   const sock = MrouteSocket.open("ipv4", { table: null, onError, syscalls: sys });
 *   sys.texts("setsockopt")        // ["setsockopt 10 IPPROTO_IP MRT_INIT 1", ...]
 *   sys.fail("setsockopt", "EADDRINUSE", { option: "MRT_INIT" }) // the next MRT_INIT fails
 *   sys.queue(sock.fd, { data, ifindex: 4 }); sys.fire(sock.fd)   // a datagram arrives
 *   sys.fire(sock.fd, false)       // the poll reports an error
 *
 * What it does:
 *  - `socket` hands out fds from 10 up; `close` of an fd that is not open throws EBADF, like
 *    every other call on it. `openFds()` lists what is still open.
 *  - Every call is recorded in `calls` with its arguments; socket options and ioctls carry
 *    decoded names (`level: "IPPROTO_IPV6"`, `option: "MRT6_ADD_MIF"`) and a copy of any
 *    byte argument (`bytes`: a BPF program for `attachFilter`), so tests can assert on
 *    struct contents. `texts(op?)` gives
 *    one readable line per call.
 *  - `fail(op, code, match?)` makes the next call of that kind (matching `fd`, `option` or a
 *    predicate, `times` in a row; default once) throw an error shaped like the addon's:
 *    `Error` with `code`, `errno`, `syscall` (see `isSyscallError` in src/kernel/addon.ts).
 *    Failed calls are recorded too, with `failed: code`.
 *  - `on(op, handler)` runs custom behaviour for every call of a kind after recording (fill
 *    an ioctl's buffer, refuse the 3rd membership with `syscallError("ENOBUFS", ...)`); a
 *    handler may return a value that replaces the default result.
 *  - `queue(fd, datagram)` queues a datagram for `recvmsg` (which returns null when the
 *    queue is empty); `fire(fd, readable)` calls the fd's poll callback as libuv would.
 *  - `interfaces` maps ifindex -> name for `ifIndexToName`.
 */
import { SIOCGETSGCNT, SIOCGETVIFCNT } from "../../src/kernel/structs/mroute.js";
import type { RecvResult, SendControl, Syscalls } from "../../src/kernel/syscalls.js";
import { ipv4ToBytes } from "../../src/wire/address.js";

export type SyscallOp = keyof Syscalls;

export interface FakeCall {
  op: SyscallOp;
  fd?: number;
  /** setsockopt/getsockopt level, decoded ("IPPROTO_IP"); the number when unknown. */
  level?: string;
  /** Socket option or ioctl request, decoded ("MRT_ADD_VIF", "SIOCGETSGCNT"). */
  option?: string;
  /** A number argument: setsockopt's int value, socket's [domain, type, protocol]. */
  value?: number | number[];
  /** A copy of the byte argument (setsockopt value, ioctl/getsockopt buffer as passed, sent data). */
  bytes?: Buffer;
  /** sendmsg: destination sockaddr and control data. */
  to?: Buffer;
  ctl?: SendControl;
  /** Set when the call threw (errno name). */
  failed?: string;
}

export interface FakeDatagram {
  data: Uint8Array;
  /** Raw source sockaddr (default: empty). */
  from?: Uint8Array;
  ifindex?: number;
  /** pktinfo destination bytes; null = no pktinfo cmsg (the default). */
  dst?: Uint8Array | null;
  ttl?: number;
  hopopts?: Uint8Array | null;
  /** MSG_CTRUNC on this datagram. */
  controlTruncated?: boolean;
}

export interface FailMatch {
  fd?: number;
  /** Decoded option / ioctl name ("MRT_INIT"). */
  option?: string;
  when?: (c: FakeCall) => boolean;
  /** Consecutive matching calls that fail (default 1; Infinity for all). */
  times?: number;
}

const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  ERANGE: 34,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENOBUFS: 105,
};

/** An error shaped like the addon's for a failing syscall. */
export function syscallError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall}: ${code}`), { code, errno: ERRNO[code] ?? 1000, syscall });
}

const LEVELS: Record<number, string> = {
  0: "IPPROTO_IP",
  1: "SOL_SOCKET",
  41: "IPPROTO_IPV6",
  58: "IPPROTO_ICMPV6",
};
const OPTIONS: Record<string, Record<number, string>> = {
  IPPROTO_IP: {
    4: "IP_OPTIONS",
    5: "IP_ROUTER_ALERT",
    8: "IP_PKTINFO",
    12: "IP_RECVTTL",
    32: "IP_MULTICAST_IF",
    33: "IP_MULTICAST_TTL",
    34: "IP_MULTICAST_LOOP",
    35: "IP_ADD_MEMBERSHIP",
    36: "IP_DROP_MEMBERSHIP",
    42: "MCAST_JOIN_GROUP",
    45: "MCAST_LEAVE_GROUP",
    46: "MCAST_JOIN_SOURCE_GROUP",
    48: "MCAST_MSFILTER",
    200: "MRT_INIT",
    201: "MRT_DONE",
    202: "MRT_ADD_VIF",
    203: "MRT_DEL_VIF",
    204: "MRT_ADD_MFC",
    205: "MRT_DEL_MFC",
    207: "MRT_ASSERT",
    209: "MRT_TABLE",
  },
  IPPROTO_IPV6: {
    7: "IPV6_CHECKSUM",
    17: "IPV6_MULTICAST_IF",
    18: "IPV6_MULTICAST_HOPS",
    19: "IPV6_MULTICAST_LOOP",
    20: "IPV6_ADD_MEMBERSHIP",
    21: "IPV6_DROP_MEMBERSHIP",
    42: "MCAST_JOIN_GROUP",
    45: "MCAST_LEAVE_GROUP",
    46: "MCAST_JOIN_SOURCE_GROUP",
    48: "MCAST_MSFILTER",
    49: "IPV6_RECVPKTINFO",
    51: "IPV6_RECVHOPLIMIT",
    53: "IPV6_RECVHOPOPTS",
    54: "IPV6_HOPOPTS",
    200: "MRT6_INIT",
    201: "MRT6_DONE",
    202: "MRT6_ADD_MIF",
    203: "MRT6_DEL_MIF",
    204: "MRT6_ADD_MFC",
    205: "MRT6_DEL_MFC",
    209: "MRT6_TABLE",
  },
  SOL_SOCKET: {
    8: "SO_RCVBUF",
    26: "SO_ATTACH_FILTER",
    33: "SO_RCVBUFFORCE",
    55: "SO_MEMINFO",
    62: "SO_BINDTOIFINDEX",
  },
  IPPROTO_ICMPV6: { 1: "ICMP6_FILTER" },
};
const IOCTLS: Record<number, string> = { [SIOCGETVIFCNT]: "SIOCGETVIFCNT", [SIOCGETSGCNT]: "SIOCGETSGCNT" };

type Handler = (c: FakeCall, ...args: never[]) => unknown;

export class FakeSyscalls implements Syscalls {
  readonly calls: FakeCall[] = [];
  /** ifindex -> interface name, for ifIndexToName. */
  readonly interfaces = new Map<number, string>();
  private nextFd = 10;
  private readonly open = new Set<number>();
  private readonly polls = new Map<number, (readable: boolean) => void>();
  private readonly rxQueues = new Map<number, FakeDatagram[]>();
  private readonly failures: Array<{ op: SyscallOp; code: string; match: FailMatch; left: number }> = [];
  private readonly handlers = new Map<SyscallOp, Handler>();

  // ------------------------------------------------------------ test controls

  /** Makes the next matching call(s) of `op` throw `code` (module comment). */
  fail(op: SyscallOp, code: string, match: FailMatch = {}): this {
    this.failures.push({ op, code, match, left: match.times ?? 1 });
    return this;
  }

  /**
   * Custom behaviour for every call of `op` (after recording). The handler gets the
   * recorded call and the call's own arguments; it may throw (`syscallError`) or return a
   * value that replaces the default result (undefined keeps the default).
   */
  on<K extends SyscallOp>(op: K, handler: (c: FakeCall, ...args: Parameters<Syscalls[K]>) => unknown): this {
    this.handlers.set(op, handler as unknown as Handler);
    return this;
  }

  /** Queues a datagram for `recvmsg(fd)`. */
  queue(fd: number, d: FakeDatagram): this {
    const q = this.rxQueues.get(fd) ?? [];
    q.push(d);
    this.rxQueues.set(fd, q);
    return this;
  }

  /** Datagrams still queued for `fd`. */
  queued(fd: number): number {
    return this.rxQueues.get(fd)?.length ?? 0;
  }

  /** Calls `fd`'s poll callback like libuv: `true` readable, `false` a poll error. */
  fire(fd: number, readable = true): void {
    const cb = this.polls.get(fd);
    if (!cb) throw new Error(`fd ${fd} is not polled`);
    cb(readable);
  }

  /** Whether `fd` has a poll callback. */
  polled(fd: number): boolean {
    return this.polls.has(fd);
  }

  /** The fds handed out and not closed. */
  openFds(): number[] {
    return [...this.open].sort((a, b) => a - b);
  }

  /** The recorded calls (of one kind) as readable lines. */
  texts(op?: SyscallOp): string[] {
    return this.calls.filter((c) => op === undefined || c.op === op).map(describe);
  }

  /** Recorded calls of `op`, optionally only those with option name `option`. */
  callsOf(op: SyscallOp, option?: string): FakeCall[] {
    return this.calls.filter((c) => c.op === op && (option === undefined || c.option === option));
  }

  // ------------------------------------------------------------ Syscalls

  socket(domain: number, type: number, protocol: number): number {
    const fd = this.nextFd;
    this.record({ op: "socket", value: [domain, type, protocol] });
    const r = this.handle("socket", [domain, type, protocol]);
    this.nextFd++;
    const out = typeof r === "number" ? r : fd;
    this.open.add(out);
    return out;
  }

  close(fd: number): void {
    this.record({ op: "close", fd });
    this.checkFd(fd, "close");
    this.handle("close", [fd]);
    this.open.delete(fd);
    this.polls.delete(fd);
    this.rxQueues.delete(fd);
  }

  bind(fd: number, sockaddr: Uint8Array): void {
    this.record({ op: "bind", fd, bytes: Buffer.from(sockaddr) });
    this.checkFd(fd, "bind");
    this.handle("bind", [fd, sockaddr]);
  }

  getsockname(fd: number, buf: Uint8Array): number {
    this.record({ op: "getsockname", fd });
    this.checkFd(fd, "getsockname");
    const r = this.handle("getsockname", [fd, buf]);
    return typeof r === "number" ? r : 0;
  }

  setsockopt(fd: number, level: number, name: number, value: Uint8Array | number): void {
    this.record({
      op: "setsockopt",
      fd,
      ...names(level, name),
      ...(typeof value === "number" ? { value } : { bytes: Buffer.from(value) }),
    });
    this.checkFd(fd, "setsockopt");
    this.handle("setsockopt", [fd, level, name, value]);
  }

  getsockopt(fd: number, level: number, name: number, buf: Uint8Array): number {
    this.record({ op: "getsockopt", fd, ...names(level, name), bytes: Buffer.from(buf) });
    this.checkFd(fd, "getsockopt");
    const r = this.handle("getsockopt", [fd, level, name, buf]);
    return typeof r === "number" ? r : buf.length;
  }

  attachFilter(fd: number, program: Uint8Array): void {
    this.record({ op: "attachFilter", fd, bytes: Buffer.from(program) });
    this.checkFd(fd, "attachFilter");
    this.handle("attachFilter", [fd, program]);
  }

  ioctl(fd: number, request: number, buf: Uint8Array, size: number): number {
    this.record({ op: "ioctl", fd, option: IOCTLS[request] ?? String(request), bytes: Buffer.from(buf) });
    this.checkFd(fd, "ioctl");
    // As the addon: the buffer must hold the request's struct.
    if (!(size > 0) || buf.length < size) throw new RangeError("netio: ioctl: buf is shorter than the request's struct");
    const r = this.handle("ioctl", [fd, request, buf]);
    return typeof r === "number" ? r : 0;
  }

  recvmsg(fd: number, buf: Uint8Array): RecvResult | null {
    this.record({ op: "recvmsg", fd });
    this.checkFd(fd, "recvmsg");
    const r = this.handle("recvmsg", [fd, buf]);
    if (r !== undefined) return r as RecvResult | null;
    const d = this.rxQueues.get(fd)?.shift();
    if (d === undefined) return null;
    const bytes = Math.min(d.data.length, buf.length);
    buf.set(d.data.subarray(0, bytes));
    return {
      bytes,
      truncated: d.data.length > buf.length,
      controlTruncated: d.controlTruncated ?? false,
      from: Buffer.from(d.from ?? []),
      ifindex: d.ifindex ?? 0,
      dst: d.dst ? Buffer.from(d.dst) : null,
      ttl: d.ttl ?? -1,
      hopopts: d.hopopts ? Buffer.from(d.hopopts) : null,
    };
  }

  sendmsg(fd: number, data: Uint8Array, to: Uint8Array, ctl?: SendControl): number {
    this.record({
      op: "sendmsg",
      fd,
      bytes: Buffer.from(data),
      to: Buffer.from(to),
      ...(ctl ? { ctl } : {}),
    });
    this.checkFd(fd, "sendmsg");
    const r = this.handle("sendmsg", [fd, data, to, ctl]);
    return typeof r === "number" ? r : data.length;
  }

  pollStart(fd: number, callback: (readable: boolean) => void): void {
    this.record({ op: "pollStart", fd });
    this.checkFd(fd, "pollStart");
    this.handle("pollStart", [fd, callback]);
    this.polls.set(fd, callback);
  }

  pollStop(fd: number): void {
    this.record({ op: "pollStop", fd });
    this.handle("pollStop", [fd]);
    this.polls.delete(fd);
  }

  ifIndexToName(index: number): string | null {
    return this.interfaces.get(index) ?? null;
  }

  // ------------------------------------------------------------ internals

  private current: FakeCall | null = null;

  private record(c: FakeCall): void {
    this.calls.push(c);
    this.current = c;
    const i = this.failures.findIndex(
      (f) =>
        f.op === c.op &&
        (f.match.fd === undefined || f.match.fd === c.fd) &&
        (f.match.option === undefined || f.match.option === c.option) &&
        (f.match.when === undefined || f.match.when(c)),
    );
    if (i < 0) return;
    const f = this.failures[i]!;
    if (--f.left <= 0) this.failures.splice(i, 1);
    c.failed = f.code;
    throw syscallError(f.code, c.op);
  }

  private checkFd(fd: number, op: string): void {
    if (this.open.has(fd)) return;
    if (this.current) this.current.failed = "EBADF";
    throw syscallError("EBADF", op);
  }

  private handle(op: SyscallOp, args: unknown[]): unknown {
    const h = this.handlers.get(op);
    const c = this.current;
    if (!h || !c) return undefined;
    try {
      return (h as (c: FakeCall, ...a: unknown[]) => unknown)(c, ...args);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string") c.failed = code;
      throw err;
    }
  }
}

function names(level: number, name: number): { level: string; option: string } {
  const lv = LEVELS[level] ?? String(level);
  return { level: lv, option: OPTIONS[lv]?.[name] ?? String(name) };
}

/** "setsockopt 10 IPPROTO_IP MRT_INIT 1", "ioctl 10 SIOCGETSGCNT", "socket 2,3,2 -> EPERM". */
function describe(c: FakeCall): string {
  const parts: string[] = [c.op];
  if (c.fd !== undefined) parts.push(String(c.fd));
  if (c.level !== undefined) parts.push(c.level);
  if (c.option !== undefined) parts.push(c.option);
  if (c.value !== undefined) parts.push(Array.isArray(c.value) ? c.value.join(",") : String(c.value));
  if (c.failed !== undefined) parts.push(`-> ${c.failed}`);
  return parts.join(" ");
}

/**
 * An IPv4 datagram as a raw socket reads it (TTL 1, Router Alert unless told, protocol IGMP
 * unless told) around `payload`: what tests queue on a fake socket.
 */
export function ipv4Datagram(
  source: string,
  destination: string,
  payload: ArrayLike<number>,
  routerAlert = true,
  protocol = 2,
): Buffer {
  const header = routerAlert ? 24 : 20;
  const b = Buffer.alloc(header + payload.length);
  b[0] = 0x40 | (header / 4);
  b.writeUInt16BE(b.length, 2);
  b[8] = 1;
  b[9] = protocol;
  b.set(ipv4ToBytes(source), 12);
  b.set(ipv4ToBytes(destination), 16);
  if (routerAlert) b.set([0x94, 4, 0, 0], 20);
  b.set(payload, header);
  return b;
}
