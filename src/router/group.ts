/**
 * Per-group router state (RFC 9776 §6.2.1, RFC 9777 §7.2): filter mode, group timer,
 * source records with source timers, Older Host Present timers (RFC 9776 §7.3.2) and the
 * retransmission state of group-specific queries (§6.6.3). Timers are deadlines in
 * scheduler milliseconds kept in the state (0 = not running); the link router arms one
 * scheduler timer per group for the earliest of them.
 *
 * `GroupTable` holds the groups of one link with the configured limits (docs/protocol.md
 * "Bounded state") and the source-record steps the action tables are made of; every
 * source record is added and removed through it, so the link-wide count stays exact.
 */
import type { TimerId } from "../clock/scheduler.js";
import type { Address } from "../wire/types.js";
import type { RouterCounters } from "./counters.js";
import { type HostRecord, hostsWantExclude, hostsWantSource, pruneHosts } from "./tracking.js";
import type { FilterMode, RouterConfig } from "./types.js";

export interface SourceRecord {
  /** Source timer deadline; 0 = not running (EXCLUDE mode "Y" list: not forwarded). */
  timer: number;
  /** Remaining Q(G,S) transmissions for this source (RFC 9776 §6.6.3.2). */
  retransmit: number;
}

export class GroupState {
  filterMode: FilterMode = "include";
  /** Group timer deadline, running in EXCLUDE mode only (0 otherwise). */
  groupTimer = 0;
  readonly sources = new Map<Address, SourceRecord>();
  /** IGMPv1 / IGMPv2-MLDv1 Host Present timer deadlines (RFC 9776 §7.3.2), 0 = not running. */
  olderV1Until = 0;
  olderV2Until = 0;
  /** Remaining Q(G) retransmissions and when the next one goes out (0 = none). */
  groupQueryRetransmit = 0;
  nextGroupQueryAt = 0;
  /** When the next Q(G,S) round goes out (0 = none). */
  nextSourceQueryAt = 0;
  /** The one scheduler timer of this group and its deadline. */
  timerId: TimerId | null = null;
  armedAt = 0;
  /** Forwarding state last emitted (null = nothing, i.e. include []): mode and sorted sources. */
  lastForwardingMode: FilterMode | null = null;
  lastForwardingSources: Address[] | null = null;
  /** Set when mode, source set or a source's forwarded/blocked status may have changed. */
  forwardingDirty = false;
  /** Explicit tracking (RFC 9776 §6.x, FRR-style): reporter -> what it wants. */
  readonly hosts = new Map<Address, HostRecord>();
  lastReporter: Address;

  constructor(
    readonly group: Address,
    readonly createdAt: number,
    reporter: Address,
  ) {
    this.lastReporter = reporter;
  }

  /** Sources being forwarded: all in INCLUDE; in EXCLUDE the ones with a running timer ("X"). */
  forwardedSources(): Address[] {
    const out: Address[] = [];
    for (const [s, r] of this.sources) if (r.timer > 0) out.push(s);
    return out;
  }

  /** EXCLUDE mode "Y" list: sources with timer 0, blocked. */
  blockedSources(): Address[] {
    const out: Address[] = [];
    for (const [s, r] of this.sources) if (r.timer === 0) out.push(s);
    return out;
  }

  /** Earliest running deadline of this group (Infinity when none). */
  earliestDeadline(): number {
    let d = Number.POSITIVE_INFINITY;
    if (this.groupTimer > 0) d = this.groupTimer;
    if (this.olderV1Until > 0 && this.olderV1Until < d) d = this.olderV1Until;
    if (this.olderV2Until > 0 && this.olderV2Until < d) d = this.olderV2Until;
    if (this.nextGroupQueryAt > 0 && this.nextGroupQueryAt < d) d = this.nextGroupQueryAt;
    if (this.nextSourceQueryAt > 0 && this.nextSourceQueryAt < d) d = this.nextSourceQueryAt;
    for (const r of this.sources.values()) if (r.timer > 0 && r.timer < d) d = r.timer;
    for (const h of this.hosts.values()) if (h.expires < d) d = h.expires;
    return d;
  }
}

