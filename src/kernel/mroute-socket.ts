/**
 * The multicast routing socket of one address family: opening it (which makes this process
 * the kernel's multicast router for one routing table), the kernel's upcalls in, queries out,
 * and closing it. The VIF/MIF table and the MFC on the same socket live in mroute-table.ts.
 * IGMP / MLD messages are read on each link's report socket (report-socket.ts), except, for
 * IPv4, the few that the kernel hands to this socket alone (igmp-paths.ts). Kernel facts:
 * docs/kernel.md "Multicast routing socket (IPv4)", "... (IPv6)", "Receiving reports" and
 * "Sending queries".
 *
 * One socket per family and routing table:
 *  - IPv4: raw `AF_INET/SOCK_RAW/IPPROTO_IGMP`; MRT_TABLE (if any) then MRT_INIT.
 *  - IPv6: raw `AF_INET6/SOCK_RAW/IPPROTO_ICMPV6`; MRT6_TABLE then MRT6_INIT.
 * MRT_TABLE must come first: MRT_INIT binds the socket to the table selected at that moment,
 * and the kernel refuses MRT_TABLE on a socket that is already the table's router.
 *
 * Decisions (documented here because callers depend on them):
 *  - Upcalls only, as far as the kernel allows: being a raw IGMP / ICMPv6 socket, it would
 *    also get a copy of every IGMP / MLD packet of every interface, in the same queue as the
 *    upcalls. IPv4: a classic BPF filter (igmp-paths.ts) keeps the upcalls and the IGMP
 *    packets that the kernel gives to the mroute socket alone (multicast outside
 *    224.0.0.0/24 without Router Alert: IGMPv1 reports, and IGMPv2 reports of hosts that
 *    omit it), which `onPacket` delivers. IPv6: ICMP6_FILTER blocks every ICMPv6 type;
 *    upcalls are not ICMPv6 and pass. If the kernel refuses the filter (`filterError`), the
 *    copies are read and discarded (counted). Every datagram is checked after reading too
 *    (copies queued before the filter was attached).
 *  - Queries are sent with IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP off: the router's own
 *    host stack does not process the router's own queries, and no socket receives them back.
 *  - Packets delivered to `onPacket` may come from any interface: callers filter on
 *    `ReceivedPacket.ifindex`.
 *  - Errors have an owner: `onError` (required at open) receives every failure that
 *    happens outside a caller's call stack (datagram-reader.ts).
 *  - Closing (MRT_DONE, then close) makes the kernel flush the table's VIFs/MIFs and MFC
 *    entries this socket added (they are not "static": only entries added through another
 *    socket are).
 */
import type { Address, IpFamily } from "../wire/types.js";
import type { RecvResult } from "./addon.js";
import { DatagramReader, type ReadLimits, type ReceiveStats, socketDrops } from "./datagram-reader.js";
import { KernelError, kernelCall, kernelErrorOf } from "./errors.js";
import { igmpFilter, igmpPath } from "./igmp-paths.js";
import { decodeIgmp, type ReceivedPacket } from "./received-packet.js";
import { packBpf } from "./structs/bpf.js";
import {
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
  parseMrt6msg,
  SOCK_RAW,
} from "./structs/mroute.js";
import { AF_INET, AF_INET6, addressBytes, sockaddrFor } from "./structs/sockaddr.js";
import { realSyscalls, type Syscalls, sizeReceiveBuffer } from "./syscalls.js";

export type { ReceivedPacket } from "./received-packet.js";

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
  /** How much one readiness callback reads (datagram-reader.ts defaults). */
  reading?: ReadLimits;
  /** System calls (a fake in unit tests); the native addon by default. */
  syscalls?: Syscalls;
}

