/**
 * The router part of RFC 9776 (IGMPv3) / RFC 9777 (MLDv2) for one link and one family,
 * with the IGMPv1/v2 (RFC 1112, RFC 2236) and MLDv1 (RFC 2710) compatibility rules and
 * source-specific multicast (RFC 4604). Functional core: input is decoded messages and
 * scheduler time, output is effects (send a query, a group's forwarding state changed,
 * querier status changed). Forwarding only where this router is the querier is the
 * proxy's job (RFC 4605 §4.2); this engine reports the querier status.
 *
 * This file is the group side: message dispatch, the compatibility mapping, the action
 * tables, explicit tracking, group timer expiry and the settling of forwarding effects.
 * The querier part is querier.ts, specific queries specific-queries.ts, message checks
 * validate.ts, the source policy source-policy.ts, group and source records group.ts,
 * snapshot shaping snapshot.ts.
 */
import type { Scheduler, TimerId } from "../clock/scheduler.js";
import { CidrSet, compareAddresses } from "../wire/address.js";
import type { Address, IpFamily, GroupRecord, Leave, Message, Query, Report } from "../wire/types.js";
import { RecordType } from "../wire/types.js";
import { sameItems } from "../util/arrays.js";
import { type DropReason, messageKey, RouterCounters } from "./counters.js";
import { type ProtocolDescriptor, protocolDescriptor, type Level } from "./protocol.js";
import { type GroupState, GroupTable, NO_ADDRESSES } from "./group.js";
import { Querier } from "./querier.js";
import { ReportRateLimiter } from "./rate-limit.js";
import { SpecificQueries } from "./specific-queries.js";
import { groupSnapshots, type LinkSnapshot } from "./snapshot.js";
import { policedState, SourcePolicy } from "./source-policy.js";
import { hostUnits, trackRecord } from "./tracking.js";
import type { FilterMode, ReceiveMeta, RouterConfig, RouterEffect } from "./types.js";
import {
  checkGroup,
  groupRanges,
  type GroupRanges,
  type LinkAddressing,
  olderMessageRefusal,
  recordRefusal,
  validateMessage,
} from "./validate.js";

export interface LinkRouterOptions {
  family: IpFamily;
  ifname: string;
  config: RouterConfig;
  scheduler: Scheduler;
  onEffect: (e: RouterEffect) => void;
  ownAddress: Address | null;
  /** On-link CIDRs, for the IGMP source check (RFC 9776 §9). */
  subnets: string[];
}

const {
  MODE_IS_INCLUDE,
  MODE_IS_EXCLUDE,
  CHANGE_TO_INCLUDE_MODE,
  CHANGE_TO_EXCLUDE_MODE,
  ALLOW_NEW_SOURCES,
  BLOCK_OLD_SOURCES,
} = RecordType;

export class LinkRouter {
  readonly counters = new RouterCounters();
  readonly ifname: string;
  readonly family: IpFamily;
  private readonly desc: ProtocolDescriptor;
  private config: RouterConfig;
  private readonly scheduler: Scheduler;
  private readonly onEffect: (e: RouterEffect) => void;
  private configLevel: Level;
  /** Own address and subnets, shared with the querier part. */
  private readonly link: LinkAddressing;
  private ranges: GroupRanges;
  private sourcePolicy: SourcePolicy;
  private readonly querier: Querier;
  private readonly queries: SpecificQueries;

  private readonly groups: GroupTable;
  private readonly rateLimiter: ReportRateLimiter;
  /** Groups touched by the current input; forwarding and timers are settled at the end. */
  private touched: GroupState[] = [];