/** The groups of one link, bounded by maxGroups, maxSourcesPerGroup and maxGroupSources. */
export class GroupTable {
  private readonly groups = new Map<Address, GroupState>();
  /** (group, source) entries over all groups, bounded by maxGroupSources. */
  private sourceCount = 0;

  constructor(
    private config: RouterConfig,
    private readonly counters: RouterCounters,
  ) {}

  setConfig(config: RouterConfig): void {
    this.config = config;
  }

  get size(): number {
    return this.groups.size;
  }

  get(group: Address): GroupState | undefined {
    return this.groups.get(group);
  }

  values(): IterableIterator<GroupState> {
    return this.groups.values();
  }

  /** Whether `g` is still the record of its group (not deleted since). */
  holds(g: GroupState): boolean {
    return this.groups.get(g.group) === g;
  }

  /** The record of `group`, created (within maxGroups) when missing. */
  obtain(group: Address, now: number, reporter: Address): GroupState | undefined {
    let g = this.groups.get(group);
    if (g !== undefined) return g;
    if (this.groups.size >= this.config.maxGroups) {
      this.counters.refuse("max-groups");
      return undefined;
    }
    g = new GroupState(group, now, reporter);
    this.groups.set(group, g);
    return g;
  }

  /** Forgets a group record and its source records. */
  remove(g: GroupState): void {
    this.groups.delete(g.group);
    this.sourceCount -= g.sources.size;
  }

  /** Sets a source's timer, creating the source (within the limits) or moving it from Y to X. */
  setSourceTimer(g: GroupState, s: Address, deadline: number): void {
    const r = g.sources.get(s);
    if (r === undefined) {
      this.addSource(g, s, deadline);
      return;
    }
    if (r.timer === 0) g.forwardingDirty = true;
    r.timer = deadline;
  }

  /** A new source record, unless maxSourcesPerGroup or maxGroupSources refuses it. */
  addSource(g: GroupState, s: Address, timer: number): void {
    if (g.sources.size >= this.config.maxSourcesPerGroup) {
      this.counters.refuse("max-sources");
      return;
    }
    if (this.sourceCount >= this.config.maxGroupSources) {
      this.counters.refuse("max-group-sources");
      return;
    }
    g.sources.set(s, { timer, retransmit: 0 });
    this.sourceCount++;
    g.forwardingDirty = true;
  }

  deleteSource(g: GroupState, s: Address): void {
    if (this.removeSource(g, s)) g.forwardingDirty = true;
  }

  /** Every source record leaves through here (or `remove`), so the link's count stays exact. */
  removeSource(g: GroupState, s: Address): boolean {
    if (!g.sources.delete(s)) return false;
    this.sourceCount--;
    return true;
  }

  /**
   * A source stops being forwarded (its timer ran out, or fast leave): in INCLUDE mode it
   * is deleted, in EXCLUDE mode it moves to Y (RFC 9776 §6.6, RFC 9777 §7.6).
   */
  expireSource(g: GroupState, s: Address, r: SourceRecord): void {
    if (g.filterMode === "include") this.removeSource(g, s);
    else {
      r.timer = 0;
      r.retransmit = 0;
    }
    g.forwardingDirty = true;
  }

  /**
   * Fast leave: what no live tracked host wants any more stops being forwarded now
   * (timers expire at once) instead of after LMQT. The queries of the RFC flow were
   * already sent, so hosts we could not track can still answer and re-join.
   */
  fastLeave(g: GroupState, now: number): void {
    pruneHosts(g.hosts, now);
    if (g.filterMode === "exclude" && !hostsWantExclude(g.hosts, now)) this.switchToInclude(g);
    for (const [s, r] of g.sources) {
      if (r.timer === 0 || hostsWantSource(g.hosts, s, now)) continue;
      this.expireSource(g, s, r);
    }
  }

  /** §6.5: group timer expiry in EXCLUDE mode -> INCLUDE with the sources still running. */
  switchToInclude(g: GroupState): void {
    for (const [s, r] of g.sources) if (r.timer === 0) this.removeSource(g, s);
    g.filterMode = "include";
    g.groupTimer = 0;
    g.forwardingDirty = true;
  }
}
