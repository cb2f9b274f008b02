/**
 * The kernel layer: the only code that touches the native addon. src/kernel/structs/ holds
 * every byte layout.
 *
 *   mroute-socket.ts   multicast routing socket: open (MRT_INIT), upcalls in (an upcalls-only
 *                      filter), queries out, close (MRT_DONE)
 *   mroute-table.ts    VIFs/MIFs and the MFC of one family, by link name; counters
 *   report-socket.ts   one attached link's raw socket: its IGMP / MLD packets in
 *   report-groups.ts   report-group joins on a downstream's report socket (224.0.0.22, ff02::16, ...)
 *   igmp-paths.ts      which IPv4 socket reads which IGMP datagram; its BPF filters
 *   datagram-reader.ts reading a receive socket in bounded batches; every error to its owner
 *   received-packet.ts decoding a received IGMP / MLD datagram
 *   source-filters.ts  upstream subscription (host part of RFC 4605) through socket filters
 *   rtnetlink.ts       link and address watcher
 *   syscalls.ts        the injectable system-call surface (the addon, or a fake in tests)
 *   errors.ts          KernelError: errno facts plus a message an operator understands
 *   addon.ts           typed surface of the native addon (native/netio.c)
 *   sysctl.ts          kernel limits read from /proc/sys
 *   sdnotify.ts        systemd readiness notifications
 *   capabilities.ts    CAP_NET_ADMIN / CAP_NET_RAW kept across the drop to `user`
 */
export { keepCapabilitiesAcrossSetuid, limitToNetworkCapabilities } from "./capabilities.js";
export { KernelError, type KernelErrorInit } from "./errors.js";
export { type FilterWarning, type SourceFilter, SourceFilterSockets } from "./source-filters.js";
export {
  isPollFailure,
  type MrouteOpenOptions,
  MrouteSocket,
  type ReceivedPacket,
  type Upcall,
} from "./mroute-socket.js";
export { MrouteTable, type VifEntry } from "./mroute-table.js";
export { type OpenReportSocket, ReportSocket } from "./report-socket.js";
export { type AddrInfo, type LinkEvent, type LinkInfo, LinkWatcher } from "./rtnetlink.js";
export { realSyscalls, type Syscalls } from "./syscalls.js";
export type { SgCounters, VifCounters } from "./structs/mroute.js";
