/**
 * rtnetlink link and address watcher (NETLINK_ROUTE, groups RTMGRP_LINK |
 * RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR); docs/kernel.md "Interface events".
 *
 * One socket carries both the notifications and the dump answers, so their order is the
 * kernel's order. `open()` subscribes first and then dumps links and addresses (RTM_GETLINK
 * and RTM_GETADDR with NLM_F_DUMP, one after the other: the kernel runs one dump per socket
 * at a time). Dump answers are told apart from notifications by sequence number and our
 * netlink port id; a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is redone.
 *
 * Ordering contract: notifications that arrive while a dump runs are held back and
 * delivered (in kernel order) right after the dump's promise has resolved and its awaiting
 * code has run, so "load the dump, then apply events" always ends in the current state.
 *
 * Overrun: when the socket's receive queue overflowed (recvmsg fails with ENOBUFS, or a
 * datagram was truncated) notifications were lost. The watcher then dumps again and emits a
 * synthetic full state against what it had reported before: `dellink` / `deladdr` for what
 * disappeared, then `newlink` for every link and `newaddr` for every address now present.
 * Consumers that treat events as idempotent state updates therefore converge.
 */
import { KernelError, POLL_FAILURE_OPERATION } from "./errors.js";
import { realSyscalls, type Syscalls, sizeReceiveBuffer } from "./syscalls.js";
import {
  AF_NETLINK,
  AF_UNSPEC,
  type AddrInfo,
  decodeIfaddrmsg,
  decodeIfinfomsg,
  decodeNlmsgerr,
  encodeGetAddrDump,
  encodeGetLinkDump,
  type LinkInfo,
  type NlMessage,
  NETLINK_ROUTE,
  NLM_F_DUMP_INTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_OVERRUN,
  packSockaddrNl,
  parseMessages,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_LINK,
  SOCK_RAW,
} from "./structs/netlink.js";

export type { AddrInfo, LinkInfo } from "./structs/netlink.js";

export type LinkEvent =
  | { type: "newlink"; link: LinkInfo }
  | { type: "dellink"; link: LinkInfo }
  | { type: "newaddr"; addr: AddrInfo }
  | { type: "deladdr"; addr: AddrInfo };

export interface LinkDump {
  links: LinkInfo[];
  addresses: AddrInfo[];
}

/** The syscalls the watcher needs (the native addon by default). */
export type NetlinkSyscalls = Pick<
  Syscalls,
  "socket" | "close" | "bind" | "getsockname" | "setsockopt" | "sendmsg" | "recvmsg" | "pollStart" | "pollStop"
>;

const RECV_BUFFER = 64 * 1024;
const SOCKET_RCVBUF = 4 * 1024 * 1024;
const DUMP_TIMEOUT_MS = 10_000;
/** A dump interrupted this many times in a row fails. */
const MAX_DUMP_RESTARTS = 5;

interface DumpRun {
  phase: "links" | "addresses";
  seq: number;
  links: LinkInfo[];
  addresses: AddrInfo[];
  interrupted: boolean;
  restarts: number;
  timer: NodeJS.Timeout;
  promise: Promise<LinkDump>;
  resolve: (d: LinkDump) => void;
  reject: (e: Error) => void;
}

export function addrKey(a: AddrInfo): string {
  return `${a.ifindex}|${a.family}|${a.address}|${a.prefixLen}`;
}

export class LinkWatcher {
  private readonly sys: NetlinkSyscalls;
  private readonly fd: number;
  private readonly portId: number;
  private readonly recvBuf = Buffer.alloc(RECV_BUFFER);
  private readonly listeners: Array<(e: LinkEvent) => void> = [];
  private errorListener: ((err: unknown) => void) | null = null;
  private seq = (Date.now() & 0x3fffffff) >>> 0;
  private current: DumpRun | null = null;
  /** Notifications held back while a dump runs (see the module comment). */
  private held: LinkEvent[] = [];
  private flushScheduled = false;
  private resyncPending = false;
  /** What has been reported to the listeners (for the synthetic state after an overrun). */
  private readonly links = new Map<number, LinkInfo>();
  private readonly addrs = new Map<string, AddrInfo>();
  private closed = false;
  /** Overruns seen (receive queue overflow); each caused a re-dump. */
  overruns = 0;