  constructor(opts: LinkRouterOptions) {
    this.family = opts.family;
    this.ifname = opts.ifname;
    this.desc = protocolDescriptor(opts.family);
    this.config = opts.config;
    this.scheduler = opts.scheduler;
    this.onEffect = opts.onEffect;
    this.configLevel = this.desc.levelOfVersion(opts.config.version);
    this.ranges = groupRanges(opts.family, opts.config);
    this.sourcePolicy = new SourcePolicy(opts.config.allowSources, opts.config.denySources);
    this.link = {
      family: opts.family,
      unspecified: this.desc.unspecified,
      ownAddress: opts.ownAddress,
      subnets: new CidrSet(opts.subnets),
    };
    this.querier = new Querier({
      desc: this.desc,
      config: opts.config,
      scheduler: opts.scheduler,
      counters: this.counters,
      onEffect: opts.onEffect,
      link: this.link,
    });
    this.queries = new SpecificQueries(this.querier, opts.scheduler, opts.config, this.configLevel);
    this.groups = new GroupTable(opts.config, this.counters);
    this.rateLimiter = new ReportRateLimiter(
      opts.config.reportRateLimit,
      opts.config.hostReportRateLimit,
      opts.scheduler.now(),
    );
  }

  // ------------------------------------------------------------------------------------
  // Timer values (RFC 9776 §8, RFC 9777 §9); RV and QI are the querier part's
  // ------------------------------------------------------------------------------------

  /** [Robustness Variable], learned from the querier's QRV when not the querier (§4.1.6). */
  get robustnessVariable(): number {
    return this.querier.robustnessVariable;
  }
  /** [Query Interval], learned from the querier's QQIC when not the querier (§4.1.7). */
  get queryIntervalMs(): number {
    return this.querier.queryIntervalMs;
  }
  /** Group Membership Interval = RV * QI + QRI (§8.4). */
  get groupMembershipIntervalMs(): number {
    return this.querier.groupMembershipIntervalMs;
  }
  /** Other Querier Present Interval = RV * QI + QRI / 2 (§8.5). */
  get otherQuerierPresentIntervalMs(): number {
    return this.querier.otherQuerierPresentIntervalMs;
  }
  /** Older Host Present Interval = RV * QI + QRI (§8.13). */
  get olderHostPresentIntervalMs(): number {
    return this.groupMembershipIntervalMs;
  }
  /** Last Member Query Time = LMQI * LMQC (§8.9). */
  get lastMemberQueryTimeMs(): number {
    return this.queries.lastMemberQueryTimeMs;
  }

  get isQuerier(): boolean {
    return this.querier.isQuerier;
  }

  /**
   * What the elected other querier advertised beyond the adoption bounds (the values that
   * were clamped), or null (docs/protocol.md "Querier election").
   */
  get clampedAdoption(): { robustness: number; queryIntervalMs: number } | null {
    return this.querier.clampedAdoption;
  }

  // ------------------------------------------------------------------------------------
  // Lifecycle
  // ------------------------------------------------------------------------------------

  /**
   * Starts as querier (RFC 9776 §6.6.2: every router starts as querier) and sends
   * [Startup Query Count] general queries [Startup Query Interval] apart (§8.6, §8.7),
   * then one every [Query Interval].
   */
  start(): void {
    if (this.querier.started) return;
    this.querier.start();
  }

  /** Cancels every timer and withdraws all forwarding state. */
  stop(): void {
    if (!this.querier.started) return;
    this.querier.stopTimers();
    for (const g of [...this.groups.values()]) this.deleteGroup(g);
    this.touched = [];
    this.querier.resign();
  }

  /** Address change (DHCP, late interfaces): re-runs the election against the known querier. */
  setAddresses(ownAddress: Address | null, subnets: string[]): void {
    this.link.ownAddress = ownAddress;
    this.link.subnets = new CidrSet(subnets);
    this.querier.ownAddressChanged();
  }

  /**
   * Applies new settings without losing state (configuration reload). The RFC 9776 §8 /
   * RFC 9777 §9 values are read where they are used, so every timer set from now on uses
   * the new ones; running timers keep their deadlines, except the next general query,
   * which is brought forward when the new Query Interval is shorter than what is left.
   * State the new group or source policy refuses is withdrawn at once (withdrawRefused).
   */
  setConfig(config: RouterConfig): void {
    this.config = config;
    this.configLevel = this.desc.levelOfVersion(config.version);
    this.ranges = groupRanges(this.family, config);
    this.sourcePolicy = new SourcePolicy(config.allowSources, config.denySources);
    this.groups.setConfig(config);
    this.rateLimiter.setRates(config.reportRateLimit, config.hostReportRateLimit);
    this.queries.setConfig(config, this.configLevel);
    this.querier.setConfig(config, this.configLevel);
    if (this.querier.started) this.withdrawRefused();
  }

