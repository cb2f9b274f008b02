/**
 * Reading one receive socket (the mroute socket, a link's report socket) on the libuv loop,
 * in bounded batches: each readiness callback reads at most `batch` datagrams, and stops
 * sooner once it has taken `budgetMs`, then returns, so that libuv serves the other
 * sockets, the timers and the rest of the loop before this one is read again (the poll
 * fires again while datagrams are queued). A link that floods then delays a quiet link by
 * at most one batch per busy socket, not by its backlog (docs/kernel.md "Receiving
 * reports").
 *
 * Errors have an owner: `onError` receives every failure. Nothing is ever thrown out of the
 * poll callback: the addon turns such a throw into an uncaught exception, which would end
 * the daemon. A poll failure (`isPollFailure`) means the socket no longer delivers anything
 * (libuv stops the watcher); a recvmsg error or an exception while handling one datagram (a
 * listener that throws, a parser bug) concerns that datagram only and reading goes on.
 */
import type { RecvResult } from "./addon.js";
import { KernelError, POLL_FAILURE_OPERATION } from "./errors.js";
import { SK_MEMINFO_DROPS, SK_MEMINFO_VARS, SO_MEMINFO, SOL_SOCKET } from "./structs/netlink.js";
import { HOST_LE } from "./structs/sockaddr.js";
import type { Syscalls } from "./syscalls.js";

/**
 * Datagrams read per readiness callback at most. Flood reports of 100 records or 320
 * sources took 0.1 to 0.2 ms each on average in the flood bench (`npm run bench:flood`),
 * a batch of 32 3 to 5 ms.
 */
export const READ_BATCH = 32;

/**
 * Wall-clock time after which a batch ends even short of READ_BATCH (checked after each
 * datagram; at least one is read). Under CPU contention a batch of 32 took up to 100 ms of
 * wall time in the flood bench while no datagram took more than 20 ms: the budget keeps the
 * quiet links' wait near one datagram then.
 */
export const READ_BUDGET_MS = 4;

/**
 * One receive buffer for every reader: reads happen one at a time on the event loop, and a
 * datagram is decoded (payload copied) before the next read.
 */
const rx = Buffer.alloc(65536);

export interface DatagramReaderOptions {
  syscalls: Pick<Syscalls, "recvmsg" | "pollStart" | "pollStop">;
  fd: number;
  /** The socket in operator terms, for error messages ("the ipv4 multicast routing socket"). */
  name: string;
  /** One datagram (not truncated; `data` is valid during the call only). */
  onDatagram: (r: RecvResult, data: Buffer) => void;
  onError: (e: KernelError) => void;
  /** Datagrams read per readiness callback at most (default READ_BATCH). */
  batch?: number;
  /** Milliseconds after which a batch ends early (default READ_BUDGET_MS). */
  budgetMs?: number;
  /** Monotonic milliseconds (default performance.now; a fake in unit tests). */
  now?: () => number;
}

/** How much one readiness callback reads (defaults: READ_BATCH, READ_BUDGET_MS, performance.now). */
export type ReadLimits = Pick<DatagramReaderOptions, "batch" | "budgetMs" | "now">;

export class DatagramReader {
  private fd = -1;
  /**
   * Datagrams dropped because the kernel cut them: the data (MSG_TRUNC: longer than the
   * 64 KiB buffer, so no message of ours) or the ancillary data (MSG_CTRUNC: interface,
   * destination or TTL may be missing, so it cannot be trusted).
   */
  truncated = 0;

  constructor(private readonly o: DatagramReaderOptions) {}

  /** Starts polling the socket. */
  start(): void {
    this.fd = this.o.fd;
    this.o.syscalls.pollStart(this.fd, (readable) => this.onReadable(readable));
  }

  /** Stops polling (before the socket is closed); no datagram is handled afterwards. */
  stop(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.o.syscalls.pollStop(fd);
  }

  /** The poll callback. Never throws (module comment): every failure goes to `onError`. */
  private onReadable(readable: boolean): void {
    if (this.fd < 0) return;
    const { name } = this.o;
    if (!readable) {
      this.report(
        new KernelError(`polling ${name} failed`, { code: "EIO", operation: POLL_FAILURE_OPERATION }),
      );
      return;
    }
    const batch = this.o.batch ?? READ_BATCH;
    const now = this.o.now ?? performance.now.bind(performance);
    const end = now() + (this.o.budgetMs ?? READ_BUDGET_MS);
    for (let i = 0; i < batch && this.fd >= 0; i++) {
      let r: RecvResult | null;
      try {
        r = this.o.syscalls.recvmsg(this.fd, rx);
      } catch (err) {
        this.report(KernelError.from(err, `receiving on ${name}`));
        return;
      }
      if (r === null) return;
      if (r.truncated || r.controlTruncated) {
        this.truncated++;
        continue;
      }
      try {
        this.o.onDatagram(r, rx.subarray(0, r.bytes));
      } catch (err) {
        this.report(KernelError.from(err, `handling a datagram from ${name}`));
      }
      if (now() >= end) return;
    }
  }

  /** Hands `e` to the owner; an owner that throws itself only leaves a process warning. */
  private report(e: KernelError): void {
    try {
      this.o.onError(e);
    } catch (err) {
      process.emitWarning(
        `the error handler of ${this.o.name} threw: ${String(err)} (while reporting: ${e.message})`,
      );
    }
  }
}

/** What a receive socket has discarded or lost, for status and metrics. */
export interface ReceiveStats {
  /**
   * "kernel": a socket filter drops what is not this socket's in the kernel; "software":
   * the kernel refused the filter and every datagram is read (`discarded` counts the others).
   */
  filter: "kernel" | "software";
  /** Datagrams read and dropped as not this socket's (copies meant for another socket). */
  discarded: number;
  /** Datagrams the kernel dropped for a full receive buffer (sk_drops); null if unknown. */
  drops: number | null;
  /** Datagrams dropped because the kernel cut their data or ancillary data (DatagramReader.truncated). */
  truncated: number;
}

/**
 * The kernel's drop count of a socket (SO_MEMINFO, Linux 4.12): datagrams lost because the
 * receive buffer was full. Datagrams a socket filter refuses are not counted there. Null
 * when the kernel does not answer.
 */
export function socketDrops(sys: Pick<Syscalls, "getsockopt">, fd: number): number | null {
  if (fd < 0) return null;
  const mem = Buffer.alloc(4 * SK_MEMINFO_VARS);
  try {
    const len = sys.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem);
    if (len < 4 * (SK_MEMINFO_DROPS + 1)) return null;
  } catch {
    return null;
  }
  return new DataView(mem.buffer, mem.byteOffset, mem.byteLength).getUint32(4 * SK_MEMINFO_DROPS, HOST_LE);
}
