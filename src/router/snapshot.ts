/**
 * Read-only operational state of one link, shaped after the YANG models (RFC 8652
 * ietf-igmp-mld "interface" and "group" lists, RFC 9398 proxy state). Times are
 * remaining milliseconds ("expire") or elapsed milliseconds ("up-time").
 */
import type { Address, IpFamily } from "../wire/types.js";
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
  groupCount: number;
  groups: GroupSnapshot[];
}