  /**
   * After a policy change: a group the group checks now refuse (ignore-groups,
   * deny-groups, allow-groups) is deleted, a source the source policy now refuses loses its
   * record, and every other group's forwarding state is re-derived under the new source
   * policy. The effects go out at once: the merge leaves upstream what nobody else wants
   * and forwarding onto the link stops, instead of waiting for the timers.
   */
  private withdrawRefused(): void {
    for (const g of [...this.groups.values()]) {
      if (checkGroup(this.ranges, g.group) !== null) {
        this.deleteGroup(g);
        continue;
      }
      const p = this.sourcePolicy.forGroup(g.group);
      if (p !== null) {
        for (const s of [...g.sources.keys()]) if (p.refusal(s) !== null) this.groups.removeSource(g, s);
      }
      g.forwardingDirty = true;
      this.touch(g);
    }
    this.settle();
  }

  /**
   * Whether traffic from `source` to `group` may be forwarded onto this link: the source
   * policy's verdict (prefix rules cannot be expressed in an EXCLUDE filter, so forwarding
   * entries enforce them).
   */
  sourceAllowed(group: Address, source: Address): boolean {
    return this.sourcePolicy.refusal(group, source) === null;
  }

  /**
   * `state` (a forwarding state of `group` on this link from elsewhere: the proxy's static
   * groups) under the link's source policy, as the link's own states are emitted.
   */
  policedState(
    group: Address,
    state: { filterMode: FilterMode; sources: Address[] },
  ): { filterMode: FilterMode; sources: Address[] } {
    const out = policedState(this.sourcePolicy.forGroup(group), state.filterMode, [...state.sources]);
    out.sources.sort(compareAddresses);
    return out;
  }

  // ------------------------------------------------------------------------------------
  // Input
  // ------------------------------------------------------------------------------------

  /** One decoded message received on this link. */
  handle(msg: Message, meta: ReceiveMeta): void {
    if (!this.querier.started) return;
    if (msg.family !== this.family) {
      this.drop("family-mismatch");
      return;
    }
    const reason = validateMessage(this.link, msg, meta);
    if (reason !== null) {
      this.drop(reason);
      return;
    }
    switch (msg.type) {
      case "query":
        this.counters.receive(messageKey(this.family, msg.version, "query"));
        this.receiveQuery(msg, meta);
        break;
      case "report":
        this.counters.receive(messageKey(this.family, msg.version, "report"));
        if (this.admit(meta.source, 1) === 1) this.receiveOlderReport(msg, meta);
        break;
      case "leave":
        // IGMPv2 Leave Group (RFC 2236 §2) / MLDv1 Done (RFC 2710 §3).
        this.counters.receive(messageKey(this.family, this.family === "ipv4" ? 2 : 1, "leave"));
        if (this.admit(meta.source, 1) === 1) this.receiveLeave(msg, meta);
        break;
      case "v3report": {
        // IGMPv3 (RFC 9776 §4.2) / MLDv2 (RFC 9777 §5.2) report.
        this.counters.receive(messageKey(this.family, this.family === "ipv4" ? 3 : 2, "report"));
        const records = msg.records;
        const n = this.admit(meta.source, records.length);
        for (let i = 0; i < n; i++) this.receiveRecord(records[i]!, meta);
        break;
      }
    }
    this.settle();
  }

  /**
   * The report rate limits (reportRateLimit per link, hostReportRateLimit per host): how
   * many of the message's `n` records are processed; the rest is dropped as `rate-limit`.
   */
  private admit(host: Address, n: number): number {
    if (n === 0) return 0;
    const granted = this.rateLimiter.take(host, n, this.scheduler.now());
    if (granted < n) this.drop("rate-limit", n - granted);
    return granted;
  }

  private drop(reason: DropReason, n = 1): void {
    this.counters.drop(reason, n);
  }

