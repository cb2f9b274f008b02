/**
 * The multicast routing socket of one address family: opening it (which makes this process
 * the kernel's multicast router for one routing table), the router-side IGMP/MLD packet I/O
 * (reports and upcalls in, queries out) and closing it. The VIF/MIF table and the MFC on
 * the same socket live in mroute-table.ts, the report-group memberships in report-groups.ts.
 * Kernel facts: docs/kernel.md "Multicast routing socket (IPv4)", "... (IPv6)", "Receiving
 * reports" and "Sending queries".
 *
 * One socket per family and routing table:
 *  - IPv4: raw `AF_INET/SOCK_RAW/IPPROTO_IGMP`; MRT_TABLE (if any) then MRT_INIT.
 *  - IPv6: raw `AF_INET6/SOCK_RAW/IPPROTO_ICMPV6`; MRT6_TABLE then MRT6_INIT.
 * MRT_TABLE must come first: MRT_INIT binds the socket to the table selected at that moment,
 * and the kernel refuses MRT_TABLE on a socket that is already the table's router.
 *
 * Decisions (documented here because callers depend on them):
 *  - Queries are sent with IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP off: the router's own
 *    host stack does not process the router's own queries, and the socket does not receive
 *    them back. The kernel's own reports (for groups the router itself joined, including
 *    the report groups) still reach this socket: the daemon ignores packets whose source is
 *    one of its own addresses.
 *  - Packets arrive from EVERY interface, the upstream included: callers filter on
 *    `ReceivedPacket.ifindex`. Queries of other queriers to 224.0.0.1 / ff02::1 arrive
 *    without a join (the kernel is always a member of all-hosts / all-nodes and
 *    IP_MULTICAST_ALL is left on); v1/v2 reports to the group address reach the socket
 *    through the Router Alert / IGMP delivery path of a multicast router.
 *  - IPv6: ICMP6_FILTER passes only MLD (130 query, 131 v1 report, 132 done, 143 v2
 *    report); upcalls are not ICMPv6 and pass regardless.
 *  - Errors have an owner: `onError` (required at open) receives every failure that
 *    happens outside a caller's call stack. Nothing is ever thrown out of the poll
 *    callback: the addon turns such a throw into an uncaught exception, which would end
 *    the daemon. A poll failure (`isPollFailure`) means the socket no longer delivers
 *    anything (libuv stops the watcher); a recvmsg error or an exception while
 *    dispatching one datagram (a listener that throws, a parser bug) concerns that
 *    datagram only and reading goes on.
 *  - Closing (MRT_DONE, then close) makes the kernel flush the table's VIFs/MIFs and MFC
 *    entries this socket added (they are not "static": only entries added through another
 *    socket are), and closing drops the socket's group memberships.
 */
import type { Address, IpFamily } from "../wire/types.js";
import type { RecvResult } from "./addon.js";
import { KernelError, kernelCall, POLL_FAILURE_OPERATION } from "./errors.js";
import {
  hopOptsHaveRouterAlert,
  ICMP6_FILTER,
  IGMPMSG_NOCACHE,
  IGMPMSG_WHOLEPKT,
  IGMPMSG_WRONGVIF,
  IGMPMSG_WRVIFWHOLE,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_OPTIONS,
  IP_PKTINFO,
  IP_RECVTTL,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV4_ROUTER_ALERT_OPTION,
  IPV6_HOPOPTS,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_LOOP,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVHOPOPTS,
  IPV6_RECVPKTINFO,
  IPV6_ROUTER_ALERT_HOPOPTS,
  MRT_ASSERT,
  MRT_DONE,
  MRT_INIT,
  MRT_TABLE,
  MRT6_DONE,
  MRT6_INIT,
  MRT6_TABLE,
  MRT6MSG_NOCACHE,
  MRT6MSG_WHOLEPKT,
  MRT6MSG_WRONGMIF,
  packIcmp6FilterPassOnly,
  parseIgmpmsg,
  parseIpv4Datagram,
  parseMrt6msg,
  SOCK_RAW,
} from "./structs/mroute.js";
import {
  AF_INET,
  AF_INET6,
  addressBytes,
  addressFromBytes,
  parseSockaddr,
  sockaddrFor,
} from "./structs/sockaddr.js";
import { realSyscalls, type Syscalls, sizeReceiveBuffer } from "./syscalls.js";

