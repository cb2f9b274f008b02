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
import { type HostRecord, hostUnits, hostsWantExclude, hostsWantSource, pruneHosts } from "./tracking.js";
import type { FilterMode, RouterConfig } from "./types.js";

export interface SourceRecord {
  /** Source timer deadline; 0 = not running (EXCLUDE mode "Y" list: not forwarded). */
  timer: number;
  /** Remaining Q(G,S) transmissions for this source (RFC 9776 §6.6.3.2). */
  retransmit: number;
}

/**
 * The source records of every group that has none (an any-source join, EXCLUDE {}: most
 * groups): one shared empty map, read-only like every group's `sources` outside GroupTable,
 * which gives a group a map of its own at its first source record and takes it back with
 * the last (docs/architecture.md "Memory").
 */
const NO_SOURCES: ReadonlyMap<Address, SourceRecord> = new Map();

/** The host records of every group that tracks none (all of them without fast leave), as NO_SOURCES. */
const NO_HOSTS: ReadonlyMap<Address, HostRecord> = new Map();

/** An empty address list shared by the groups that need one (frozen: nobody adds to it). */
export const NO_ADDRESSES: Address[] = Object.freeze([]) as unknown as Address[];

export class GroupState {
  filterMode: FilterMode = "include";
  /** Group timer deadline, running in EXCLUDE mode only (0 otherwise). */
  groupTimer = 0;
  /** Source records (added and removed by GroupTable only). */
  sources: ReadonlyMap<Address, SourceRecord> = NO_SOURCES;
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
  /**
   * Explicit tracking (RFC 9776 §6.x, FRR-style): reporter -> what it wants. Kept only with
   * fast leave; until a group tracks a host it shares NO_HOSTS (changed by GroupTable only).
   */
  hosts: ReadonlyMap<Address, HostRecord> = NO_HOSTS;
  /**
   * Until when a reporter is presumed that could not be tracked (the link's tracking cap):
   * no fast leave for this group before then (0 = none).
   */
  untrackedUntil = 0;
  lastReporter: Address;
  /** The host this group is counted against for maxGroupsPerHost (GroupTable.claim). */
  owner: Address;