  /**
   * A query: the querier part runs the election and learns QRV / QQI; here, a Q(G) or
   * Q(G,A) with the S flag clear lowers timers to LMQT (RFC 9776 §6.6.1), both for the
   * querier and for non-queriers.
   */
  private receiveQuery(q: Query, meta: ReceiveMeta): void {
    const now = this.scheduler.now();
    const general = q.group === this.desc.unspecified;
    if (!general) {
      const bad = checkGroup(this.ranges, q.group);
      if (bad !== null) {
        this.drop(bad);
        return;
      }
    }
    this.querier.receiveQuery(q, meta.source, now);

    if (general || q.sFlag) return;
    const g = this.groups.get(q.group);
    if (g === undefined) return;
    const lmqtDeadline = now + this.lastMemberQueryTimeMs;
    if (q.sources.length === 0) {
      if (g.filterMode === "exclude" && g.groupTimer > lmqtDeadline) g.groupTimer = lmqtDeadline;
    } else {
      for (const s of q.sources) {
        const r = g.sources.get(s);
        if (r !== undefined && r.timer > lmqtDeadline) r.timer = lmqtDeadline;
      }
    }
    this.touch(g);
  }

  // ------------------------------------------------------------------------------------
  // Reports
  // ------------------------------------------------------------------------------------

  /** IGMPv1/v2 report, MLDv1 report: Older Host Present timer, then IS_EX({}) (§7.3.2). */
  private receiveOlderReport(msg: Report, meta: ReceiveMeta): void {
    const bad = olderMessageRefusal(this.ranges, msg.group);
    if (bad !== null) {
      this.drop(bad);
      return;
    }
    const now = this.scheduler.now();
    const g = this.groups.obtain(msg.group, now, meta.source);
    if (g === undefined) return;
    const level = this.desc.levelOfReport(msg.version);
    if (level === 1) g.olderV1Until = now + this.olderHostPresentIntervalMs;
    else g.olderV2Until = now + this.olderHostPresentIntervalMs;
    this.applyRecord(g, MODE_IS_EXCLUDE, [], meta.source);
  }

  /** IGMPv2 leave, MLDv1 done: TO_IN({}), ignored while an IGMPv1 host is present (§7.3.2). */
  private receiveLeave(msg: Leave, meta: ReceiveMeta): void {
    const bad = olderMessageRefusal(this.ranges, msg.group);
    if (bad !== null) {
      this.drop(bad);
      return;
    }
    const g = this.groups.get(msg.group);
    if (this.levelOf(g) === 1) {
      this.drop("leave-in-v1-mode");
      return;
    }
    if (g === undefined) return;
    this.applyRecord(g, CHANGE_TO_INCLUDE_MODE, [], meta.source);
  }

  /** One IGMPv3 / MLDv2 group record. */
  private receiveRecord(rec: GroupRecord, meta: ReceiveMeta): void {
    this.counters.receive("group-record");
    const bad = recordRefusal(this.ranges, rec);
    if (bad !== null) {
      this.drop(bad);
      return;
    }
    const type = rec.recordType;
    let sources = rec.sources;
    const existing = this.groups.get(rec.group);
    const level = this.levelOf(existing);
    // RFC 9776 §7.3.2 / RFC 9777 §8.3.2: older-version group compatibility mode.
    if (level < 3) {
      if (type === BLOCK_OLD_SOURCES) {
        this.drop("block-in-compat-mode");
        return;
      }
      if (type === CHANGE_TO_EXCLUDE_MODE) sources = [];
      if (level === 1 && type === CHANGE_TO_INCLUDE_MODE) {
        this.drop("leave-in-v1-mode");
        return;
      }
    }
    if (sources.length > 1) sources = dedupe(sources);
    if (sources.length > 0) sources = this.policeSources(rec.group, type, sources);
    // A missing group is INCLUDE({}); only records that leave state behind create it.
    const creates =
      type === MODE_IS_EXCLUDE ||
      type === CHANGE_TO_EXCLUDE_MODE ||
      (type !== BLOCK_OLD_SOURCES && sources.length > 0);
    // A record that would create the group also claims it for its reporter (maxGroupsPerHost).
    const g = creates ? this.groups.obtain(rec.group, this.scheduler.now(), meta.source) : existing;
    if (g === undefined) return;
    this.applyRecord(g, type, sources, meta.source);
  }