/** An IGMP or MLD message received on the mroute socket. */
export interface ReceivedPacket {
  /** Ingress interface (IP_PKTINFO / IPV6_PKTINFO). */
  ifindex: number;
  /** IP source address ("::" while the sender's link-local address is tentative). */
  source: Address;
  /** IP destination address (224.0.0.22, ff02::16, a group address, ...). */
  destination: Address;
  /** IPv4 TTL / IPv6 hop limit as received (-1 if the kernel did not say). */
  ttl: number;
  /** IPv4 Router Alert option (RFC 2113) / IPv6 hop-by-hop Router Alert (RFC 2711). */
  routerAlert: boolean;
  /** The IGMP message without IP header / the ICMPv6 message (a copy, safe to keep). */
  payload: Uint8Array;
}

/** A kernel upcall about multicast data (no RFC: the kernel's igmpmsg / mrt6msg). */
export type Upcall = {
  /** nocache: no MFC entry for (S,G); wrongvif: arrived on a VIF other than the parent. */
  type: "nocache" | "wrongvif" | "wholepkt";
  /** VIF / MIF the data arrived on. */
  vif: number;
  source: Address;
  group: Address;
};

export interface MrouteOpenOptions {
  /** Multicast routing table id (MRT_TABLE / MRT6_TABLE); null = the default table. */
  table: number | null;
  /**
   * Owner of every error that happens on the event loop rather than in a caller's call:
   * poll failures (`isPollFailure`, the socket is dead), recvmsg errors and exceptions
   * thrown while dispatching a datagram (both survivable). Required: such errors must
   * never be thrown, and never be lost.
   */
  onError: (e: KernelError) => void;
  /** Requested socket receive buffer in bytes (default RECEIVE_BUFFER_BYTES). */
  receiveBuffer?: number;
  /** System calls (a fake in unit tests); the native addon by default. */
  syscalls?: Syscalls;
}

/**
 * Receive buffer requested for the mroute socket. A burst of reports (10,000 hosts answering
 * a general query, or a flood of joins after an outage) arrives faster than the daemon
 * parses it; with the kernel default (net.core.rmem_default, 208 KiB, about 200 small
 * datagrams on a veth) the raw socket drops the rest (/proc/net/raw "drops") and those
 * groups are only learned at the next query, 125 s later. A small report costs 832 bytes of
 * skb truesize on a veth (measured, IGMPv3 and MLDv2 alike); 8 MiB, doubled by the kernel to
 * 16 MiB, holds about 20,000 of them even if the daemon read none during the burst. It is a
 * cap, not an allocation: memory is charged only while datagrams wait.
 */
export const RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

export { isPollFailure, POLL_FAILURE_OPERATION } from "./errors.js";

/**
 * What mroute-table.ts and report-groups.ts need of the socket: its family, its fd (-1
 * once closed) and the system calls to use on it.
 */
export interface MrouteFd {
  readonly family: IpFamily;
  readonly fd: number;
  readonly syscalls: Syscalls;
}

/** The socket's fd for `operation`, or a KernelError (EBADF) once it is closed. */
export function openFd(sock: MrouteFd, operation: string): number {
  if (sock.fd < 0) {
    throw new KernelError(`${operation}: the ${sock.family} multicast routing socket is closed`, {
      code: "EBADF",
      operation,
    });
  }
  return sock.fd;
}

/** "dn1 (ifindex 4)", or "ifindex 4" for an interface that no longer exists. */
export function describeIfindex(sys: Pick<Syscalls, "ifIndexToName">, ifindex: number): string {
  const name = sys.ifIndexToName(ifindex);
  return name === null ? `ifindex ${ifindex}` : `${name} (ifindex ${ifindex})`;
}

/** MLD message types passed by the ICMPv6 filter (RFC 2710 §3, RFC 9777 §5). */
const MLD_TYPES = [130, 131, 132, 143] as const;
/** Maximum datagrams read per readiness callback (the poll fires again if more remain). */
const READ_BATCH = 256;

