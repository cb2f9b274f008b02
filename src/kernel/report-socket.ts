/**
 * The report socket of one attached link and family: a raw socket bound to the link's
 * interface that receives the link's IGMP (IPv4) or MLD (IPv6) messages, in its own kernel
 * queue. One per attached link (downstreams and the upstream), opened on attach, closed on
 * detach and at shutdown. Kernel facts: docs/kernel.md "Receiving reports".
 *
 * Why one per link: the kernel queues a socket's datagrams in one FIFO. With a single
 * socket for every interface (and the kernel's upcalls), a report from a quiet host waited
 * behind everything a flooding link had queued. Now each link has its own queue, read in
 * bounded batches (datagram-reader.ts), and libuv serves the sockets in turn.
 *
 *  - IPv4: `AF_INET/SOCK_RAW/IPPROTO_IGMP`, SO_BINDTOIFINDEX, IP_PKTINFO, IP_RECVTTL and
 *    IP_ROUTER_ALERT: a multicast router hands IGMP with a Router Alert to a group it is
 *    not a member of to the Router Alert sockets of the ingress interface only (the mroute
 *    socket is one; so is this one, bound to the link). A classic BPF filter
 *    (igmp-paths.ts) leaves out what the mroute socket reads instead (multicast without
 *    Router Alert); if the kernel refuses the filter, those copies are read and discarded.
 *  - IPv6: `AF_INET6/SOCK_RAW/IPPROTO_ICMPV6`, SO_BINDTOIFINDEX, IPV6_RECVPKTINFO,
 *    IPV6_RECVHOPLIMIT, IPV6_RECVHOPOPTS, and ICMP6_FILTER passing only MLD (130 query,
 *    131 v1 report, 132 done, 143 v2 report).
 *  - Receive buffer as the mroute socket's (RECEIVE_BUFFER_BYTES, SO_RCVBUFFORCE).
 *  - Downstream links: the report groups are joined on this socket (report-groups.ts), so
 *    closing it leaves them.
 *  - Every datagram is checked after it is read as well: the ingress interface must be
 *    this link's (datagrams can be queued between socket() and the bind) and it must be
 *    this socket's (the filter can be missing, or attached after datagrams were queued).
 *  - Errors have an owner, as the mroute socket's: `onError` gets every failure on the
 *    event loop (datagram-reader.ts).
 */
import type { IpFamily } from "../wire/types.js";
import { DatagramReader, type ReadLimits, type ReceiveStats, socketDrops } from "./datagram-reader.js";
import { type KernelError, kernelCall, kernelErrorOf } from "./errors.js";
import { igmpFilter, igmpPath, keeps } from "./igmp-paths.js";
import { describeIfindex, RECEIVE_BUFFER_BYTES } from "./mroute-socket.js";
import { decodeIgmp, decodeMld, type ReceivedPacket } from "./received-packet.js";
import { joinReportGroups } from "./report-groups.js";
import { packBpf } from "./structs/bpf.js";
import {
  ICMP6_FILTER,
  IP_PKTINFO,
  IP_RECVTTL,
  IP_ROUTER_ALERT,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVHOPOPTS,
  IPV6_RECVPKTINFO,
  packIcmp6FilterPassOnly,
  SOCK_RAW,
} from "./structs/mroute.js";
import { SO_BINDTOIFINDEX, SOL_SOCKET } from "./structs/netlink.js";
import { AF_INET, AF_INET6 } from "./structs/sockaddr.js";
import { realSyscalls, type Syscalls, sizeReceiveBuffer } from "./syscalls.js";

/** MLD message types a report socket receives (RFC 2710 §3, RFC 9777 §5). */
export const MLD_TYPES: readonly number[] = [130, 131, 132, 143];

export interface ReportSocketOptions {
  family: IpFamily;
  ifindex: number;
  /** Join the report groups (downstream links); the upstream link joins none. */
  joinReportGroups: boolean;
  /** Every IGMP / MLD message received on the link. */
  onPacket: (p: ReceivedPacket) => void;
  /** Owner of the errors on the event loop (datagram-reader.ts). Required. */
  onError: (e: KernelError) => void;
  /** Requested receive buffer in bytes (default RECEIVE_BUFFER_BYTES). */
  receiveBuffer?: number;
  /** How much one readiness callback reads (datagram-reader.ts defaults). */
  reading?: ReadLimits;
  syscalls?: Syscalls;
}

/** What opens a link's report socket (the daemon: `ReportSocket.open` with its error owner). */
export type OpenReportSocket = (
  o: Pick<ReportSocketOptions, "ifindex" | "joinReportGroups" | "onPacket">,
) => ReportSocket;

