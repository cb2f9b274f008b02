/**
 * The kernel layer: the only code that touches the native addon. See KERNEL.md for the
 * kernel facts and src/kernel/structs/ for every byte layout.
 *
 *   mroute.ts      multicast routing socket: VIFs/MIFs, MFC, counters, upcalls, IGMP/MLD I/O
 *   membership.ts  upstream subscription (host part of RFC 4605) through socket filters
 *   rtnetlink.ts   link and address watcher
 *   errors.ts      KernelError: errno facts plus a message an operator understands
 *   addon.ts       typed surface of the native addon (native/netio.c)
 */
export { KernelError, type KernelErrorInit } from "./errors.js";
export { type FilterWarning, type SourceFilter, SourceFilterSockets } from "./source-filters.js";
export { type MrouteOpenOptions, MrouteSocket, type ReceivedPacket, type Upcall } from "./mroute.js";
export { type AddrInfo, type LinkEvent, type LinkInfo, LinkWatcher } from "./rtnetlink.js";
export type { SgCounters, VifCounters } from "./structs/mroute.js";