export class MrouteSocket implements MrouteFd {
  readonly family: IpFamily;
  readonly table: number | null;
  readonly syscalls: Syscalls;
  private sockFd: number;
  private readonly onError: (e: KernelError) => void;
  private readonly upcallListeners: Array<(u: Upcall) => void> = [];
  private readonly packetListeners: Array<(p: ReceivedPacket) => void> = [];
  private readonly rx = Buffer.alloc(65536);

  private constructor(family: IpFamily, opts: MrouteOpenOptions, sys: Syscalls, fd: number) {
    this.family = family;
    this.table = opts.table;
    this.syscalls = sys;
    this.sockFd = fd;
    this.onError = opts.onError;
  }

  /** The socket's file descriptor; -1 after `close()`. */
  get fd(): number {
    return this.sockFd;
  }

  /**
   * Opens the family's mroute socket: raw socket, MRT_TABLE (when `table` is set, before
   * MRT_INIT), MRT_INIT, receive options, receive buffer, then starts listening for reports
   * and upcalls. On failure the socket is closed again and a KernelError explains why.
   */
  static open(family: IpFamily, opts: MrouteOpenOptions): MrouteSocket {
    const sys = opts.syscalls ?? realSyscalls;
    const v4 = family === "ipv4";
    const tableText =
      opts.table === null ? "the default multicast routing table" : `multicast routing table ${opts.table}`;
    const fd = kernelCall(`opening the ${family} multicast routing socket`, () =>
      sys.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, v4 ? IPPROTO_IGMP : IPPROTO_ICMPV6),
    );
    const level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
    try {
      if (opts.table !== null) {
        const table = opts.table;
        kernelCall(
          `selecting ${tableText} (${v4 ? "MRT_TABLE" : "MRT6_TABLE"})`,
          () => sys.setsockopt(fd, level, v4 ? MRT_TABLE : MRT6_TABLE, table),
          (code) =>
            code === "ENOPROTOOPT"
              ? `cannot use ${tableText}: this kernel has no multiple multicast routing tables ` +
                `(CONFIG_IP${v4 ? "" : "V6"}_MROUTE_MULTIPLE_TABLES) (ENOPROTOOPT)`
              : undefined,
        );
      }
      kernelCall(
        `starting ${family} multicast routing (${v4 ? "MRT_INIT" : "MRT6_INIT"})`,
        () => sys.setsockopt(fd, level, v4 ? MRT_INIT : MRT6_INIT, 1),
        (code) => {
          if (code === "EADDRINUSE") {
            return (
              `${tableText} (${family}) is already in use by another multicast router ` +
              "(mrouted, igmpproxy, another improxy?) (EADDRINUSE)"
            );
          }
          if (code === "EACCES" || code === "EPERM")
            return `${family} multicast routing needs CAP_NET_ADMIN (${code})`;
          if (code === "ENOPROTOOPT") {
            return `this kernel has no ${family} multicast routing (CONFIG_IP${v4 ? "" : "V6"}_MROUTE) (ENOPROTOOPT)`;
          }
          return undefined;
        },
      );
      const set = (what: string, lvl: number, name: number, value: Uint8Array | number) =>
        kernelCall(`configuring the ${family} multicast routing socket (${what})`, () =>
          sys.setsockopt(fd, lvl, name, value),
        );
      if (v4) {
        // WRONGVIF upcalls for packets that arrive on one of their entry's outgoing links (a
        // source that moved there); rate-limited per entry (3 s). IPv4 only: IPv6 also
        // reports our own forwarded packets, looped back on an outgoing link where the host
        // stack is a member (the upstream with down-to-up), as WRONGMIF; there the idle
        // check catches moved sources instead.
        set("MRT_ASSERT", level, MRT_ASSERT, 1);
        set("IP_PKTINFO", level, IP_PKTINFO, 1);
        set("IP_RECVTTL", level, IP_RECVTTL, 1);
        // RFC 9776 §4: queries carry TTL 1 and the Router Alert option.
        set("IP_MULTICAST_TTL", level, IP_MULTICAST_TTL, 1);
        set("IP_MULTICAST_LOOP", level, IP_MULTICAST_LOOP, 0);
        set("IP_OPTIONS", level, IP_OPTIONS, IPV4_ROUTER_ALERT_OPTION);
      } else {
        set("IPV6_RECVPKTINFO", level, IPV6_RECVPKTINFO, 1);
        set("IPV6_RECVHOPLIMIT", level, IPV6_RECVHOPLIMIT, 1);
        set("IPV6_RECVHOPOPTS", level, IPV6_RECVHOPOPTS, 1);
        // RFC 9777 §5: hop limit 1 and a hop-by-hop Router Alert on every MLD message.
        set("IPV6_MULTICAST_HOPS", level, IPV6_MULTICAST_HOPS, 1);
        set("IPV6_MULTICAST_LOOP", level, IPV6_MULTICAST_LOOP, 0);
        set("IPV6_HOPOPTS", level, IPV6_HOPOPTS, IPV6_ROUTER_ALERT_HOPOPTS);
        set("ICMP6_FILTER", IPPROTO_ICMPV6, ICMP6_FILTER, packIcmp6FilterPassOnly(MLD_TYPES));
      }
      sizeReceiveBuffer(sys, fd, opts.receiveBuffer ?? RECEIVE_BUFFER_BYTES, `the ${family} multicast routing socket`);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    const sock = new MrouteSocket(family, opts, sys, fd);
    sys.pollStart(fd, (readable) => sock.onReadable(readable));
    return sock;
  }

