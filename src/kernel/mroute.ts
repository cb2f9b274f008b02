/**
 * The multicast routing socket of one address family: the kernel's forwarding plane (VIFs /
 * MIFs and the MFC), its upcalls, and the router-side IGMP/MLD packet I/O (reports in,
 * queries out). KERNEL.md "IPv4" and "IPv6" describe the kernel facts relied on here.
 *
 * One socket per family and routing table:
 *  - IPv4: raw `AF_INET/SOCK_RAW/IPPROTO_IGMP`; MRT_TABLE (if any) then MRT_INIT.
 *  - IPv6: raw `AF_INET6/SOCK_RAW/IPPROTO_ICMPV6`; MRT6_TABLE then MRT6_INIT.
 *
 * Decisions (documented here because callers depend on them):
 *  - `addVif(ifindex)` for an ifindex that already has a VIF returns the existing index
 *    (the kernel would accept a second VIF for the same interface; that is never wanted).
 *  - Queries are sent with IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP off: the router's own
 *    host stack does not process the router's own queries, and the socket does not receive
 *    them back. The kernel's own reports (for groups the router itself joined, including
 *    224.0.0.22 joined here) still reach this socket: the daemon ignores packets whose
 *    source is one of its own addresses.
 *  - `joinReportGroups(ifindex)` joins exactly what RFC 9776/9777 routers must hear beyond
 *    what reaches a raw socket anyway: 224.0.0.22 (IGMPv3 reports) and 224.0.0.2 (IGMPv2
 *    leaves) / ff02::16 (MLDv2 reports) and ff02::2 (MLDv1 Done). Queries of other
 *    queriers to 224.0.0.1 / ff02::1 arrive without a join (the kernel is always a member
 *    of all-hosts / all-nodes and IP_MULTICAST_ALL is left on); v1/v2 reports to the group
 *    address reach the mroute socket through the Router Alert chain / IGMP path of
 *    ip_mr_input. Packets arrive from EVERY interface, the upstream included: callers
 *    filter on `ReceivedPacket.ifindex`.
 *  - IPv6: ICMP6_FILTER passes only MLD (130 query, 131 v1 report, 132 done, 143 v2
 *    report); upcalls are not ICMPv6 and pass regardless.
 */
import type { Address, IpFamily } from "../wire/types.js";
import { netio, type RecvResult } from "./addon.js";
import { KernelError, kernelCall } from "./errors.js";
import {
  hopOptsHaveRouterAlert,
  ICMP6_FILTER,
  IGMPMSG_NOCACHE,
  IGMPMSG_WHOLEPKT,
  IGMPMSG_WRONGVIF,
  IGMPMSG_WRVIFWHOLE,
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
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
  IPV6_ADD_MEMBERSHIP,
  IPV6_DROP_MEMBERSHIP,
  IPV6_HOPOPTS,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_LOOP,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVHOPOPTS,
  IPV6_RECVPKTINFO,
  IPV6_ROUTER_ALERT_HOPOPTS,
  MAXVIFS,
  MRT_ADD_MFC,
  MRT_ADD_VIF,
  MRT_DEL_MFC,
  MRT_DEL_VIF,
  MRT_DONE,
  MRT_ASSERT,
  MRT_INIT,
  MRT_TABLE,
  MRT6_ADD_MFC,
  MRT6_ADD_MIF,
  MRT6_DEL_MFC,
  MRT6_DEL_MIF,
  MRT6_DONE,
  MRT6_INIT,
  MRT6_TABLE,
  MRT6MSG_NOCACHE,
  MRT6MSG_WHOLEPKT,
  MRT6MSG_WRONGMIF,
  packIcmp6FilterPassOnly,
  packMembershipRequest,
  packMf6cctl,
  packMfcctl,
  packMif6ctl,
  packMifi,
  packSiocSgReq,
  packSiocSgReq6,
  packSiocVifReq,
  packVifctl,
  parseIgmpmsg,
  parseIpv4Datagram,
  parseMrt6msg,
  parseSiocSgReq,
  parseSiocSgReq6,
  parseSiocVifReq,
  type SgCounters,
  SIOCGETSGCNT,
  SIOCGETVIFCNT,
  type VifCounters,
  SOCK_DGRAM,
  SOCK_RAW,
} from "./structs/mroute.js";
import { SO_RCVBUF, SO_RCVBUFFORCE, SOL_SOCKET } from "./structs/netlink.js";
import {
  AF_INET,
  AF_INET6,
  addressBytes,
  addressFromBytes,
  parseSockaddr,
  sockaddrFor,
} from "./structs/sockaddr.js";

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

