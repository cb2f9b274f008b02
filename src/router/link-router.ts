/**
 * The router part of RFC 9776 (IGMPv3) / RFC 9777 (MLDv2) for one link and one family,
 * with the IGMPv1/v2 (RFC 1112, RFC 2236) and MLDv1 (RFC 2710) compatibility rules and
 * source-specific multicast (RFC 4604). Functional core: input is decoded messages and
 * scheduler time, output is effects (send a query, a group's forwarding state changed,
 * querier status changed). Forwarding only where this router is the querier is the
 * proxy's job (RFC 4605 §4.2); this engine reports the querier status.
 */
import type { Scheduler, TimerId } from "../clock/scheduler.js";
import {
  CidrSet,
  compareAddresses,
  isLinkLocalGroup,
  isLinkLocalUnicast6,
  isMulticast,
} from "../wire/address.js";
import type { Address, IpFamily, GroupRecord, Leave, Message, Query, Report } from "../wire/types.js";
import { RecordType } from "../wire/types.js";
import { type DropReason, RouterCounters } from "./counters.js";
import { type ProtocolDescriptor, protocolDescriptor, type Level } from "./protocol.js";
import { GroupState } from "./group.js";
import type { GroupSnapshot, LinkSnapshot } from "./snapshot.js";
import { hostsWantExclude, hostsWantSource, trackRecord } from "./tracking.js";
import type { ReceiveMeta, RouterConfig, RouterEffect } from "./types.js";

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
  private ssm: CidrSet;
  private ignored: CidrSet;
  private ownAddress: Address | null;
  private subnets: CidrSet;

  private readonly groups = new Map<Address, GroupState>();
  /** (group, source) entries over all groups, bounded by maxGroupSources. */
  private sourceCount = 0;
  /** Groups touched by the current input; forwarding and timers are settled at the end. */
  private touched: GroupState[] = [];

  // Querier election (RFC 9776 §6.6.2, RFC 9777 §7.6.2).
  private started = false;
  private querier = false;
  private querierAddress: Address | null = null;
  private otherQuerierUntil = 0;
  private otherQuerierTimer: TimerId | null = null;
  private generalQueryTimer: TimerId | null = null;
  /** Deadline of the armed general query (0 = none). */
  private generalQueryAt = 0;
  private startupQueriesSent = 0;
  /** QRV / QQI learned from the elected querier (RFC 9776 §4.1.6, §4.1.7); 0 = not learned. */
  private learnedRobustness = 0;
  private learnedQueryIntervalMs = 0;

  constructor(opts: LinkRouterOptions) {
    this.family = opts.family;
    this.ifname = opts.ifname;
    this.desc = protocolDescriptor(opts.family);
    this.config = opts.config;
    this.scheduler = opts.scheduler;
    this.onEffect = opts.onEffect;
    this.configLevel = this.desc.levelOfVersion(opts.config.version);
    this.ssm = new CidrSet(opts.config.ssmRanges);
    this.ignored = new CidrSet(opts.config.ignoreGroups);
    this.ownAddress = opts.ownAddress;
    this.subnets = new CidrSet(opts.subnets);
  }

  // ------------------------------------------------------------------------------------
  // Timer values (RFC 9776 §8, RFC 9777 §9)
  // ------------------------------------------------------------------------------------

  /** [Robustness Variable], learned from the querier's QRV when not the querier (§4.1.6). */
  get robustnessVariable(): number {
    return !this.querier && this.learnedRobustness > 0
      ? this.learnedRobustness
      : this.config.robustnessVariable;
  }
  /** [Query Interval], learned from the querier's QQIC when not the querier (§4.1.7). */
  get queryIntervalMs(): number {
    return !this.querier && this.learnedQueryIntervalMs > 0
      ? this.learnedQueryIntervalMs
      : this.config.queryIntervalMs;
  }
  /** Group Membership Interval = RV * QI + QRI (§8.4). */
  get groupMembershipIntervalMs(): number {
    return this.robustnessVariable * this.queryIntervalMs + this.config.queryResponseIntervalMs;
  }
  /** Other Querier Present Interval = RV * QI + QRI / 2 (§8.5). */
  get otherQuerierPresentIntervalMs(): number {
    return this.robustnessVariable * this.queryIntervalMs + this.config.queryResponseIntervalMs / 2;
  }
  /** Older Host Present Interval = RV * QI + QRI (§8.13). */
  get olderHostPresentIntervalMs(): number {
    return this.groupMembershipIntervalMs;
  }
  /** Last Member Query Time = LMQI * LMQC (§8.9). */
  get lastMemberQueryTimeMs(): number {
    return this.config.lastMemberQueryIntervalMs * this.config.lastMemberQueryCount;
  }

  get isQuerier(): boolean {
    return this.querier;
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
    if (this.started) return;
    this.started = true;
    this.becomeQuerier(true);
  }

  /** Cancels every timer and withdraws all forwarding state. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.cancelTimer(this.generalQueryTimer);
    this.generalQueryTimer = null;
    this.cancelTimer(this.otherQuerierTimer);
    this.otherQuerierTimer = null;
    for (const g of [...this.groups.values()]) this.deleteGroup(g);
    this.touched = [];
    if (this.querier || this.querierAddress !== null) {
      this.querier = false;
      this.querierAddress = null;
      this.onEffect({ type: "querier", querier: false, querierAddress: null });
    }
  }

  /** Address change (DHCP, late interfaces): re-runs the election against the known querier. */
  setAddresses(ownAddress: Address | null, subnets: string[]): void {
    this.ownAddress = ownAddress;
    this.subnets = new CidrSet(subnets);
    if (!this.started) return;
    if (this.querier) {
      if (this.querierAddress !== ownAddress) {
        this.querierAddress = ownAddress;
        this.emitQuerier();
      }
    } else if (
      ownAddress !== null &&
      (this.querierAddress === null || compareAddresses(ownAddress, this.querierAddress) < 0)
    ) {
      this.becomeQuerier(false);
    }
  }

  // ------------------------------------------------------------------------------------
  // Input
  // ------------------------------------------------------------------------------------

  /** One decoded message received on this link. */
  handle(msg: Message, meta: ReceiveMeta): void {
    if (!this.started) return;
    if (msg.family !== this.family) {
      this.drop("family-mismatch");
      return;
    }
    const reason = this.validate(msg, meta);
    if (reason !== null) {
      this.drop(reason);
      return;
    }
    switch (msg.type) {
      case "query":
        this.counters.receive(`query-v${msg.version}`);
        this.receiveQuery(msg, meta);
        break;
      case "report":
        this.counters.receive(`report-v${msg.version}`);
        this.receiveOlderReport(msg, meta);
        break;
      case "leave":
        this.counters.receive("leave");
        this.receiveLeave(msg, meta);
        break;
      case "v3report":
        this.counters.receive("v3report");
        for (const rec of msg.records) this.receiveRecord(rec, meta);
        break;
    }
    this.settle();
  }

  /** Message-level checks (PROTOCOL.md "Input validation"); null = accept. */
  private validate(msg: Message, meta: ReceiveMeta): DropReason | null {
    const unspecified = meta.source === this.desc.unspecified;
    if (this.family === "ipv4") {
      // RFC 9776 §4 / RFC 2236 §2: all IGMP messages are sent with TTL 1.
      if (meta.ttl !== 1) return "bad-ttl";
      // RFC 9776 §9 (and §4.2.13: 0.0.0.0 is a valid report source).
      if (!unspecified && !this.subnets.has(meta.source)) return "source-not-on-link";
    } else {
      // RFC 9777 §5: hop limit 1, Router Alert, link-local source (:: allowed for
      // reports sent before the host has a link-local address, RFC 9777 §5.2.13).
      if (meta.ttl !== 1) return "bad-hop-limit";
      if (!meta.routerAlert) return "no-router-alert";
      if (!isLinkLocalUnicast6(meta.source) && !(unspecified && msg.type !== "query"))
        return "non-link-local-source";
    }
    if (this.ownAddress !== null && meta.source === this.ownAddress) return "own-message";
    // Reports and leaves go to a multicast address (RFC 9776 §4.2.14 accepts any the
    // router listens to: 224.0.0.22, all-systems, the group); unicast ones are dropped.
    if (msg.type !== "query" && !isMulticast(meta.destination, this.family)) return "unicast-destination";
    return null;
  }

  /** Group address checks shared by every message kind; null = manage it. */
  private checkGroup(group: Address): DropReason | null {
    if (!isMulticast(group, this.family)) return "invalid-group";
    if (isLinkLocalGroup(group, this.family)) return "link-local-group";
    if (this.ignored.has(group)) return "ignored-group";
    return null;
  }

  /** Why an IGMPv1/v2 or MLDv1 message about `group` is not processed (RFC 4604 §2.2.1 for SSM groups), or null. */
  private olderMessageRefusal(group: Address): DropReason | null {
    return this.checkGroup(group) ?? (this.ssm.has(group) ? "ssm-older-version" : null);
  }

  private drop(reason: DropReason): void {
    this.counters.drop(reason);
  }

  // ------------------------------------------------------------------------------------
  // Queries: election (RFC 9776 §6.6.2), learning (§4.1.6, §4.1.7), timer updates (§6.6.1)
  // ------------------------------------------------------------------------------------

  private receiveQuery(q: Query, meta: ReceiveMeta): void {
    const now = this.scheduler.now();
    const general = q.group === this.desc.unspecified;
    if (!general) {
      const bad = this.checkGroup(q.group);
      if (bad !== null) {
        this.drop(bad);
        return;
      }
    }
    if (this.desc.levelOfQuery(q.version) < this.configLevel) this.counters.olderVersionQueries++;

    if (meta.source === this.desc.unspecified) {
      this.drop("query-unspecified-source");
    } else if (this.ownAddress === null || compareAddresses(meta.source, this.ownAddress) < 0) {
      // A query from a lower address: that router is (or becomes) the querier.
      const wasQuerier = this.querier;
      const prev = this.querierAddress;
      if (wasQuerier || prev === null || compareAddresses(meta.source, prev) <= 0)
        this.querierAddress = meta.source;
      if (wasQuerier) {
        this.querier = false;
        this.cancelTimer(this.generalQueryTimer);
        this.generalQueryTimer = null;
      }
      if (meta.source === this.querierAddress && q.version === 3) {
        // RFC 9776 §4.1.6 / §4.1.7, RFC 9777 §5.1.8 / §5.1.9: adopt non-zero QRV / QQI.
        if (q.qrv > 0) this.learnedRobustness = q.qrv;
        if (q.qqiSeconds > 0) this.learnedQueryIntervalMs = q.qqiSeconds * 1000;
      } else if (meta.source === this.querierAddress && q.version === 2 && this.family === "ipv6") {
        if (q.qrv > 0) this.learnedRobustness = q.qrv;
        if (q.qqiSeconds > 0) this.learnedQueryIntervalMs = q.qqiSeconds * 1000;
      }
      this.otherQuerierUntil = now + this.otherQuerierPresentIntervalMs;
      this.cancelTimer(this.otherQuerierTimer);
      this.otherQuerierTimer = this.scheduler.at(this.otherQuerierUntil, () => this.otherQuerierExpired());
      if (wasQuerier || prev !== this.querierAddress) this.emitQuerier();
    }

    // RFC 9776 §6.6.1: a received Q(G) / Q(G,A) with the S flag clear lowers the group
    // timer / the timers of sources in A to LMQT (both for the querier and non-queriers).
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

  /** Other Querier Present timer ran out (§6.6.2): resume as querier. */
  private otherQuerierExpired(): void {
    this.otherQuerierTimer = null;
    if (!this.started || this.querier) return;
    this.becomeQuerier(false);
  }

  private becomeQuerier(startup: boolean): void {
    this.querier = true;
    this.querierAddress = this.ownAddress;
    this.learnedRobustness = 0;
    this.learnedQueryIntervalMs = 0;
    this.otherQuerierUntil = 0;
    this.cancelTimer(this.otherQuerierTimer);
    this.otherQuerierTimer = null;
    this.emitQuerier();
    this.startupQueriesSent = startup ? 0 : this.config.startupQueryCount;
    this.generalQueryTick();
  }

  private generalQueryTick(): void {
    this.generalQueryTimer = null;
    if (!this.started || !this.querier) return;
    this.sendQuery(this.desc.unspecified, [], false, this.config.queryResponseIntervalMs, "general-query");
    let delay = this.config.queryIntervalMs;
    if (this.startupQueriesSent < this.config.startupQueryCount) {
      this.startupQueriesSent++;
      if (this.startupQueriesSent < this.config.startupQueryCount) delay = this.config.startupQueryIntervalMs;
    }
    this.generalQueryAt = this.scheduler.now() + delay;
    this.generalQueryTimer = this.scheduler.at(this.generalQueryAt, () => this.generalQueryTick());
  }

  /**
   * Applies new settings without losing state (configuration reload). The RFC 9776 §8 /
   * RFC 9777 §9 values are read where they are used, so every timer set from now on uses
   * the new ones; running timers keep their deadlines, except the next general query,
   * which is brought forward when the new Query Interval is shorter than what is left.
   */
  setConfig(config: RouterConfig): void {
    this.config = config;
    this.configLevel = this.desc.levelOfVersion(config.version);
    this.ssm = new CidrSet(config.ssmRanges);
    this.ignored = new CidrSet(config.ignoreGroups);
    const now = this.scheduler.now();
    if (this.generalQueryTimer !== null && this.generalQueryAt > now + config.queryIntervalMs) {
      this.cancelTimer(this.generalQueryTimer);
      this.generalQueryAt = now + config.queryIntervalMs;
      this.generalQueryTimer = this.scheduler.at(this.generalQueryAt, () => this.generalQueryTick());
    }
  }

  private emitQuerier(): void {
    this.onEffect({ type: "querier", querier: this.querier, querierAddress: this.querierAddress });
  }

  private sendQuery(
    group: Address,
    sources: Address[],
    sFlag: boolean,
    maxRespTimeMs: number,
    kind: string,
  ): void {
    const queries = this.desc.buildQueries({
      level: this.configLevel,
      group,
      sources,
      maxRespTimeMs,
      sFlag,
      robustnessVariable: this.config.robustnessVariable,
      queryIntervalMs: this.config.queryIntervalMs,
    });
    const destination = group === this.desc.unspecified ? this.desc.allHosts : group;
    for (const query of queries) {
      this.counters.send(`${kind}-v${query.version}`);
      this.onEffect({ type: "send", query, destination });
    }
  }

  // ------------------------------------------------------------------------------------
  // Reports
  // ------------------------------------------------------------------------------------

  /** IGMPv1/v2 report, MLDv1 report: Older Host Present timer, then IS_EX({}) (§7.3.2). */
  private receiveOlderReport(msg: Report, meta: ReceiveMeta): void {
    const bad = this.olderMessageRefusal(msg.group);
    if (bad !== null) {
      this.drop(bad);
      return;
    }
    const g = this.groupFor(msg.group, true, meta.source);
    if (g === undefined) return;
    const now = this.scheduler.now();
    const level = this.desc.levelOfReport(msg.version);
    if (level === 1) g.olderV1Until = now + this.olderHostPresentIntervalMs;
    else g.olderV2Until = now + this.olderHostPresentIntervalMs;
    this.applyRecord(g, MODE_IS_EXCLUDE, [], meta.source);
  }

  /** IGMPv2 leave, MLDv1 done: TO_IN({}), ignored while an IGMPv1 host is present (§7.3.2). */
  private receiveLeave(msg: Leave, meta: ReceiveMeta): void {
    const bad = this.olderMessageRefusal(msg.group);
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
    const type = rec.recordType;
    if (type < MODE_IS_INCLUDE || type > BLOCK_OLD_SOURCES) {
      this.drop("unknown-record-type");
      return;
    }
    const bad = this.checkGroup(rec.group);
    if (bad !== null) {
      this.drop(bad);
      return;
    }
    // RFC 4604 §2.2.1: no EXCLUDE-mode membership in SSM ranges.
    if ((type === MODE_IS_EXCLUDE || type === CHANGE_TO_EXCLUDE_MODE) && this.ssm.has(rec.group)) {
      this.drop("ssm-exclude-record");
      return;
    }
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
    // A missing group is INCLUDE({}); only records that leave state behind create it.
    const creates =
      type === MODE_IS_EXCLUDE ||
      type === CHANGE_TO_EXCLUDE_MODE ||
      (type !== BLOCK_OLD_SOURCES && sources.length > 0);
    const g = existing ?? (creates ? this.groupFor(rec.group, true, meta.source) : undefined);
    if (g === undefined) return;
    this.applyRecord(g, type, sources, meta.source);
  }

  /** Group compatibility level: min(configured, older hosts present) (§7.3.1, §7.3.2). */
  private levelOf(g: GroupState | undefined): Level {
    if (g === undefined) return this.configLevel;
    const now = this.scheduler.now();
    if (g.olderV1Until > now || this.configLevel === 1) return 1;
    if (g.olderV2Until > now || this.configLevel === 2) return 2;
    return 3;
  }

  private groupFor(group: Address, create: boolean, reporter: Address): GroupState | undefined {
    let g = this.groups.get(group);
    if (g !== undefined || !create) return g;
    if (this.groups.size >= this.config.maxGroups) {
      this.counters.refuse("max-groups");
      return undefined;
    }
    g = new GroupState(group, this.scheduler.now(), reporter);
    this.groups.set(group, g);
    return g;
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
          for (const s of b) this.setSourceTimer(g, s, gmi);
          break;
        case CHANGE_TO_INCLUDE_MODE: {
          // INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
          const inB = new Set(b);
          const aMinusB = [...g.sources.keys()].filter((s) => !inB.has(s));
          for (const s of b) this.setSourceTimer(g, s, gmi);
          this.sendGroupSourceQuery(g, aMinusB);
          break;
        }
        case BLOCK_OLD_SOURCES: // INCLUDE (A); Send Q(G,A*B)
          this.sendGroupSourceQuery(
            g,
            b.filter((s) => g.sources.has(s)),
          );
          break;
        case MODE_IS_EXCLUDE: // EXCLUDE (A*B,B-A); (B-A)=0; Delete (A-B); Group Timer=GMI
        case CHANGE_TO_EXCLUDE_MODE: {
          // EXCLUDE (A*B,B-A); (B-A)=0; Delete (A-B); Send Q(G,A*B); Group Timer=GMI
          const inB = new Set(b);
          for (const s of [...g.sources.keys()]) if (!inB.has(s)) this.deleteSource(g, s);
          for (const s of b) if (!g.sources.has(s)) this.addSource(g, s, 0);
          g.filterMode = "exclude";
          g.forwardingDirty = true;
          if (type === CHANGE_TO_EXCLUDE_MODE) this.sendGroupSourceQuery(g, g.forwardedSources());
          g.groupTimer = gmi;
          break;
        }
      }
    } else {
      switch (type) {
        case MODE_IS_INCLUDE: // EXCLUDE (X+A,Y-A); (A)=GMI
        case ALLOW_NEW_SOURCES: // EXCLUDE (X+A,Y-A); (A)=GMI
          for (const s of b) this.setSourceTimer(g, s, gmi);
          break;
        case CHANGE_TO_INCLUDE_MODE: {
          // EXCLUDE (X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
          const inA = new Set(b);
          const xMinusA = g.forwardedSources().filter((s) => !inA.has(s));
          for (const s of b) this.setSourceTimer(g, s, gmi);
          this.sendGroupSourceQuery(g, xMinusA);
          this.sendGroupQuery(g);
          break;
        }
        case BLOCK_OLD_SOURCES: {
          // EXCLUDE (X+(A-Y),Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)
          for (const s of b) if (!g.sources.has(s)) this.addSource(g, s, g.groupTimer);
          const aMinusY = b.filter((s) => (g.sources.get(s)?.timer ?? 0) > 0);
          this.sendGroupSourceQuery(g, aMinusY);
          break;
        }
        case MODE_IS_EXCLUDE: // EXCLUDE (A-Y,Y*A); (A-X-Y)=GMI; Delete (X-A); Delete (Y-A); Group Timer=GMI
        case CHANGE_TO_EXCLUDE_MODE: {
          // EXCLUDE (A-Y,Y*A); (A-X-Y)=Group Timer; Delete (X-A); Delete (Y-A); Send Q(G,A-Y); Group Timer=GMI
          const inA = new Set(b);
          for (const s of [...g.sources.keys()]) if (!inA.has(s)) this.deleteSource(g, s);
          const newTimer = type === MODE_IS_EXCLUDE ? gmi : g.groupTimer;
          for (const s of b) if (!g.sources.has(s)) this.addSource(g, s, newTimer);
          if (type === CHANGE_TO_EXCLUDE_MODE) {
            this.sendGroupSourceQuery(
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

  /** Sets a source's timer, creating the source (within the limit) or moving it from Y to X. */
  private setSourceTimer(g: GroupState, s: Address, deadline: number): void {
    const r = g.sources.get(s);
    if (r === undefined) {
      this.addSource(g, s, deadline);
      return;
    }
    if (r.timer === 0) g.forwardingDirty = true;
    r.timer = deadline;
  }

  private addSource(g: GroupState, s: Address, timer: number): void {
    if (g.sources.size >= this.config.maxSourcesPerGroup) {
      this.counters.refuse("max-sources");
      return;
    }
    if (this.sourceCount >= (this.config.maxGroupSources ?? Number.POSITIVE_INFINITY)) {
      this.counters.refuse("max-group-sources");
      return;
    }
    g.sources.set(s, { timer, retransmit: 0 });
    this.sourceCount++;
    g.forwardingDirty = true;
  }

  private deleteSource(g: GroupState, s: Address): void {
    if (this.removeSource(g, s)) g.forwardingDirty = true;
  }

  /** Every source record leaves through here, so the link's count stays exact. */
  private removeSource(g: GroupState, s: Address): boolean {
    if (!g.sources.delete(s)) return false;
    this.sourceCount--;
    return true;
  }

  // ------------------------------------------------------------------------------------
  // Specific queries (RFC 9776 §6.6.3, RFC 9777 §7.6.3). Only the querier sends them and
  // lowers its own timers; non-queriers lower timers on the querier's queries (§6.6.1).
  // ------------------------------------------------------------------------------------

  /** "Send Q(G)" (§6.6.3.1): lower the group timer to LMQT, send now, LMQC-1 retransmissions. */
  private sendGroupQuery(g: GroupState): void {
    if (!this.querier || this.configLevel < 2) return;
    const now = this.scheduler.now();
    const lmqt = this.lastMemberQueryTimeMs;
    if (g.groupTimer > now + lmqt) g.groupTimer = now + lmqt;
    g.groupQueryRetransmit = this.config.lastMemberQueryCount;
    this.groupQueryRound(g, now);
  }

  /** One Q(G) transmission; the S flag is set when the group timer is above LMQT. */
  private groupQueryRound(g: GroupState, now: number): void {
    const lmqt = this.lastMemberQueryTimeMs;
    this.sendQuery(
      g.group,
      [],
      g.groupTimer > now + lmqt,
      this.config.lastMemberQueryIntervalMs,
      "group-query",
    );
    g.groupQueryRetransmit--;
    g.nextGroupQueryAt = g.groupQueryRetransmit > 0 ? now + this.config.lastMemberQueryIntervalMs : 0;
  }

  /**
   * "Send Q(G,X)" (§6.6.3.2): sources of X with timer > LMQT get [LMQC] retransmissions
   * and their timer lowered to LMQT; then a round is sent at once and every LMQI.
   * IGMPv2 / MLDv1 queriers cannot express Q(G,S): nothing is sent nor lowered.
   */
  private sendGroupSourceQuery(g: GroupState, x: readonly Address[]): void {
    if (!this.querier || this.configLevel < 3 || x.length === 0) return;
    const now = this.scheduler.now();
    const lmqtDeadline = now + this.lastMemberQueryTimeMs;
    let marked = false;
    for (const s of x) {
      const r = g.sources.get(s);
      if (r === undefined || r.timer <= lmqtDeadline) continue;
      r.retransmit = this.config.lastMemberQueryCount;
      r.timer = lmqtDeadline;
      marked = true;
    }
    if (marked) this.sourceQueryRound(g, now);
  }

  /**
   * One Q(G,S) round (§6.6.3.2): sources with retransmission state are split into a
   * query with the S flag set (timer > LMQT) and one with it clear (timer <= LMQT);
   * an empty one is not sent.
   */
  private sourceQueryRound(g: GroupState, now: number): void {
    const lmqtDeadline = now + this.lastMemberQueryTimeMs;
    const withS: Address[] = [];
    const withoutS: Address[] = [];
    let more = false;
    for (const [s, r] of g.sources) {
      if (r.retransmit <= 0) continue;
      (r.timer > lmqtDeadline ? withS : withoutS).push(s);
      r.retransmit--;
      if (r.retransmit > 0) more = true;
    }
    const mrt = this.config.lastMemberQueryIntervalMs;
    if (withS.length > 0) this.sendQuery(g.group, withS, true, mrt, "group-source-query");
    if (withoutS.length > 0) this.sendQuery(g.group, withoutS, false, mrt, "group-source-query");
    g.nextSourceQueryAt = more ? now + this.config.lastMemberQueryIntervalMs : 0;
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
    const rec = trackRecord(g.hosts.get(reporter), type, b, now + this.groupMembershipIntervalMs);
    if (rec === null) g.hosts.delete(reporter);
    else g.hosts.set(reporter, rec);
    if (reduces && this.config.fastLeave) this.fastLeave(g, now);
  }

  /**
   * Fast leave: what no live tracked host wants any more stops being forwarded now
   * (timers expire at once) instead of after LMQT. The queries of the RFC flow were
   * already sent, so hosts we could not track can still answer and re-join.
   */
  private fastLeave(g: GroupState, now: number): void {
    pruneHosts(g, now);
    if (g.filterMode === "exclude" && !hostsWantExclude(g.hosts, now)) this.switchToInclude(g);
    for (const [s, r] of g.sources) {
      if (r.timer === 0 || hostsWantSource(g.hosts, s, now)) continue;
      if (g.filterMode === "include") this.removeSource(g, s);
      else {
        r.timer = 0;
        r.retransmit = 0;
      }
      g.forwardingDirty = true;
    }
  }

  // ------------------------------------------------------------------------------------
  // Timers (RFC 9776 §6.5, §6.6, §7.3.2)
  // ------------------------------------------------------------------------------------

  /** §6.5: group timer expiry in EXCLUDE mode -> INCLUDE with the sources still running. */
  private switchToInclude(g: GroupState): void {
    for (const [s, r] of g.sources) if (r.timer === 0) this.removeSource(g, s);
    g.filterMode = "include";
    g.groupTimer = 0;
    g.forwardingDirty = true;
  }

  private groupTimerFired(g: GroupState): void {
    g.timerId = null;
    if (this.groups.get(g.group) !== g) return;
    const now = this.scheduler.now();
    this.touch(g);
    if (g.nextGroupQueryAt > 0 && g.nextGroupQueryAt <= now) {
      if (this.querier) this.groupQueryRound(g, now);
      else {
        g.nextGroupQueryAt = 0;
        g.groupQueryRetransmit = 0;
      }
    }
    if (g.nextSourceQueryAt > 0 && g.nextSourceQueryAt <= now) {
      if (this.querier) this.sourceQueryRound(g, now);
      else {
        g.nextSourceQueryAt = 0;
        for (const r of g.sources.values()) r.retransmit = 0;
      }
    }
    if (g.olderV1Until > 0 && g.olderV1Until <= now) g.olderV1Until = 0;
    if (g.olderV2Until > 0 && g.olderV2Until <= now) g.olderV2Until = 0;
    // §6.6 source timer expiry: INCLUDE -> delete the source; EXCLUDE -> move it to Y.
    for (const [s, r] of g.sources) {
      if (r.timer === 0 || r.timer > now) continue;
      if (g.filterMode === "include") this.removeSource(g, s);
      else {
        r.timer = 0;
        r.retransmit = 0;
      }
      g.forwardingDirty = true;
    }
    if (g.filterMode === "exclude" && g.groupTimer <= now) this.switchToInclude(g);
    pruneHosts(g, now);
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
      if (this.groups.get(g.group) !== g) continue;
      // §6.5 / §6.6: an INCLUDE record without sources is deleted.
      if (g.filterMode === "include" && g.sources.size === 0) {
        this.deleteGroup(g);
        continue;
      }
      if (g.forwardingDirty) this.emitForwarding(g);
      this.armGroup(g);
    }
  }

  private emitForwarding(g: GroupState): void {
    g.forwardingDirty = false;
    const sources = g.filterMode === "include" ? g.forwardedSources() : g.blockedSources();
    sources.sort(compareAddresses);
    const nothing = g.filterMode === "include" && sources.length === 0;
    const last = g.lastForwardingSources;
    if (
      nothing
        ? last === null
        : g.lastForwardingMode === g.filterMode && last !== null && sameList(last, sources)
    )
      return;
    g.lastForwardingMode = nothing ? null : g.filterMode;
    g.lastForwardingSources = nothing ? null : sources;
    this.onEffect({ type: "forwarding", group: g.group, filterMode: g.filterMode, sources: [...sources] });
  }

  private deleteGroup(g: GroupState): void {
    this.cancelTimer(g.timerId);
    g.timerId = null;
    this.groups.delete(g.group);
    this.sourceCount -= g.sources.size;
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
    g.timerId = this.scheduler.at(d, () => this.groupTimerFired(g));
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
    const groups: GroupSnapshot[] = [];
    for (const g of this.groups.values()) groups.push(this.groupSnapshot(g, now));
    groups.sort((a, b) => compareAddresses(a.group, b.group));
    return {
      ifname: this.ifname,
      family: this.family,
      version: this.config.version,
      started: this.started,
      querier: this.querier,
      querierAddress: this.querierAddress,
      ownAddress: this.ownAddress,
      otherQuerierPresentMs: this.querier || !this.started ? null : Math.max(0, this.otherQuerierUntil - now),
      robustnessVariable: this.robustnessVariable,
      queryIntervalMs: this.queryIntervalMs,
      groupMembershipIntervalMs: this.groupMembershipIntervalMs,
      groupCount: this.groups.size,
      groups,
    };
  }

  private groupSnapshot(g: GroupState, now: number): GroupSnapshot {
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
      version: this.desc.versionOfLevel(this.levelOf(g)),
      olderHostPresentMs: {
        v1: g.olderV1Until > now ? g.olderV1Until - now : 0,
        v2: g.olderV2Until > now ? g.olderV2Until - now : 0,
      },
      sources,
      hosts,
    };
  }
}

function pruneHosts(g: GroupState, now: number): void {
  for (const [h, rec] of g.hosts) if (rec.expires <= now) g.hosts.delete(h);
}

function sameList(a: readonly Address[], b: readonly Address[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function dedupe(sources: Address[]): Address[] {
  const set = new Set(sources);
  return set.size === sources.length ? sources : [...set];
}