  private get v4(): boolean {
    return this.family === "ipv4";
  }

  // ---------------------------------------------------------- receiving

  /** Registers a listener for kernel upcalls (NOCACHE, WRONGVIF, WHOLEPKT). */
  onUpcall(cb: (u: Upcall) => void): void {
    this.upcallListeners.push(cb);
  }

  /** Registers a listener for received IGMP / MLD messages. */
  onPacket(cb: (p: ReceivedPacket) => void): void {
    this.packetListeners.push(cb);
  }

  /** The poll callback. Never throws (module comment): every failure goes to `onError`. */
  private onReadable(readable: boolean): void {
    if (this.sockFd < 0) return;
    if (!readable) {
      this.report(
        new KernelError(`polling the ${this.family} multicast routing socket failed`, {
          code: "EIO",
          operation: POLL_FAILURE_OPERATION,
        }),
      );
      return;
    }
    for (let i = 0; i < READ_BATCH && this.sockFd >= 0; i++) {
      let r: RecvResult | null;
      try {
        r = this.syscalls.recvmsg(this.sockFd, this.rx);
      } catch (err) {
        this.report(KernelError.from(err, `receiving on the ${this.family} multicast routing socket`));
        return;
      }
      if (r === null) return;
      if (r.truncated) continue; // cannot be a valid IGMP/MLD message or upcall of ours
      try {
        this.dispatch(r, this.rx.subarray(0, r.bytes));
      } catch (err) {
        this.report(
          KernelError.from(err, `handling a datagram from the ${this.family} multicast routing socket`),
        );
      }
    }
  }

  /** Hands `e` to the owner; an owner that throws itself only leaves a process warning. */
  private report(e: KernelError): void {
    try {
      this.onError(e);
    } catch (err) {
      process.emitWarning(
        `the error handler of the ${this.family} multicast routing socket threw: ${String(err)} (while reporting: ${e.message})`,
      );
    }
  }