/** A kernel upcall about multicast data (RFC-less: linux/mroute.h igmpmsg / mrt6msg). */
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
  /** Requested socket receive buffer in bytes (default RECEIVE_BUFFER_BYTES). */
  receiveBuffer?: number;
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

/** MLD message types passed by the ICMPv6 filter (RFC 2710 §3, RFC 9777 §5). */
const MLD_TYPES = [130, 131, 132, 143] as const;
/** Report groups a router joins on each downstream interface (see module comment). */
const REPORT_GROUPS: Record<IpFamily, readonly Address[]> = {
  ipv4: ["224.0.0.22", "224.0.0.2"],
  ipv6: ["ff02::16", "ff02::2"],
};
/** Maximum datagrams read per readiness callback (the poll fires again if more remain). */
const READ_BATCH = 256;

interface MfcEntry {
  parent: number;
  out: number[];
}

export class MrouteSocket {
  readonly family: IpFamily;
  readonly table: number | null;
  private fd: number;
  private readonly vifByIfindex = new Map<number, number>();
  private readonly mfc = new Map<string, MfcEntry>();
  /** "ifindex|group" -> fd of the socket holding that report-group membership. */
  private readonly joined = new Map<string, number>();
  /** Sockets holding report-group memberships: the mroute socket first, then helpers. */
  private readonly memberSockets: Array<{ fd: number; full: boolean; helper: boolean }>;
  private readonly upcallListeners: Array<(u: Upcall) => void> = [];
  private readonly packetListeners: Array<(p: ReceivedPacket) => void> = [];
  private readonly errorListeners: Array<(e: KernelError) => void> = [];
  private readonly rx = Buffer.alloc(65536);
  private readonly level: number;

  private constructor(family: IpFamily, table: number | null, fd: number) {
    this.family = family;
    this.table = table;
    this.fd = fd;
    this.level = family === "ipv4" ? IPPROTO_IP : IPPROTO_IPV6;
    this.memberSockets = [{ fd, full: false, helper: false }];
  }