  constructor(
    readonly group: Address,
    readonly createdAt: number,
    reporter: Address,
  ) {
    this.lastReporter = reporter;
    this.owner = reporter;
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

/**
 * The groups of one link, bounded by maxGroups, maxSourcesPerGroup, maxGroupSources and
 * maxGroupsPerHost.
 *
 * Per-host accounting: each group is counted against one host, its owner: the host that
 * created it, handed over to the latest host that reports interest in it (a report or a
 * record that would create the group) while that host is below its cap. A host that stopped
 * wanting its groups so frees them as soon as another member re-reports, and every host's
 * count stays within the cap. O(1) per record; the count table has an entry only for hosts
 * that own a group, so it is bounded by maxGroups.
 */
export class GroupTable {
  private readonly groups = new Map<Address, GroupState>();
  /** (group, source) entries over all groups, bounded by maxGroupSources. */
  private sourceCount = 0;
  /** Owner -> number of groups it owns (entries only for counts > 0). */
  private readonly hostGroups = new Map<Address, number>();
  /** Explicit tracking entries of all groups ({@link hostUnits}), bounded by trackingCap. */
  private trackedUnits = 0;

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

  /**
   * The record of `group` for a report of `reporter` that wants it: created (within
   * maxGroups and the reporter's maxGroupsPerHost) when missing, else claimed by the
   * reporter.
   */
  obtain(group: Address, now: number, reporter: Address): GroupState | undefined {
    let g = this.groups.get(group);
    if (g !== undefined) {
      this.claim(g, reporter);
      return g;
    }
    if (this.groups.size >= this.config.maxGroups) {
      this.counters.refuse("max-groups");
      return undefined;
    }
    const held = this.hostGroups.get(reporter) ?? 0;
    if (held >= this.config.maxGroupsPerHost) {
      this.counters.refuse("max-groups-per-host");
      return undefined;
    }
    g = new GroupState(group, now, reporter);
    this.groups.set(group, g);
    this.hostGroups.set(reporter, held + 1);
    return g;
  }

  /** `reporter` wants `g`: it becomes the group's owner if it is below its cap. */
  private claim(g: GroupState, reporter: Address): void {
    if (g.owner === reporter) return;
    const held = this.hostGroups.get(reporter) ?? 0;
    if (held >= this.config.maxGroupsPerHost) return;
    this.hostGroups.set(reporter, held + 1);
    this.release(g.owner);
    g.owner = reporter;
  }

  private release(host: Address): void {
    const held = this.hostGroups.get(host) ?? 0;
    if (held <= 1) this.hostGroups.delete(host);
    else this.hostGroups.set(host, held - 1);
  }

  /** Groups counted against `host` (maxGroupsPerHost). */
  groupsOf(host: Address): number {
    return this.hostGroups.get(host) ?? 0;
  }

  /** Hosts that own at least one group (the size of the per-host table). */
  get hostCount(): number {
    return this.hostGroups.size;
  }

  /** Forgets a group record, its source records and its host records. */
  remove(g: GroupState): void {
    this.groups.delete(g.group);
    this.sourceCount -= g.sources.size;
    this.release(g.owner);
    for (const h of g.hosts.values()) this.trackedUnits -= hostUnits(h);
    g.hosts = NO_HOSTS;
  }

  /** Explicit tracking may hold as many entries as the group table: maxGroups + maxGroupSources. */
  private get trackingCap(): number {
    return this.config.maxGroups + this.config.maxGroupSources;
  }

  /** Tracking entries held on the link (tests). */
  get trackedEntries(): number {
    return this.trackedUnits;
  }

  /**
   * Stores `reporter`'s tracked record `rec` (from trackRecord, which updated the old one in
   * place; `before` = its hostUnits before that), or forgets it when null. A record that
   * would take the link's tracking entries over the cap is dropped instead: the host is
   * untracked, counted (`max-tracked-hosts`), and the group keeps the RFC timing until
   * `untrackedUntil`.
   */
  setHostRecord(
    g: GroupState,
    reporter: Address,
    rec: HostRecord | null,
    before: number,
    untrackedUntil: number,
  ): void {
    if (rec !== null) {
      const after = hostUnits(rec);
      if (this.trackedUnits - before + after <= this.trackingCap) {
        if (g.hosts === NO_HOSTS) g.hosts = new Map();
        (g.hosts as Map<Address, HostRecord>).set(reporter, rec);
        this.trackedUnits += after - before;
        return;
      }
      this.counters.refuse("max-tracked-hosts");
      g.untrackedUntil = untrackedUntil;
    }
    const hosts = g.hosts as Map<Address, HostRecord>;
    if (!hosts.has(reporter)) return;
    hosts.delete(reporter);
    if (hosts.size === 0) g.hosts = NO_HOSTS;
    this.trackedUnits -= before;
  }

  /** Forgets `g`'s expired host records. */
  pruneHosts(g: GroupState, now: number): void {
    if (g.hosts.size === 0) return;
    this.trackedUnits -= pruneHosts(g.hosts as Map<Address, HostRecord>, now);
    if (g.hosts.size === 0) g.hosts = NO_HOSTS;
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
    if (g.sources === NO_SOURCES) g.sources = new Map();
    (g.sources as Map<Address, SourceRecord>).set(s, { timer, retransmit: 0 });
    this.sourceCount++;
    g.forwardingDirty = true;
  }

  deleteSource(g: GroupState, s: Address): void {
    if (this.removeSource(g, s)) g.forwardingDirty = true;
  }

  /** Every source record leaves through here (or `remove`), so the link's count stays exact. */
  removeSource(g: GroupState, s: Address): boolean {
    const sources = g.sources as Map<Address, SourceRecord>;
    if (!sources.has(s)) return false;
    sources.delete(s);
    if (sources.size === 0) g.sources = NO_SOURCES;
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
    this.pruneHosts(g, now);
    if (g.untrackedUntil > now) return;
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
