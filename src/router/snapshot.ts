/**
 * Read-only operational state of one link, shaped after the YANG models (RFC 8652
 * ietf-igmp-mld "interface" and "group" lists, RFC 9398 proxy state). Times are
 * remaining milliseconds ("expire") or elapsed milliseconds ("up-time").
 */
import { compareAddresses } from "../wire/address.js";
import type { Address, IpFamily } from "../wire/types.js";
import type { GroupState } from "./group.js";
import type { FilterMode } from "./types.js";

export interface SourceSnapshot {
  source: Address;
  /** Remaining source timer; 0 = not running (EXCLUDE mode: blocked). */
  expiresMs: number;
  forwarded: boolean;
  /** Remaining Q(G,S) retransmissions. */
  retransmit: number;
}

export interface HostSnapshot {
  address: Address;
  filterMode: FilterMode;
  sources: Address[];
  expiresMs: number;
}

export interface GroupSnapshot {
  group: Address;
  filterMode: FilterMode;
  /** Remaining group timer; null when not running (always in INCLUDE mode). */
  expiresMs: number | null;
  upTimeMs: number;
  lastReporter: Address;
  /** Group compatibility version (protocol numbering: IGMP 1..3, MLD 1..2). */
  version: number;
  olderHostPresentMs: { v1: number; v2: number };
  sources: SourceSnapshot[];
  hosts: HostSnapshot[];
}

export interface LinkSnapshot {
  ifname: string;
  family: IpFamily;
  /** Configured (operational) protocol version. */
  version: number;
  started: boolean;
  querier: boolean;
  querierAddress: Address | null;
  ownAddress: Address | null;
  /** Remaining Other Querier Present timer; null when this router is the querier. */
  otherQuerierPresentMs: number | null;
  /** Effective values (learned from the elected querier when not the querier). */
  robustnessVariable: number;
  queryIntervalMs: number;
  groupMembershipIntervalMs: number;
  /**
   * The other querier's QRV / QQI as advertised, when its last query had one above the
   * configured bound (`max-adopted-robustness`, `max-adopted-query-interval`) and the
   * adopted value was clamped; null otherwise (docs/protocol.md "Querier election").
   */
  clampedAdoption: { robustness: number; queryIntervalMs: number } | null;
  groupCount: number;
  groups: GroupSnapshot[];
}

/** The groups of a link at `now`, sorted by address; `version` gives a group's compatibility version. */
export function groupSnapshots(
  groups: Iterable<GroupState>,
  now: number,
  version: (g: GroupState) => number,
): GroupSnapshot[] {
  const out: GroupSnapshot[] = [];
  for (const g of groups) out.push(groupSnapshot(g, now, version(g)));
  out.sort((a, b) => compareAddresses(a.group, b.group));
  return out;
}

/** One group at `now`: remaining timers, sources and live tracked hosts sorted by address. */
export function groupSnapshot(g: GroupState, now: number, version: number): GroupSnapshot {
  const sources = [...g.sources].map(([source, r]) => ({
    source,
    expiresMs: r.timer > 0 ? r.timer - now : 0,
    forwarded: r.timer > 0,
    retransmit: r.retransmit,
  }));
  sources.sort((a, b) => compareAddresses(a.source, b.source));
  const hosts = [...g.hosts]
    .filter(([, h]) => h.expires > now)
    .map(([address, h]) => ({
      address,
      filterMode: h.filterMode,
      sources: [...h.sources].sort(compareAddresses),
      expiresMs: h.expires - now,
    }));
  return {
    group: g.group,
    filterMode: g.filterMode,
    expiresMs: g.groupTimer > 0 ? g.groupTimer - now : null,
    upTimeMs: now - g.createdAt,
    lastReporter: g.lastReporter,
    version,
    olderHostPresentMs: {
      v1: g.olderV1Until > now ? g.olderV1Until - now : 0,
      v2: g.olderV2Until > now ? g.olderV2Until - now : 0,
    },
    sources,
    hosts,
  };
}