  /**
   * Opens the family's mroute socket: raw socket, MRT_TABLE (when `table` is set, before
   * MRT_INIT), MRT_INIT, receive options, then starts listening for reports and upcalls.
   */
  static open(family: IpFamily, opts: MrouteOpenOptions): MrouteSocket {
    const v4 = family === "ipv4";
    const tableText =
      opts.table === null ? "the default multicast routing table" : `multicast routing table ${opts.table}`;
    const fd = kernelCall(`opening the ${family} multicast routing socket`, () =>
      netio.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, v4 ? IPPROTO_IGMP : IPPROTO_ICMPV6),
    );
    const level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
    try {
      if (opts.table !== null) {
        const table = opts.table;
        kernelCall(
          `selecting ${tableText} (${v4 ? "MRT_TABLE" : "MRT6_TABLE"})`,
          () => netio.setsockopt(fd, level, v4 ? MRT_TABLE : MRT6_TABLE, table),
          (code) =>
            code === "ENOPROTOOPT"
              ? `cannot use ${tableText}: this kernel has no multiple multicast routing tables ` +
                `(CONFIG_IP${v4 ? "" : "V6"}_MROUTE_MULTIPLE_TABLES) (ENOPROTOOPT)`
              : undefined,
        );
      }
      kernelCall(
        `starting ${family} multicast routing (${v4 ? "MRT_INIT" : "MRT6_INIT"})`,
        () => netio.setsockopt(fd, level, v4 ? MRT_INIT : MRT6_INIT, 1),
        (code) => {
          if (code === "EADDRINUSE") {
            const t =
              opts.table === null
                ? "the default multicast routing table"
                : `multicast routing table ${opts.table}`;
            return (
              `${t} (${family}) is already in use by another multicast router ` +
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
          netio.setsockopt(fd, lvl, name, value),
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
      sizeReceiveBuffer(fd, opts.receiveBuffer ?? RECEIVE_BUFFER_BYTES);
    } catch (err) {
      netio.close(fd);
      throw err;
    }
    const sock = new MrouteSocket(family, opts.table, fd);
    netio.pollStart(fd, (readable) => sock.onReadable(readable));
    return sock;
  }

  /**
   * The socket's receive buffer as the kernel holds it (SO_RCVBUF read back: twice the
   * requested size, capped by net.core.rmem_max unless SO_RCVBUFFORCE was allowed).
   */
  receiveBufferBytes(): number {
    const fd = this.ensureOpen("reading the receive buffer size");
    const b = Buffer.alloc(4);
    netio.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, b);
    return b.readInt32LE(0);
  }

  private get v4(): boolean {
    return this.family === "ipv4";
  }

  private get vifWord(): string {
    return this.v4 ? "VIF" : "MIF";
  }

  private ensureOpen(operation: string): number {
    if (this.fd < 0) {
      throw new KernelError(`${operation}: the ${this.family} multicast routing socket is closed`, {
        code: "EBADF",
        operation,
      });
    }
    return this.fd;
  }

  private ifText(ifindex: number): string {
    const name = netio.ifIndexToName(ifindex);
    return name === null ? `ifindex ${ifindex}` : `${name} (ifindex ${ifindex})`;
  }

  // ------------------------------------------------------------ VIFs / MIFs

  /**
   * Adds a VIF (IPv4) / MIF (IPv6) for `ifindex` and returns its index (0..31), the lowest
   * free one. An ifindex that already has one returns the existing index.
   */
  addVif(ifindex: number): number {
    const existing = this.vifByIfindex.get(ifindex);
    if (existing !== undefined) return existing;
    const operation = `adding a multicast ${this.vifWord} for ${this.ifText(ifindex)}`;
    const fd = this.ensureOpen(operation);
    const used = new Set(this.vifByIfindex.values());
    let vif = 0;
    while (used.has(vif)) vif++;
    if (vif >= MAXVIFS) {
      throw new KernelError(
        `${operation}: the kernel allows at most ${MAXVIFS} ${this.vifWord}s per multicast routing table, all in use`,
        { code: "ENFILE", operation },
      );
    }
    if (!this.v4 && ifindex > 0xffff) {
      throw new KernelError(`${operation}: the kernel's mif6ctl holds ifindexes up to 65535 only`, {
        code: "ERANGE",
        operation,
      });
    }
    const explain = (code: string): string | undefined => {
      if (code === "ENFILE") {
        return `${operation}: the kernel allows at most ${MAXVIFS} ${this.vifWord}s per multicast routing table (ENFILE)`;
      }
      if (code === "EADDRNOTAVAIL" || code === "ENODEV") {
        return `${operation}: no such interface, or it cannot do multicast (${code})`;
      }
      if (code === "EADDRINUSE")
        return `${operation}: ${this.vifWord} ${vif} is already in use in the kernel (EADDRINUSE)`;
      return undefined;
    };
    if (this.v4) {
      kernelCall(
        operation,
        () => netio.setsockopt(fd, IPPROTO_IP, MRT_ADD_VIF, packVifctl(vif, ifindex)),
        explain,
      );
    } else {
      kernelCall(
        operation,
        () => netio.setsockopt(fd, IPPROTO_IPV6, MRT6_ADD_MIF, packMif6ctl(vif, ifindex)),
        explain,
      );
    }
    this.vifByIfindex.set(ifindex, vif);
    return vif;
  }

  /**
   * Deletes the VIF/MIF of `ifindex` (no-op if there is none). A VIF the kernel already
   * removed because its link vanished (EADDRNOTAVAIL) is tolerated. MFC entries that used
   * it keep their other VIFs; callers re-plan their forwarding.
   */
  delVif(ifindex: number): void {
    const vif = this.vifByIfindex.get(ifindex);
    if (vif === undefined) return;
    const operation = `removing multicast ${this.vifWord} ${vif} (ifindex ${ifindex})`;
    const fd = this.ensureOpen(operation);
    this.vifByIfindex.delete(ifindex);
    try {
      if (this.v4) netio.setsockopt(fd, IPPROTO_IP, MRT_DEL_VIF, packVifctl(vif, ifindex));
      else netio.setsockopt(fd, IPPROTO_IPV6, MRT6_DEL_MIF, packMifi(vif));
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code !== "EADDRNOTAVAIL" && e.code !== "ENODEV") throw e;
    }
  }

  vifIndex(ifindex: number): number | undefined {
    return this.vifByIfindex.get(ifindex);
  }

  vifs(): Array<{ vif: number; ifindex: number }> {
    return [...this.vifByIfindex].map(([ifindex, vif]) => ({ vif, ifindex })).sort((a, b) => a.vif - b.vif);
  }

  // -------------------------------------------------------------------- MFC

  private static key(source: Address, group: Address): string {
    return `${source}|${group}`;
  }

  /**
   * Adds or replaces the MFC entry (S,G): traffic from `source` to `group` arriving on
   * `parentVif` is forwarded to `outVifs` (the parent is never listed; IPv4 TTL threshold 1).
   * An empty `outVifs` installs a "drop" entry, which also stops further NOCACHE upcalls.
   */
  setMfc(source: Address, group: Address, parentVif: number, outVifs: Iterable<number>): void {
    const operation = `setting forwarding entry (${source}, ${group})`;
    const fd = this.ensureOpen(operation);
    const out = [...new Set(outVifs)].filter((v) => v !== parentVif).sort((a, b) => a - b);
    const explain = (code: string): string | undefined =>
      code === "ENFILE" || code === "EINVAL"
        ? `${operation}: the kernel rejected it (${code}); is ${this.vifWord} ${parentVif} (parent) or one of ${out.join(",")} not configured?`
        : undefined;
    if (this.v4) {
      const req = packMfcctl(source, group, parentVif, out);
      kernelCall(operation, () => netio.setsockopt(fd, IPPROTO_IP, MRT_ADD_MFC, req), explain);
    } else {
      const req = packMf6cctl(source, group, parentVif, out);
      kernelCall(operation, () => netio.setsockopt(fd, IPPROTO_IPV6, MRT6_ADD_MFC, req), explain);
    }
    this.mfc.set(MrouteSocket.key(source, group), { parent: parentVif, out });
  }

  /** Deletes the MFC entry (S,G); an entry the kernel no longer has is tolerated. */
  delMfc(source: Address, group: Address): void {
    const operation = `deleting forwarding entry (${source}, ${group})`;
    const fd = this.ensureOpen(operation);
    const key = MrouteSocket.key(source, group);
    const parent = this.mfc.get(key)?.parent ?? 0;
    this.mfc.delete(key);
    try {
      if (this.v4) netio.setsockopt(fd, IPPROTO_IP, MRT_DEL_MFC, packMfcctl(source, group, parent, []));
      else netio.setsockopt(fd, IPPROTO_IPV6, MRT6_DEL_MFC, packMf6cctl(source, group, parent, []));
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code !== "ENOENT") throw e;
    }
  }

