export { type DropReason, RouterCounters } from "./counters.js";
export { type ProtocolDescriptor, protocolDescriptor, IGMP, type Level, MLD } from "./protocol.js";
export { LinkRouter, type LinkRouterOptions } from "./link-router.js";
export type { GroupSnapshot, HostSnapshot, LinkSnapshot, SourceSnapshot } from "./snapshot.js";
export type { FilterMode, ReceiveMeta, RouterConfig, RouterEffect } from "./types.js";