/**
 * Receive buffer requested for the mroute socket and each report socket. A burst of reports (10,000 hosts answering
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
 * What mroute-table.ts needs of the socket: its family, its fd (-1 once closed) and the
 * system calls to use on it.
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

export class MrouteSocket implements MrouteFd {
  readonly family: IpFamily;
  readonly table: number | null;
  readonly syscalls: Syscalls;
  /** Why the kernel refused the upcalls-only filter (copies are then discarded after reading); null: attached. */
  readonly filterError: KernelError | null;
  private sockFd: number;
  private discarded = 0;
  private readonly reader: DatagramReader;
  private readonly upcallListeners: Array<(u: Upcall) => void> = [];
  private readonly packetListeners: Array<(p: ReceivedPacket) => void> = [];

  private constructor(
    family: IpFamily,
    opts: MrouteOpenOptions,
    sys: Syscalls,
    fd: number,
    filterError: KernelError | null,
  ) {
    this.family = family;
    this.table = opts.table;
    this.syscalls = sys;
    this.sockFd = fd;
    this.filterError = filterError;
    this.reader = new DatagramReader({
      syscalls: sys,
      fd,
      name: `the ${family} multicast routing socket`,
      onError: opts.onError,
      onDatagram: (r, data) => this.dispatch(r, data),
      ...opts.reading,
    });
  }

  /** The socket's file descriptor; -1 after `close()`. */
  get fd(): number {
    return this.sockFd;
  }

  /**
   * Opens the family's mroute socket: raw socket, MRT_TABLE (when `table` is set, before
   * MRT_INIT), MRT_INIT, options, the upcalls-only filter, receive buffer, then starts
   * listening for upcalls. On failure the socket is closed again and a KernelError explains
   * why; a refused filter is no failure (`filterError`).
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
    let filterError: KernelError | null = null;
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
        // For the IGMP packets this socket alone receives (igmp-paths.ts, "mroute").
        set("IP_PKTINFO", level, IP_PKTINFO, 1);
        set("IP_RECVTTL", level, IP_RECVTTL, 1);
        // RFC 9776 §4: queries carry TTL 1 and the Router Alert option.
        set("IP_MULTICAST_TTL", level, IP_MULTICAST_TTL, 1);
        set("IP_MULTICAST_LOOP", level, IP_MULTICAST_LOOP, 0);
        set("IP_OPTIONS", level, IP_OPTIONS, IPV4_ROUTER_ALERT_OPTION);
        filterError = kernelErrorOf(`filtering the ${family} multicast routing socket (SO_ATTACH_FILTER)`, () =>
          sys.attachFilter(fd, packBpf(igmpFilter("mroute"))),
        );
      } else {
        // RFC 9777 §5: hop limit 1 and a hop-by-hop Router Alert on every MLD message.
        set("IPV6_MULTICAST_HOPS", level, IPV6_MULTICAST_HOPS, 1);
        set("IPV6_MULTICAST_LOOP", level, IPV6_MULTICAST_LOOP, 0);
        set("IPV6_HOPOPTS", level, IPV6_HOPOPTS, IPV6_ROUTER_ALERT_HOPOPTS);
        // Every ICMPv6 type blocked: MLD is read on the report sockets; upcalls still pass.
        filterError = kernelErrorOf(`filtering the ${family} multicast routing socket (ICMP6_FILTER)`, () =>
          sys.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, packIcmp6FilterPassOnly([])),
        );
      }
      sizeReceiveBuffer(sys, fd, opts.receiveBuffer ?? RECEIVE_BUFFER_BYTES, `the ${family} multicast routing socket`);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    const sock = new MrouteSocket(family, opts, sys, fd, filterError);
    sock.reader.start();
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

  /** Registers a listener for the IGMP messages this socket alone receives (IPv4; module comment). */
  onPacket(cb: (p: ReceivedPacket) => void): void {
    this.packetListeners.push(cb);
  }

  /** Filter, discarded copies and the kernel's drops (one getsockopt: not for the packet path). */
  stats(): ReceiveStats {
    return {
      filter: this.filterError === null ? "kernel" : "software",
      discarded: this.discarded,
      drops: socketDrops(this.syscalls, this.sockFd),
      truncated: this.reader.truncated,
    };
  }

  private dispatch(r: RecvResult, data: Buffer): void {
    if (this.v4) {
      const path = igmpPath(data);
      if (path === "upcall") {
        const up = parseIgmpmsg(data);
        const type = up === null ? null : upcallType4(up.msgtype);
        if (up !== null && type !== null) this.emitUpcall({ type, vif: up.vif, source: up.source, group: up.group });
        return;
      }
      const p = path === "mroute" ? decodeIgmp(r, data) : null;
      if (p === null) {
        this.discarded++;
        return;
      }
      for (const cb of this.packetListeners) cb(p);
      return;
    }
    const up = parseMrt6msg(data);
    if (up === null) {
      this.discarded++; // an ICMPv6 copy (byte 0 is its non-zero type) or a short upcall
      return;
    }
    const type = upcallType6(up.msgtype);
    if (type !== null) this.emitUpcall({ type, vif: up.mif, source: up.source, group: up.group });
  }

  private emitUpcall(u: Upcall): void {
    for (const cb of this.upcallListeners) cb(u);
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
      this.reader.stop();
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
