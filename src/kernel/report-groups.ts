/**
 * The groups a multicast router must listen to on each downstream interface, beyond what
 * reaches its raw socket anyway: 224.0.0.22 (IGMPv3 reports, RFC 9776 §4.2.14) and
 * 224.0.0.2 (IGMPv2 leaves, RFC 2236 §3) / ff02::16 (MLDv2 reports, RFC 9777 §5.2.14) and
 * ff02::2 (MLDv1 Done, RFC 2710 §3.7). Queries of other queriers (to 224.0.0.1 / ff02::1)
 * and v1/v2 reports (to the group) arrive without a join (mroute-socket.ts; docs/kernel.md
 * "Receiving reports").
 *
 * The joins go on the mroute socket while it has room. The kernel caps memberships per
 * socket (net.ipv4.igmp_max_memberships, default 20 = 10 downstream interfaces), so on
 * ENOBUFS further joins go on helper UDP sockets. The mroute socket still receives those
 * reports: a raw socket gets multicast for groups another socket joined while
 * IP_MULTICAST_ALL / IPV6_MULTICAST_ALL is on (the default, kept). Helpers left without a
 * membership are closed.
 */
import type { Address, IpFamily } from "../wire/types.js";
import { KernelError, kernelCall } from "./errors.js";
import { describeIfindex, type MrouteFd, openFd } from "./mroute-socket.js";
import {
  IP_ADD_MEMBERSHIP,
  IP_DROP_MEMBERSHIP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_ADD_MEMBERSHIP,
  IPV6_DROP_MEMBERSHIP,
  packMembershipRequest,
  SOCK_DGRAM,
} from "./structs/mroute.js";
import { AF_INET, AF_INET6 } from "./structs/sockaddr.js";

/** Report groups a router joins on each downstream interface (module comment). */
export const REPORT_GROUPS: Record<IpFamily, readonly Address[]> = {
  ipv4: ["224.0.0.22", "224.0.0.2"],
  ipv6: ["ff02::16", "ff02::2"],
};

interface MemberSocket {
  fd: number;
  /** The kernel refused a join with ENOBUFS: no new joins until one is left. */
  full: boolean;
  helper: boolean;
}

export class ReportGroups {
  /** "ifindex|group" -> fd of the socket holding that membership. */
  private readonly joined = new Map<string, number>();
  /** Sockets holding memberships: the mroute socket first, then helpers. */
  private readonly members: MemberSocket[];

  constructor(private readonly sock: MrouteFd) {
    this.members = [{ fd: sock.fd, full: false, helper: false }];
  }

  private get v4(): boolean {
    return this.sock.family === "ipv4";
  }

  private get level(): number {
    return this.v4 ? IPPROTO_IP : IPPROTO_IPV6;
  }

  /** Joins the report groups on `ifindex`. Idempotent. */
  join(ifindex: number): void {
    const sys = this.sock.syscalls;
    const family = this.sock.family;
    for (const group of REPORT_GROUPS[family]) {
      const key = `${ifindex}|${group}`;
      if (this.joined.has(key)) continue;
      const operation = `joining ${group} on ${describeIfindex(sys, ifindex)} to hear reports`;
      openFd(this.sock, operation);
      const req = packMembershipRequest(family, group, ifindex);
      const name = this.v4 ? IP_ADD_MEMBERSHIP : IPV6_ADD_MEMBERSHIP;
      let joinedOn: number | undefined;
      for (const member of this.members) {
        if (member.full) continue;
        try {
          sys.setsockopt(member.fd, this.level, name, req);
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
          sys.socket(this.v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0),
        );
        try {
          kernelCall(
            operation,
            () => sys.setsockopt(fd, this.level, name, req),
            (code) =>
              code === "ENOBUFS"
                ? `${operation}: the kernel refuses even one membership per socket ` +
                  `(net.ipv4.igmp_max_memberships is 0?) (ENOBUFS)`
                : undefined,
          );
        } catch (err) {
          sys.close(fd);
          throw err;
        }
        this.members.push({ fd, full: false, helper: true });
        joinedOn = fd;
      }
      this.joined.set(key, joinedOn);
    }
  }

  /** Leaves the report groups of `ifindex` (a vanished interface is tolerated). */
  leave(ifindex: number): void {
    const sys = this.sock.syscalls;
    for (const group of REPORT_GROUPS[this.sock.family]) {
      const key = `${ifindex}|${group}`;
      const fd = this.joined.get(key);
      if (fd === undefined) continue;
      this.joined.delete(key);
      const member = this.members.find((m) => m.fd === fd);
      if (member === undefined) continue;
      member.full = false;
      try {
        sys.setsockopt(
          fd,
          this.level,
          this.v4 ? IP_DROP_MEMBERSHIP : IPV6_DROP_MEMBERSHIP,
          packMembershipRequest(this.sock.family, group, ifindex),
        );
      } catch (err) {
        const e = KernelError.from(err, `leaving ${group} on ifindex ${ifindex}`);
        if (e.code !== "EADDRNOTAVAIL" && e.code !== "ENODEV" && e.code !== "ENOENT") throw e;
      }
    }
    this.closeEmptyHelpers();
  }

  /** Number of sockets carrying memberships (1 = the mroute socket alone). */
  socketCount(): number {
    return this.members.length;
  }

  /**
   * Leaves every report group and closes the helper sockets (shutdown, before the mroute
   * socket closes). Everything is attempted; the first error is thrown afterwards.
   */
  close(): void {
    let first: unknown;
    const ifindexes = new Set([...this.joined.keys()].map((k) => Number(k.split("|")[0])));
    for (const ifindex of ifindexes) {
      try {
        this.leave(ifindex);
      } catch (err) {
        first ??= err;
      }
    }
    this.joined.clear();
    this.closeEmptyHelpers();
    if (first !== undefined) throw first;
  }

  private closeEmptyHelpers(): void {
    const inUse = new Set(this.joined.values());
    for (const m of this.members.filter((x) => x.helper && !inUse.has(x.fd))) {
      this.members.splice(this.members.indexOf(m), 1);
      this.sock.syscalls.close(m.fd);
    }
  }
}