  /**
   * A record's sources without those the source policy refuses, so that they never get a
   * source record here. A refused source asked for (IS_IN, ALLOW, TO_IN) is counted per
   * reason; in IS_EX, TO_EX and BLOCK lists a source is one a host does not want, and
   * leaving it out refuses nothing (the forwarding state and entries keep it out).
   */
  private policeSources(group: Address, type: number, sources: Address[]): Address[] {
    const p = this.sourcePolicy.forGroup(group);
    if (p === null) return sources;
    const asked = type === MODE_IS_INCLUDE || type === ALLOW_NEW_SOURCES || type === CHANGE_TO_INCLUDE_MODE;
    const kept: Address[] = [];
    for (const s of sources) {
      const why = p.refusal(s);
      if (why === null) kept.push(s);
      else if (asked) this.drop(why);
    }
    return kept;
  }

  /** Group compatibility level: min(configured, older hosts present) (§7.3.1, §7.3.2). */
  private levelOf(g: GroupState | undefined): Level {
    if (g === undefined) return this.configLevel;
    const now = this.scheduler.now();
    if (g.olderV1Until > now || this.configLevel === 1) return 1;
    if (g.olderV2Until > now || this.configLevel === 2) return 2;
    return 3;
  }

  // ------------------------------------------------------------------------------------
  // Action tables: RFC 9776 §6.4.1 (current state) and §6.4.2 (state change),
  // RFC 9777 §7.4.1 / §7.4.2. X = sources with running timers, Y = timer 0.
  // ------------------------------------------------------------------------------------

  private applyRecord(g: GroupState, type: number, b: readonly Address[], reporter: Address): void {
    const now = this.scheduler.now();
    const gmi = now + this.groupMembershipIntervalMs;
    g.lastReporter = reporter;
    this.touch(g);
    if (g.filterMode === "include") {
      switch (type) {
        case MODE_IS_INCLUDE: // INCLUDE (A+B); (B)=GMI
        case ALLOW_NEW_SOURCES: // INCLUDE (A+B); (B)=GMI
          for (const s of b) this.groups.setSourceTimer(g, s, gmi);
          break;
        case CHANGE_TO_INCLUDE_MODE: {
          // INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
          const inB = new Set(b);
          const aMinusB = [...g.sources.keys()].filter((s) => !inB.has(s));
          for (const s of b) this.groups.setSourceTimer(g, s, gmi);
          this.queries.sendGroupSourceQuery(g, aMinusB);
          break;
        }
        case BLOCK_OLD_SOURCES: // INCLUDE (A); Send Q(G,A*B)
          this.queries.sendGroupSourceQuery(
            g,
            b.filter((s) => g.sources.has(s)),
          );
          break;
        case MODE_IS_EXCLUDE: // EXCLUDE (A*B,B-A); (B-A)=0; Delete (A-B); Group Timer=GMI
        case CHANGE_TO_EXCLUDE_MODE: {
          // EXCLUDE (A*B,B-A); (B-A)=0; Delete (A-B); Send Q(G,A*B); Group Timer=GMI
          const inB = new Set(b);
          for (const s of [...g.sources.keys()]) if (!inB.has(s)) this.groups.deleteSource(g, s);
          for (const s of b) if (!g.sources.has(s)) this.groups.addSource(g, s, 0);
          g.filterMode = "exclude";
          g.forwardingDirty = true;
          if (type === CHANGE_TO_EXCLUDE_MODE) this.queries.sendGroupSourceQuery(g, g.forwardedSources());
          g.groupTimer = gmi;
          break;
        }
      }
    } else {
      switch (type) {
        case MODE_IS_INCLUDE: // EXCLUDE (X+A,Y-A); (A)=GMI
        case ALLOW_NEW_SOURCES: // EXCLUDE (X+A,Y-A); (A)=GMI
          for (const s of b) this.groups.setSourceTimer(g, s, gmi);
          break;
        case CHANGE_TO_INCLUDE_MODE: {
          // EXCLUDE (X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
          const inA = new Set(b);
          const xMinusA = g.forwardedSources().filter((s) => !inA.has(s));
          for (const s of b) this.groups.setSourceTimer(g, s, gmi);
          this.queries.sendGroupSourceQuery(g, xMinusA);
          this.queries.sendGroupQuery(g);
          break;
        }
        case BLOCK_OLD_SOURCES: {
          // EXCLUDE (X+(A-Y),Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)
          for (const s of b) if (!g.sources.has(s)) this.groups.addSource(g, s, g.groupTimer);
          const aMinusY = b.filter((s) => (g.sources.get(s)?.timer ?? 0) > 0);
          this.queries.sendGroupSourceQuery(g, aMinusY);
          break;
        }
        case MODE_IS_EXCLUDE: // EXCLUDE (A-Y,Y*A); (A-X-Y)=GMI; Delete (X-A); Delete (Y-A); Group Timer=GMI
        case CHANGE_TO_EXCLUDE_MODE: {
          // EXCLUDE (A-Y,Y*A); (A-X-Y)=Group Timer; Delete (X-A); Delete (Y-A); Send Q(G,A-Y); Group Timer=GMI
          const inA = new Set(b);
          for (const s of [...g.sources.keys()]) if (!inA.has(s)) this.groups.deleteSource(g, s);
          const newTimer = type === MODE_IS_EXCLUDE ? gmi : g.groupTimer;
          for (const s of b) if (!g.sources.has(s)) this.groups.addSource(g, s, newTimer);
          if (type === CHANGE_TO_EXCLUDE_MODE) {
            this.queries.sendGroupSourceQuery(
              g,
              b.filter((s) => (g.sources.get(s)?.timer ?? 0) > 0),
            );
          }
          g.groupTimer = gmi;
          break;
        }
      }
    }
    // Explicit tracking serves fast leave only; without it the RFC timing needs no host list.
    if (this.config.fastLeave) this.track(g, type, b, reporter, now);
  }