export class ReportSocket {
  readonly family: IpFamily;
  readonly ifindex: number;
  /** Why the kernel refused this socket's filter (copies are then discarded after reading); null: attached. */
  readonly filterError: KernelError | null;
  private sockFd: number;
  private discarded = 0;
  private readonly reader: DatagramReader;

  private constructor(
    o: ReportSocketOptions,
    private readonly sys: Syscalls,
    fd: number,
    filterError: KernelError | null,
  ) {
    this.family = o.family;
    this.ifindex = o.ifindex;
    this.sockFd = fd;
    this.filterError = filterError;
    const v4 = o.family === "ipv4";
    this.reader = new DatagramReader({
      syscalls: sys,
      fd,
      name: ReportSocket.describe(sys, o.family, o.ifindex),
      onError: o.onError,
      ...o.reading,
      onDatagram: (r, data) => {
        const ours = v4 ? keeps("link", igmpPath(data)) : MLD_TYPES.includes(data[0] ?? 0);
        if (r.ifindex !== this.ifindex || !ours) {
          this.discarded++;
          return;
        }
        const p = v4 ? decodeIgmp(r, data) : decodeMld(r, data);
        if (p !== null) o.onPacket(p);
      },
    });
  }

  private static describe(sys: Pick<Syscalls, "ifIndexToName">, family: IpFamily, ifindex: number): string {
    return `the ${family} report socket of ${describeIfindex(sys, ifindex)}`;
  }

  /**
   * Opens, binds and configures the socket, joins the report groups when asked, then starts
   * reading. On failure the socket is closed again and a KernelError explains why.
   */
  static open(o: ReportSocketOptions): ReportSocket {
    const sys = o.syscalls ?? realSyscalls;
    const v4 = o.family === "ipv4";
    const name = ReportSocket.describe(sys, o.family, o.ifindex);
    const fd = kernelCall(`opening ${name}`, () =>
      sys.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, v4 ? IPPROTO_IGMP : IPPROTO_ICMPV6),
    );
    let filterError: KernelError | null = null;
    try {
      const set = (what: string, level: number, option: number, value: Uint8Array | number) =>
        kernelCall(`configuring ${name} (${what})`, () => sys.setsockopt(fd, level, option, value));
      kernelCall(
        `binding ${name} to its interface (SO_BINDTOIFINDEX)`,
        () => sys.setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, o.ifindex),
        (code) =>
          code === "ENOPROTOOPT"
            ? `binding ${name} to its interface: this kernel has no SO_BINDTOIFINDEX (Linux 5.0 or later is needed) (ENOPROTOOPT)`
            : undefined,
      );
      if (v4) {
        set("IP_PKTINFO", IPPROTO_IP, IP_PKTINFO, 1);
        set("IP_RECVTTL", IPPROTO_IP, IP_RECVTTL, 1);
        set("IP_ROUTER_ALERT", IPPROTO_IP, IP_ROUTER_ALERT, 1);
        filterError = kernelErrorOf(`filtering ${name} (SO_ATTACH_FILTER)`, () =>
          sys.attachFilter(fd, packBpf(igmpFilter("link"))),
        );
      } else {
        set("IPV6_RECVPKTINFO", IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        set("IPV6_RECVHOPLIMIT", IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
        set("IPV6_RECVHOPOPTS", IPPROTO_IPV6, IPV6_RECVHOPOPTS, 1);
        filterError = kernelErrorOf(`filtering ${name} (ICMP6_FILTER)`, () =>
          sys.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, packIcmp6FilterPassOnly(MLD_TYPES)),
        );
      }
      sizeReceiveBuffer(sys, fd, o.receiveBuffer ?? RECEIVE_BUFFER_BYTES, name);
      if (o.joinReportGroups) joinReportGroups(sys, fd, o.family, o.ifindex);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    const sock = new ReportSocket(o, sys, fd, filterError);
    sock.reader.start();
    return sock;
  }

  /** The socket's file descriptor; -1 after `close()`. */
  get fd(): number {
    return this.sockFd;
  }

  /** Filter, discarded copies and the kernel's drops (one getsockopt: not for the packet path). */
  stats(): ReceiveStats {
    return {
      filter: this.filterError === null ? "kernel" : "software",
      discarded: this.discarded,
      drops: socketDrops(this.sys, this.sockFd),
      truncated: this.reader.truncated,
    };
  }

  /** Stops reading and closes the socket (which leaves its report groups). Idempotent. */
  close(): void {
    if (this.sockFd < 0) return;
    const fd = this.sockFd;
    this.sockFd = -1;
    this.reader.stop();
    this.sys.close(fd);
  }
}
