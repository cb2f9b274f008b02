/**
 * The groups a multicast router must listen to on each downstream interface, beyond what
 * reaches its sockets anyway: 224.0.0.22 (IGMPv3 reports, RFC 9776 §4.2.14) and 224.0.0.2
 * (IGMPv2 leaves, RFC 2236 §3) / ff02::16 (MLDv2 reports, RFC 9777 §5.2.14) and ff02::2
 * (MLDv1 Done, RFC 2710 §3.7). Queries of other queriers (to 224.0.0.1 / ff02::1) and
 * v1/v2 reports (to the group) arrive without a join (docs/kernel.md "Receiving reports").
 *
 * The joins are made on the downstream link's own report socket (report-socket.ts): two
 * memberships per socket, within the kernel's per-socket limit (net.ipv4.igmp_max_memberships,
 * default 20), and closing the socket leaves them.
 */
import type { Address, IpFamily } from "../wire/types.js";
import { kernelCall } from "./errors.js";
import { describeIfindex } from "./mroute-socket.js";
import {
  IP_ADD_MEMBERSHIP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_ADD_MEMBERSHIP,
  packMembershipRequest,
} from "./structs/mroute.js";
import type { Syscalls } from "./syscalls.js";

/** Report groups a router joins on each downstream interface (module comment). */
export const REPORT_GROUPS: Record<IpFamily, readonly Address[]> = {
  ipv4: ["224.0.0.22", "224.0.0.2"],
  ipv6: ["ff02::16", "ff02::2"],
};

/** Joins the report groups of `family` on `ifindex` through the socket `fd`. */
export function joinReportGroups(
  sys: Pick<Syscalls, "setsockopt" | "ifIndexToName">,
  fd: number,
  family: IpFamily,
  ifindex: number,
): void {
  const v4 = family === "ipv4";
  for (const group of REPORT_GROUPS[family]) {
    const operation = `joining ${group} on ${describeIfindex(sys, ifindex)} to hear reports`;
    kernelCall(
      operation,
      () =>
        sys.setsockopt(
          fd,
          v4 ? IPPROTO_IP : IPPROTO_IPV6,
          v4 ? IP_ADD_MEMBERSHIP : IPV6_ADD_MEMBERSHIP,
          packMembershipRequest(family, group, ifindex),
        ),
      (code) =>
        code === "ENOBUFS"
          ? `${operation}: the kernel allows fewer than ${REPORT_GROUPS[family].length} memberships per socket ` +
            "(net.ipv4.igmp_max_memberships) (ENOBUFS)"
          : undefined,
    );
  }
}
