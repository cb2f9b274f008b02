/**
 * Public contract of the router engine (one link, one family): configuration, receive
 * metadata and the effects the engine emits. See README.md in this folder.
 */
import type { Address, Query } from "../wire/types.js";

/** All times in milliseconds; the daemon converts from config seconds. */
export interface RouterConfig {
  /** Configured querier version: IGMP 1|2|3, MLD 1|2. */
  version: number;
  robustnessVariable: number;
  queryIntervalMs: number;
  queryResponseIntervalMs: number;
  lastMemberQueryIntervalMs: number;
  lastMemberQueryCount: number;
  startupQueryIntervalMs: number;
  startupQueryCount: number;
  fastLeave: boolean;
  maxGroups: number;
  maxSourcesPerGroup: number;
  /** (group, source) entries on the link, all groups together. */
  maxGroupSources: number;
  /** Groups held for one reporting host (the group's last reporter) on the link. */
  maxGroupsPerHost: number;
  /** Records (v3 group records, v1/v2 reports, leaves) accepted per second on the link. */
  reportRateLimit: number;
  /** Records accepted per second from one host on the link. */
  hostReportRateLimit: number;
  /** Upper bound of the Robustness Variable adopted from another querier (never below ours). */
  maxAdoptedRobustness: number;
  /** Upper bound of the Query Interval adopted from another querier (never below ours). */
  maxAdoptedQueryIntervalMs: number;
  ssmRanges: string[];
  ignoreGroups: string[];
  /** Groups hosts may join (empty: all). */
  allowGroups: string[];
  /** Groups hosts may not join (wins over allowGroups). */
  denyGroups: string[];
  /**
   * (group prefix, source prefix) pairs hosts may receive; a group covered by some rule
   * gets only the sources of its rules (source-policy.ts).
   */
  allowSources: SourceRule[];
  /** (group prefix, source prefix) pairs hosts may not receive (wins over allowSources). */
  denySources: SourceRule[];
}

/** One source-policy rule: sources in the `source` prefix sent to groups in the `group` prefix. */
export interface SourceRule {
  group: string;
  source: string;
}

export interface ReceiveMeta {
  source: Address;
  destination: Address;
  /** IP TTL (IGMP) or hop limit (MLD). */
  ttl: number;
  routerAlert: boolean;
}

export type FilterMode = "include" | "exclude";

export type RouterEffect =
  /** General query -> 224.0.0.1 / ff02::1; Q(G) and Q(G,S) -> the group address. */
  | { type: "send"; query: Query; destination: Address }
  /**
   * Desired forwarding state of `group` on this link, emitted whenever it changes.
   * include: forward exactly `sources` (include + [] = no listener: group gone);
   * exclude: forward all sources except `sources` (the sources whose timers are 0).
   */
  | { type: "forwarding"; group: Address; filterMode: FilterMode; sources: Address[] }
  | { type: "querier"; querier: boolean; querierAddress: Address | null };