  // ------------------------------------------------------------------------------------
  // Explicit tracking and fast leave
  // ------------------------------------------------------------------------------------

  private track(g: GroupState, type: number, b: readonly Address[], reporter: Address, now: number): void {
    const anonymous = reporter === this.desc.unspecified;
    const reduces =
      type === CHANGE_TO_INCLUDE_MODE || type === BLOCK_OLD_SOURCES || type === CHANGE_TO_EXCLUDE_MODE;
    // An anonymous reporter cannot be told apart from others: its leaves do not count.
    if (anonymous && (type === CHANGE_TO_INCLUDE_MODE || type === BLOCK_OLD_SOURCES)) return;
    const gmi = now + this.groupMembershipIntervalMs;
    const current = g.hosts.get(reporter);
    const before = hostUnits(current);
    this.groups.setHostRecord(g, reporter, trackRecord(current, type, b, gmi), before, gmi);
    if (reduces && this.config.fastLeave) this.groups.fastLeave(g, now);
  }

  // ------------------------------------------------------------------------------------
  // Timers (RFC 9776 §6.5, §6.6, §7.3.2)
  // ------------------------------------------------------------------------------------

  /** The timer callback of every group of the link (no closure per group: the group is its argument). */
  private readonly fireGroupTimer = (g: GroupState): void => this.groupTimerFired(g);

  private groupTimerFired(g: GroupState): void {
    g.timerId = null;
    if (!this.groups.holds(g)) return;
    const now = this.scheduler.now();
    this.touch(g);
    this.queries.retransmit(g, now);
    if (g.olderV1Until > 0 && g.olderV1Until <= now) g.olderV1Until = 0;
    if (g.olderV2Until > 0 && g.olderV2Until <= now) g.olderV2Until = 0;
    // §6.6 source timer expiry: INCLUDE -> delete the source; EXCLUDE -> move it to Y.
    for (const [s, r] of g.sources) {
      if (r.timer !== 0 && r.timer <= now) this.groups.expireSource(g, s, r);
    }
    if (g.filterMode === "exclude" && g.groupTimer <= now) this.groups.switchToInclude(g);
    this.groups.pruneHosts(g, now);
    this.settle();
  }

