/**
 * The read-only state contract between the daemon and its readers (the control socket,
 * the metrics endpoint, SIGUSR1 dumps and tests): what `FamilyProxy.snapshot()` returns
 * and the counters a family keeps. Declared here, on its own, so that readers depend on
 * this contract and not on the FamilyProxy class (docs/architecture.md "Layers").
 */
import type { ReceiveStats } from "../kernel/datagram-reader.js";
import type { SgCounters, VifCounters } from "../kernel/structs/mroute.js";
import type { ForwardingEntry } from "../proxy/forwarding.js";
import type { SourceFilterState } from "../proxy/membership.js";
import type { LinkSnapshot, RouterCounters } from "../router/index.js";
import type { Address, IpFamily } from "../wire/types.js";
import type { UpstreamPacketType } from "./ingress.js";
import type { UpstreamQuerierStatus } from "./upstream-queriers.js";

/** Counters of one family's proxy (besides the per-link router counters). */
export interface FamilyCounters {
  packetsReceived: number;
  ownPackets: number;
  /**
   * Packets received on the upstream link and ignored (RFC 4605 §4.1: the proxy is a host
   * there and the kernel's host stack answers the queries), in all...
   */
  upstreamPackets: number;
  /** ...and by type (the packet's type byte; nothing else of it is read). */
  upstreamPacketsByType: Record<UpstreamPacketType, number>;
  unconfiguredInterface: number;
  parseErrors: Record<string, number>;
  upcalls: Record<string, number>;
  kernelErrors: number;
  /** Querier status changes per link name (metrics). */
  querierChanges: Record<string, number>;
  /** Upstream joins that had to wait for max-upstream-groups (upstream-limit). */
  upstreamLimit: number;
  /** New (S,G) not installed because max-forwarding-entries was reached (mfc-limit). */
  mfcLimit: number;
  /**
   * Flows from the upstream whose source is outside its `sources` (igmpproxy `altnet`):
   * not forwarded (upstream-source-refused). Counted per kernel upcall: once per flow, and
   * again each time its drop entry expires at an idle check and the flow is still sent.
   */
  upstreamSourceRefused: number;
  /**
   * Groups wanted downstream that no upstream serves (their `groups`): not joined upstream,
   * still forwarded between downstreams (no-upstream). Counted once each time a group with
   * no upstream becomes wanted.
   */
  noUpstream: number;
  /**
   * Flows from an upstream that does not serve their group (RFC 4605 §4: one upstream per
   * group): not forwarded (wrong-upstream). Counted per kernel upcall, as
   * upstreamSourceRefused.
   */
  wrongUpstream: number;
  /**
   * Interfaces not attached because the kernel's 32 VIFs / MIFs were in use (vif-limit):
   * counted once per interface until it attaches.
   */
  vifLimit: number;
}

/** The membership queue of one upstream: groups held by the kernel, queued, waiting for room. */
export interface UpstreamGroupsSnapshot {
  /** The upstream link. */
  interface: string;
  held: number;
  queued: number;
  waiting: number;
  sockets: number;
}

/** One configured link of a family: attachment, querier status, router state. */
export interface LinkStatusSnapshot {
  name: string;
  role: "upstream" | "downstream";
  /** null while the link waits (interface absent, down or without an address). */
  ifindex: number | null;
  vif: number | null;
  address: Address | null;
  querier: boolean;
  /**
   * A downstream the proxy forwards onto now: attached, and the querier or configured with
   * forward-when-not-querier (RFC 4605 §4.2). false upstream.
   */
  forwarded: boolean;
  /** Why a configured link is not attached ("does not exist", "is down", ...); null when attached. */
  waitingReason: string | null;
  /** Upstream links: the querier heard there and the version the kernel reports in. */
  upstreamQuerier: UpstreamQuerierStatus | null;
  upTimeMs: number | null;
  /** The router engine's state (downstream links only). */
  router: LinkSnapshot | null;
  routerCounters: RouterCounters | null;
  /** The static groups held on the link (RFC 8652 `static-group`), sorted by group. */
  staticGroups: StaticGroupSnapshot[];
  /** The kernel's VIF counters, when asked for and available. */
  vifCounters: VifCounters | null;
}

/** One static group of a link: the state it holds in the merge, since when. */
export interface StaticGroupSnapshot extends SourceFilterState {
  group: Address;
  upTimeMs: number;
}

/** The merged membership held upstream for one group (RFC 4605 §4.1). */
export interface UpstreamGroupSnapshot extends SourceFilterState {
  group: Address;
  /** The upstream that serves the group; null: none does (not joined upstream). */
  interface: string | null;
}

/** One (S,G) forwarding entry with the kernel's counters when asked for. */
export interface ForwardingSnapshot extends ForwardingEntry {
  /** The upstream that serves the group; null: none does. */
  upstream: string | null;
  kernel: SgCounters | null;
  /** Time since the entry was installed in the kernel's MFC; null: not installed (no VIF for its incoming link). */
  upTimeMs: number | null;
}

/** The receive socket name of the multicast routing socket (the others are link names). */
export const MROUTE_SOCKET_NAME = "multicast-routing";

/**
 * One receive socket of a family: the multicast routing socket (upcalls) or an attached
 * link's report socket (docs/kernel.md "Receiving reports").
 */
export interface ReceiveSocketSnapshot extends ReceiveStats {
  /** MROUTE_SOCKET_NAME, or the link's name. */
  socket: string;
}

export interface FamilySnapshot {
  family: IpFamily;
  links: LinkStatusSnapshot[];
  upstream: UpstreamGroupSnapshot[];
  upstreamFilterChanges: number;
  upstreamFilterErrors: number;
  /** Per upstream, in the configuration's order. */
  upstreamGroups: UpstreamGroupsSnapshot[];
  forwarding: ForwardingSnapshot[];
  /** The mroute socket first, then the report socket of each attached link. */
  receiveSockets: ReceiveSocketSnapshot[];
  counters: FamilyCounters;
}

/** Which kernel counters a snapshot reads (one ioctl each: not for the packet path). */
export interface SnapshotOptions {
  vifCounters?: boolean;
  /** true: every entry's counters; a predicate: those of the entries it accepts only. */
  sgCounters?: boolean | ((e: ForwardingEntry) => boolean);
}

/** Anything that can produce a family snapshot (FamilyProxy; fixtures in tests). */
export interface FamilySnapshotSource {
  readonly family: IpFamily;
  snapshot(opts?: SnapshotOptions): FamilySnapshot;
  /**
   * Only the forwarding entries, with the kernel's counters (one SIOCGETSGCNT each; `kernel`
   * null when an entry vanished meanwhile): what `snapshot({ sgCounters: true }).forwarding`
   * holds, without the rest of the snapshot (the flow rate sampler reads it every period).
   */
  forwardingCounters(): ForwardingSnapshot[];
}