  private dispatch(r: RecvResult, data: Buffer): void {
    if (this.v4) {
      const up = parseIgmpmsg(data);
      if (up !== null) {
        const type = upcallType4(up.msgtype);
        if (type !== null) this.emitUpcall({ type, vif: up.vif, source: up.source, group: up.group });
        return;
      }
      const dg = parseIpv4Datagram(data);
      if (dg === null || dg.protocol !== IPPROTO_IGMP) return;
      this.emitPacket({
        ifindex: r.ifindex,
        source: dg.source,
        destination: r.dst !== null ? addressFromBytes(r.dst) : dg.destination,
        ttl: dg.ttl,
        routerAlert: dg.routerAlert,
        payload: Uint8Array.from(dg.payload),
      });
      return;
    }
    const up = parseMrt6msg(data);
    if (up !== null) {
      const type = upcallType6(up.msgtype);
      if (type !== null) this.emitUpcall({ type, vif: up.mif, source: up.source, group: up.group });
      return;
    }
    if (data.length === 0 || data[0] === 0) return; // a short/odd upcall, not ICMPv6
    const from = parseSockaddr(r.from);
    if (from === null || from.family !== "ipv6" || r.dst === null) return;
    this.emitPacket({
      ifindex: r.ifindex,
      source: from.address,
      destination: addressFromBytes(r.dst),
      ttl: r.ttl,
      routerAlert: r.hopopts !== null && hopOptsHaveRouterAlert(r.hopopts),
      payload: Uint8Array.from(data),
    });
  }

  private emitUpcall(u: Upcall): void {
    for (const cb of this.upcallListeners) cb(u);
  }

  private emitPacket(p: ReceivedPacket): void {
    for (const cb of this.packetListeners) cb(p);
  }

  // ---------------------------------------------------------- queries out

  /**
   * Sends an IGMP / MLD message (a query; `payload` has its checksum for IGMP; the kernel
   * computes the ICMPv6 checksum) out of `ifindex` to `destination`, with TTL / hop limit 1
   * and Router Alert (socket options set at open). `source` picks the IP source address
   * (must be an address of that interface); omitted, the kernel chooses (IPv6: the link-local
   * address, as RFC 9777 §5 requires).
   */
  sendQuery(ifindex: number, payload: Uint8Array, destination: Address, source?: Address): void {
    const operation = `sending a ${this.v4 ? "IGMP" : "MLD"} message to ${destination} on ${describeIfindex(this.syscalls, ifindex)}`;
    const fd = openFd(this, operation);
    const to = sockaddrFor(this.family, destination, this.v4 ? {} : { scopeId: ifindex });
    const ctl =
      source === undefined
        ? { ifindex, hopLimit: 1 }
        : { ifindex, hopLimit: 1, src: addressBytes(this.family, source) };
    const sent = kernelCall(operation, () => this.syscalls.sendmsg(fd, payload, to, ctl));
    if (sent !== payload.length) {
      throw new KernelError(`${operation}: only ${sent} of ${payload.length} bytes sent`, {
        code: "EMSGSIZE",
        operation,
      });
    }
  }

  // ---------------------------------------------------------- shutdown

  /**
   * Stops polling, MRT_DONE / MRT6_DONE, closes. The socket is closed even when MRT_DONE
   * fails; that error is thrown afterwards. Idempotent. The kernel then flushes the VIFs and
   * MFC entries of the table (module comment); MrouteTable.clear() before it removes the
   * VIFs explicitly.
   */
  close(): void {
    if (this.sockFd < 0) return;
    const fd = this.sockFd;
    this.sockFd = -1;
    let failure: KernelError | null = null;
    try {
      this.syscalls.pollStop(fd);
      this.syscalls.setsockopt(fd, this.v4 ? IPPROTO_IP : IPPROTO_IPV6, this.v4 ? MRT_DONE : MRT6_DONE, 0);
    } catch (err) {
      failure = KernelError.from(err, `closing the ${this.family} multicast routing socket`);
    }
    this.syscalls.close(fd);
    if (failure !== null) throw failure;
  }
}


function upcallType4(msgtype: number): Upcall["type"] | null {
  switch (msgtype) {
    case IGMPMSG_NOCACHE:
      return "nocache";
    case IGMPMSG_WRONGVIF:
    case IGMPMSG_WRVIFWHOLE:
      return "wrongvif";
    case IGMPMSG_WHOLEPKT:
      return "wholepkt";
    default:
      return null;
  }
}

function upcallType6(msgtype: number): Upcall["type"] | null {
  switch (msgtype) {
    case MRT6MSG_NOCACHE:
      return "nocache";
    case MRT6MSG_WRONGMIF:
      return "wrongvif";
    case MRT6MSG_WHOLEPKT:
      return "wholepkt";
    default:
      return null;
  }
}