  // ------------------------------------------------------------------------------------
  // Settling: forwarding effects and per-group timers, once per input
  // ------------------------------------------------------------------------------------

  private touch(g: GroupState): void {
    this.touched.push(g);
  }

  private settle(): void {
    const list = this.touched;
    if (list.length === 0) return;
    this.touched = [];
    for (const g of list) {
      if (!this.groups.holds(g)) continue;
      // §6.5 / §6.6: an INCLUDE record without sources is deleted.
      if (g.filterMode === "include" && g.sources.size === 0) {
        this.deleteGroup(g);
        continue;
      }
      if (g.forwardingDirty) this.emitForwarding(g);
      this.armGroup(g);
    }
  }

  /** The group's forwarding state on the link, under the source policy (source-policy.ts). */
  private emitForwarding(g: GroupState): void {
    g.forwardingDirty = false;
    const { filterMode, sources } = policedState(
      this.sourcePolicy.forGroup(g.group),
      g.filterMode,
      g.filterMode === "include" ? g.forwardedSources() : g.blockedSources(),
    );
    sources.sort(compareAddresses);
    const nothing = filterMode === "include" && sources.length === 0;
    const last = g.lastForwardingSources;
    if (
      nothing
        ? last === null
        : g.lastForwardingMode === filterMode && last !== null && sameItems(last, sources)
    )
      return;
    g.lastForwardingMode = nothing ? null : filterMode;
    // Any-source joins (EXCLUDE {}) share one empty list rather than keep one each.
    g.lastForwardingSources = nothing ? null : sources.length === 0 ? NO_ADDRESSES : sources;
    this.onEffect({ type: "forwarding", group: g.group, filterMode, sources: [...sources] });
  }

  private deleteGroup(g: GroupState): void {
    this.cancelTimer(g.timerId);
    g.timerId = null;
    this.groups.remove(g);
    if (g.lastForwardingSources !== null) {
      g.lastForwardingMode = null;
      g.lastForwardingSources = null;
      this.onEffect({ type: "forwarding", group: g.group, filterMode: "include", sources: [] });
    }
  }

  /**
   * One scheduler timer per group, for its earliest deadline. A timer armed earlier than
   * needed is kept (it fires, finds nothing due and re-arms): refreshes cost no heap work.
   */
  private armGroup(g: GroupState): void {
    const d = g.earliestDeadline();
    if (d === Number.POSITIVE_INFINITY) {
      this.cancelTimer(g.timerId);
      g.timerId = null;
      return;
    }
    if (g.timerId !== null && g.armedAt <= d) return;
    this.cancelTimer(g.timerId);
    g.armedAt = d;
    g.timerId = this.scheduler.at(d, this.fireGroupTimer, g);
  }

  private cancelTimer(id: TimerId | null): void {
    if (id !== null) this.scheduler.cancel(id);
  }

  // ------------------------------------------------------------------------------------
  // Read-only views
  // ------------------------------------------------------------------------------------

  /** Number of groups with state on this link. */
  get groupCount(): number {
    return this.groups.size;
  }

  snapshot(): LinkSnapshot {
    const now = this.scheduler.now();
    const groups = groupSnapshots(this.groups.values(), now, (g) =>
      this.desc.versionOfLevel(this.levelOf(g)),
    );
    return {
      ifname: this.ifname,
      family: this.family,
      version: this.config.version,
      started: this.querier.started,
      querier: this.querier.isQuerier,
      querierAddress: this.querier.currentQuerier,
      ownAddress: this.link.ownAddress,
      otherQuerierPresentMs: this.querier.otherQuerierPresentMs(now),
      robustnessVariable: this.robustnessVariable,
      queryIntervalMs: this.queryIntervalMs,
      groupMembershipIntervalMs: this.groupMembershipIntervalMs,
      clampedAdoption: this.querier.clampedAdoption === null ? null : { ...this.querier.clampedAdoption },
      groupCount: this.groups.size,
      groups,
    };
  }
}

function dedupe(sources: Address[]): Address[] {
  const set = new Set(sources);
  return set.size === sources.length ? sources : [...set];
}