  /** The MFC entries this socket installed (its own bookkeeping, not read from the kernel). */
  mfcEntries(): Array<{ source: Address; group: Address; parentVif: number; outVifs: number[] }> {
    return [...this.mfc].map(([key, e]) => {
      const [source = "", group = ""] = key.split("|");
      return { source, group, parentVif: e.parent, outVifs: [...e.out] };
    });
  }

  /** Packet/byte/wrong-interface counters of (S,G) (SIOCGETSGCNT); null if no such entry. */
  sgCount(source: Address, group: Address): SgCounters | null {
    const operation = `reading counters of (${source}, ${group})`;
    const fd = this.ensureOpen(operation);
    const req = this.v4 ? packSiocSgReq(source, group) : packSiocSgReq6(source, group);
    try {
      netio.ioctl(fd, SIOCGETSGCNT, req);
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code === "EADDRNOTAVAIL" || e.code === "ENOENT") return null;
      throw e;
    }
    return this.v4 ? parseSiocSgReq(req) : parseSiocSgReq6(req);
  }

  /**
   * Packet/byte counters of a VIF / MIF (SIOCGETVIFCNT; SIOCGETMIFCNT_IN6 has the same
   * number and layout); null if the VIF does not exist. Read-only (status and metrics).
   */
  vifCount(vif: number): VifCounters | null {
    const operation = `reading counters of VIF ${vif}`;
    const fd = this.ensureOpen(operation);
    const req = packSiocVifReq(vif);
    try {
      netio.ioctl(fd, SIOCGETVIFCNT, req);
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code === "EADDRNOTAVAIL" || e.code === "ENOENT" || e.code === "EINVAL") return null;
      throw e;
    }
    return parseSiocVifReq(req);
  }

  // ---------------------------------------------------------- events

  /** Registers a listener for kernel upcalls (NOCACHE, WRONGVIF, WHOLEPKT). */
  onUpcall(cb: (u: Upcall) => void): void {
    this.upcallListeners.push(cb);
  }

  /** Registers a listener for received IGMP / MLD messages. */
  onPacket(cb: (p: ReceivedPacket) => void): void {
    this.packetListeners.push(cb);
  }

  /** Registers a listener for receive errors; without one, they are thrown (uncaught). */
  onError(cb: (e: KernelError) => void): void {
    this.errorListeners.push(cb);
  }

  private onReadable(readable: boolean): void {
    if (this.fd < 0) return;
    if (!readable) {
      this.emitError(
        new KernelError(`polling the ${this.family} multicast routing socket failed`, {
          code: "EIO",
          operation: "polling",
        }),
      );
      return;
    }
    for (let i = 0; i < READ_BATCH && this.fd >= 0; i++) {
      let r: RecvResult | null;
      try {
        r = netio.recvmsg(this.fd, this.rx);
      } catch (err) {
        this.emitError(KernelError.from(err, `receiving on the ${this.family} multicast routing socket`));
        return;
      }
      if (r === null) return;
      if (r.truncated) continue; // cannot be a valid IGMP/MLD message or upcall of ours
      this.dispatch(r, this.rx.subarray(0, r.bytes));
    }
  }

  private emitError(e: KernelError): void {
    if (this.errorListeners.length === 0) throw e;
    for (const cb of this.errorListeners) cb(e);
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

  // ---------------------------------------------------------- report groups

  /**
   * Joins the groups routers must listen to on a downstream interface (module comment):
   * 224.0.0.22 + 224.0.0.2 (IPv4) or ff02::16 + ff02::2 (IPv6). Idempotent.
   *
   * The joins go on the mroute socket while it has room; the kernel caps memberships per
   * socket (net.ipv4.igmp_max_memberships, default 20 = 10 downstream interfaces), so on
   * ENOBUFS further joins go on helper UDP sockets. The mroute socket still receives those
   * reports: a raw socket gets multicast for groups it did not join itself while
   * IP_MULTICAST_ALL / IPV6_MULTICAST_ALL is on (the default, kept).
   */
  joinReportGroups(ifindex: number): void {
    for (const group of REPORT_GROUPS[this.family]) {
      const key = `${ifindex}|${group}`;
      if (this.joined.has(key)) continue;
      const operation = `joining ${group} on ${this.ifText(ifindex)} to hear reports`;
      this.ensureOpen(operation);
      const req = packMembershipRequest(this.family, group, ifindex);
      const name = this.v4 ? IP_ADD_MEMBERSHIP : IPV6_ADD_MEMBERSHIP;
      let joinedOn: number | undefined;
      for (const member of this.memberSockets) {
        if (member.full) continue;
        try {
          netio.setsockopt(member.fd, this.level, name, req);
          joinedOn = member.fd;
          break;
        } catch (err) {
          const e = KernelError.from(err, operation);
          if (e.code !== "ENOBUFS") throw e;
          member.full = true;
        }
      }
      if (joinedOn === undefined) {
        const fd = kernelCall(`${operation}: opening a helper membership socket`, () =>
          netio.socket(this.v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0),
        );
        try {
          kernelCall(
            operation,
            () => netio.setsockopt(fd, this.level, name, req),
            (code) =>
              code === "ENOBUFS"
                ? `${operation}: the kernel refuses even one membership per socket ` +
                  `(net.ipv4.igmp_max_memberships is 0?) (ENOBUFS)`
                : undefined,
          );
        } catch (err) {
          netio.close(fd);
          throw err;
        }
        this.memberSockets.push({ fd, full: false, helper: true });
        joinedOn = fd;
      }
      this.joined.set(key, joinedOn);
    }
  }

  /** Leaves the report groups of `ifindex` (a vanished interface is tolerated). */
  leaveReportGroups(ifindex: number): void {
    for (const group of REPORT_GROUPS[this.family]) {
      const key = `${ifindex}|${group}`;
      const fd = this.joined.get(key);
      if (fd === undefined) continue;
      this.joined.delete(key);
      const member = this.memberSockets.find((m) => m.fd === fd);
      if (member === undefined) continue;
      member.full = false;
      try {
        netio.setsockopt(
          fd,
          this.level,
          this.v4 ? IP_DROP_MEMBERSHIP : IPV6_DROP_MEMBERSHIP,
          packMembershipRequest(this.family, group, ifindex),
        );
      } catch (err) {
        const e = KernelError.from(err, `leaving ${group} on ifindex ${ifindex}`);
        if (e.code !== "EADDRNOTAVAIL" && e.code !== "ENODEV" && e.code !== "ENOENT") throw e;
      }
    }
    // Helper sockets left without memberships are closed.
    for (const m of this.memberSockets.filter((x) => x.helper)) {
      if ([...this.joined.values()].includes(m.fd)) continue;
      netio.close(m.fd);
      this.memberSockets.splice(this.memberSockets.indexOf(m), 1);
    }
  }

  /** Number of sockets carrying report-group memberships (1 = the mroute socket alone). */
  membershipSocketCount(): number {
    return this.memberSockets.length;
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
    const operation = `sending a ${this.v4 ? "IGMP" : "MLD"} message to ${destination} on ${this.ifText(ifindex)}`;
    const fd = this.ensureOpen(operation);
    const to = sockaddrFor(this.family, destination, this.v4 ? {} : { scopeId: ifindex });
    const ctl =
      source === undefined
        ? { ifindex, hopLimit: 1 }
        : { ifindex, hopLimit: 1, src: addressBytes(this.family, source) };
    const sent = kernelCall(operation, () => netio.sendmsg(fd, payload, to, ctl));
    if (sent !== payload.length) {
      throw new KernelError(`${operation}: only ${sent} of ${payload.length} bytes sent`, {
        code: "EMSGSIZE",
        operation,
      });
    }
  }

  // ---------------------------------------------------------- shutdown

  /**
   * Deletes every MFC entry and VIF/MIF this socket created, leaves the report groups,
   * MRT_DONE, closes. Errors on the way are collected; the socket is closed regardless.
   */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    netio.pollStop(fd);
    const errors: unknown[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (err) {
        errors.push(err);
      }
    };
    for (const e of this.mfcEntries()) attempt(() => this.delMfc(e.source, e.group));
    for (const key of [...this.joined.keys()])
      attempt(() => this.leaveReportGroups(Number(key.split("|")[0])));
    for (const m of this.memberSockets.splice(0)) if (m.helper) attempt(() => netio.close(m.fd));
    for (const { ifindex } of this.vifs()) attempt(() => this.delVif(ifindex));
    attempt(() => netio.setsockopt(fd, this.level, this.v4 ? MRT_DONE : MRT6_DONE, 0));
    this.fd = -1;
    netio.close(fd);
    const first = errors[0];
    if (first !== undefined)
      throw KernelError.from(first, `closing the ${this.family} multicast routing socket`);
  }

  /** True until `close()`. */
  get isOpen(): boolean {
    return this.fd >= 0;
  }
}

/**
 * Sets the receive buffer: SO_RCVBUFFORCE (needs CAP_NET_ADMIN, which the daemon has for
 * MRT_INIT anyway; ignores net.core.rmem_max), falling back to SO_RCVBUF (silently capped
 * by rmem_max) without it. Users never have to raise sysctls for bursts.
 */
function sizeReceiveBuffer(fd: number, bytes: number): void {
  try {
    netio.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes);
  } catch {
    netio.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
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