  private constructor(sys: NetlinkSyscalls) {
    this.sys = sys;
    this.fd = wrap("opening the rtnetlink socket", () => sys.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    try {
      sizeReceiveBuffer(sys, this.fd, SOCKET_RCVBUF, "the rtnetlink socket");
      wrap("subscribing to rtnetlink link/address notifications", () =>
        sys.bind(this.fd, packSockaddrNl(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)),
      );
      const name = Buffer.alloc(12);
      wrap("reading the rtnetlink port id", () => sys.getsockname(this.fd, name));
      this.portId = name.readUInt32LE(4);
      // Nothing is thrown out of the poll callback (it would be an uncaught exception):
      // a poll failure, a receive error or a parsing bug goes to the error listener.
      sys.pollStart(this.fd, (readable) => {
        if (this.closed) return;
        if (!readable) {
          this.report(
            new KernelError("polling the rtnetlink socket failed", { code: "EIO", operation: POLL_FAILURE_OPERATION }),
          );
          return;
        }
        try {
          this.drain();
        } catch (err) {
          this.report(KernelError.from(err, "handling rtnetlink notifications"));
        }
      });
    } catch (err) {
      sys.close(this.fd);
      throw err;
    }
  }

  /**
   * Subscribes to link and address notifications, then starts the initial dump. `onError`
   * receives what goes wrong later (see `onError`).
   */
  static open(opts: { syscalls?: NetlinkSyscalls; onError?: (err: unknown) => void } = {}): LinkWatcher {
    const w = new LinkWatcher(opts.syscalls ?? realSyscalls);
    if (opts.onError) w.onError(opts.onError);
    w.startDump().promise.catch(() => undefined); // surfaced through dump()
    return w;
  }

  /**
   * All links and addresses. Returns the dump in progress (the initial one started by
   * `open()`) or starts a new one.
   */
  dump(): Promise<LinkDump> {
    if (this.closed) return Promise.reject(closedError());
    return (this.current ?? this.startDump()).promise;
  }

  /** Registers a listener for link/address changes. */
  onEvent(cb: (e: LinkEvent) => void): void {
    this.listeners.push(cb);
  }

  /**
   * Receives errors thrown by event listeners, receive errors and poll failures (a
   * KernelError with code EIO and operation "polling": the socket delivers nothing any
   * more, see `isPollFailure`). Without a listener such an error is rethrown asynchronously
   * (an uncaught exception, as with EventEmitter); either way the watcher keeps delivering
   * to the other listeners.
   */
  onError(cb: (err: unknown) => void): void {
    this.errorListener = cb;
  }

  private report(err: unknown): void {
    const onError = this.errorListener;
    if (onError) onError(err);
    else
      process.nextTick(() => {
        throw err;
      });
  }

  /** The netlink port id the kernel assigned to this socket. */
  get port(): number {
    return this.portId;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sys.pollStop(this.fd);
    this.sys.close(this.fd);
    const run = this.current;
    this.current = null;
    if (run) {
      clearTimeout(run.timer);
      run.reject(closedError());
    }
    this.held = [];
  }

  // --- dumps -----------------------------------------------------------------------

  private startDump(): DumpRun {
    let resolve!: (d: LinkDump) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<LinkDump>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const run: DumpRun = {
      phase: "links",
      seq: 0,
      links: [],
      addresses: [],
      interrupted: false,
      restarts: 0,
      timer: setTimeout(() => this.failDump(run, new Error("rtnetlink dump: no answer from the kernel")), DUMP_TIMEOUT_MS),
      promise,
      resolve,
      reject,
    };
    run.timer.unref();
    this.current = run;
    this.sendPhase(run);
    return run;
  }

  private sendPhase(run: DumpRun): void {
    this.seq = (this.seq + 1) >>> 0 || 1;
    run.seq = this.seq;
    run.interrupted = false;
    if (run.phase === "links") run.links = [];
    else run.addresses = [];
    const msg = run.phase === "links" ? encodeGetLinkDump(run.seq) : encodeGetAddrDump(run.seq);
    try {
      this.sys.sendmsg(this.fd, msg, packSockaddrNl(0, 0));
    } catch (err) {
      this.failDump(run, KernelError.from(err, `requesting the rtnetlink ${run.phase} dump`));
    }
  }

  private failDump(run: DumpRun, err: Error): void {
    if (this.current !== run) return;
    clearTimeout(run.timer);
    this.current = null;
    run.reject(err);
    this.scheduleFlush();
  }

  /** A dump answer (our port id and sequence number). */
  private onDumpMessage(run: DumpRun, m: NlMessage): void {
    if ((m.header.flags & NLM_F_DUMP_INTR) !== 0) run.interrupted = true;
    switch (m.header.type) {
      case RTM_NEWLINK: {
        const link = isLinkFamily(m) ? decodeIfinfomsg(m.payload) : null;
        if (link) run.links.push(link);
        return;
      }
      case RTM_NEWADDR: {
        const addr = decodeIfaddrmsg(m.payload);
        if (addr) run.addresses.push(addr);
        return;
      }
      case NLMSG_ERROR: {
        const e = decodeNlmsgerr(m.payload);
        if (e && e.error !== 0) {
          const code = -e.error;
          if (code === 16 /* EBUSY */ || code === 4 /* EINTR */) {
            this.restartPhase(run);
            return;
          }
          this.failDump(
            run,
            new KernelError(`rtnetlink ${run.phase} dump failed (errno ${code})`, {
              code: "EDUMP",
              errno: code,
              operation: `rtnetlink ${run.phase} dump`,
            }),
          );
        }
        return;
      }
      case NLMSG_DONE:
        if (run.interrupted) {
          this.restartPhase(run);
          return;
        }
        if (run.phase === "links") {
          run.phase = "addresses";
          this.sendPhase(run);
          return;
        }
        this.finishDump(run);
        return;
      default:
        return;
    }
  }

  private restartPhase(run: DumpRun): void {
    if (++run.restarts > MAX_DUMP_RESTARTS) {
      this.failDump(run, new Error(`rtnetlink ${run.phase} dump interrupted ${MAX_DUMP_RESTARTS} times`));
      return;
    }
    this.sendPhase(run);
  }

  private finishDump(run: DumpRun): void {
    clearTimeout(run.timer);
    this.current = null;
    const dump: LinkDump = { links: run.links, addresses: run.addresses };
    if (this.resyncPending) {
      this.resyncPending = false;
      this.held.unshift(...this.syntheticState(dump));
    } else {
      this.links.clear();
      this.addrs.clear();
      for (const l of dump.links) this.links.set(l.ifindex, l);
      for (const a of dump.addresses) this.addrs.set(addrKey(a), a);
    }
    run.resolve(dump);
    this.scheduleFlush();
  }

  /** Events that take the listeners from what they were told to `dump`. */
  private syntheticState(dump: LinkDump): LinkEvent[] {
    const events: LinkEvent[] = [];
    const liveLinks = new Set(dump.links.map((l) => l.ifindex));
    const liveAddrs = new Set(dump.addresses.map(addrKey));
    for (const [key, addr] of this.addrs) if (!liveAddrs.has(key)) events.push({ type: "deladdr", addr });
    for (const [ifindex, link] of this.links) if (!liveLinks.has(ifindex)) events.push({ type: "dellink", link });
    for (const link of dump.links) events.push({ type: "newlink", link });
    for (const addr of dump.addresses) events.push({ type: "newaddr", addr });
    return events;
  }

  // --- receiving -------------------------------------------------------------------

  private drain(): void {
    while (!this.closed) {
      let r: ReturnType<NetlinkSyscalls["recvmsg"]>;
      try {
        r = this.sys.recvmsg(this.fd, this.recvBuf);
      } catch (err) {
        if ((err as { code?: string }).code === "ENOBUFS") {
          this.overrun();
          continue;
        }
        if ((err as { code?: string }).code === "EINTR") continue;
        throw KernelError.from(err, "reading rtnetlink notifications");
      }
      if (r === null) return;
      if (r.truncated) {
        this.overrun();
        continue;
      }
      this.onDatagram(this.recvBuf.subarray(0, r.bytes));
    }
  }

  /** Handles one received datagram: dump answers, overrun notice, notifications. */
  private onDatagram(buf: Uint8Array): void {
    for (const m of parseMessages(buf).messages) {
      const run = this.current;
      if (run && m.header.seq === run.seq && m.header.pid === this.portId) {
        this.onDumpMessage(run, m);
        continue;
      }
      if (m.header.type === NLMSG_OVERRUN) {
        this.overrun();
        continue;
      }
      const ev = decodeEvent(m);
      if (ev) this.queue(ev);
    }
  }

  /** Notifications were lost: dump again and report a synthetic full state. */
  private overrun(): void {
    this.overruns++;
    this.resyncPending = true;
    // Whatever was held is superseded by the synthetic state computed from the new dump.
    this.held = [];
    const run = this.current;
    if (run) {
      // The running dump may have lost answers too: start it over.
      run.phase = "links";
      run.restarts = 0;
      this.sendPhase(run);
    } else {
      this.startDump().promise.catch(() => undefined);
    }
  }

  // --- delivery --------------------------------------------------------------------

  private queue(ev: LinkEvent): void {
    this.held.push(ev);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.current !== null || this.held.length === 0) return;
    this.flushScheduled = true;
    // setImmediate: after the microtasks of a resolved dump() (the awaiting code loads
    // the dump first), then the held notifications.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.current !== null || this.closed) return;
      const events = this.held;
      this.held = [];
      for (const ev of events) this.emit(ev);
    });
  }

  private emit(ev: LinkEvent): void {
    switch (ev.type) {
      case "newlink":
        this.links.set(ev.link.ifindex, ev.link);
        break;
      case "dellink":
        this.links.delete(ev.link.ifindex);
        for (const [k, a] of this.addrs) if (a.ifindex === ev.link.ifindex) this.addrs.delete(k);
        break;
      case "newaddr":
        this.addrs.set(addrKey(ev.addr), ev.addr);
        break;
      case "deladdr":
        this.addrs.delete(addrKey(ev.addr));
        break;
    }
    for (const cb of this.listeners) {
      try {
        cb(ev);
      } catch (err) {
        // A failing listener must not stop the watcher.
        this.report(err);
      }
    }
  }
}

/** ifinfomsg family AF_UNSPEC: real links. AF_BRIDGE (7) messages describe bridge ports. */
function isLinkFamily(m: NlMessage): boolean {
  return m.payload.length > 0 && m.payload[0] === AF_UNSPEC;
}

/** Decodes a notification into an event; null for anything else. */
export function decodeEvent(m: NlMessage): LinkEvent | null {
  switch (m.header.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      const link = isLinkFamily(m) ? decodeIfinfomsg(m.payload) : null;
      if (!link) return null;
      return m.header.type === RTM_NEWLINK ? { type: "newlink", link } : { type: "dellink", link };
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const addr = decodeIfaddrmsg(m.payload);
      if (!addr) return null;
      return m.header.type === RTM_NEWADDR ? { type: "newaddr", addr } : { type: "deladdr", addr };
    }
    default:
      return null;
  }
}

function wrap<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw KernelError.from(err, operation);
  }
}

function closedError(): KernelError {
  return new KernelError("rtnetlink watcher is closed", { code: "EBADF", operation: "rtnetlink" });
}
