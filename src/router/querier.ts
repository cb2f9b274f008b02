/**
 * The querier part of one link (RFC 9776 §6.6, RFC 9777 §7.6; docs/protocol.md "Querier
 * election"): querier election and the Other Querier Present timer, the startup and
 * periodic general queries, the Robustness Variable and Query Interval learned from the
 * elected querier, the timer values derived from them (RFC 9776 §8, RFC 9777 §9) and the
 * sending of every query. Group state is not its business: `LinkRouter` asks it whether
 * this router is the querier and has it send the specific queries.
 */
import type { Scheduler, TimerId } from "../clock/scheduler.js";
import { compareAddresses } from "../wire/address.js";
import type { Address, Query } from "../wire/types.js";
import { type MessageType, messageKey, type RouterCounters } from "./counters.js";
import type { Level, ProtocolDescriptor } from "./protocol.js";
import type { RouterConfig, RouterEffect } from "./types.js";
import type { LinkAddressing } from "./validate.js";

export interface QuerierOptions {
  desc: ProtocolDescriptor;
  config: RouterConfig;
  scheduler: Scheduler;
  counters: RouterCounters;
  onEffect: (e: RouterEffect) => void;
  /** The link's addresses, shared with (and updated by) the link router. */
  link: LinkAddressing;
}

export class Querier {
  private readonly desc: ProtocolDescriptor;
  private config: RouterConfig;
  private configLevel: Level;
  private readonly scheduler: Scheduler;
  private readonly counters: RouterCounters;
  private readonly onEffect: (e: RouterEffect) => void;
  private readonly link: LinkAddressing;

  /** Between start() and stop(). */
  started = false;
  // Querier election (RFC 9776 §6.6.2, RFC 9777 §7.6.2).
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
  /**
   * QRV / QQI as advertised by the querier when its last query had one above the
   * configured bound (what was clamped); null otherwise.
   */
  clampedAdoption: { robustness: number; queryIntervalMs: number } | null = null;

  constructor(opts: QuerierOptions) {
    this.desc = opts.desc;
    this.config = opts.config;
    this.configLevel = opts.desc.levelOfVersion(opts.config.version);
    this.scheduler = opts.scheduler;
    this.counters = opts.counters;
    this.onEffect = opts.onEffect;
    this.link = opts.link;
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

  get isQuerier(): boolean {
    return this.querier;
  }

  get currentQuerier(): Address | null {
    return this.querierAddress;
  }

  /** Remaining Other Querier Present time; null while this router is querier or stopped. */
  otherQuerierPresentMs(now: number): number | null {
    return this.querier || !this.started ? null : Math.max(0, this.otherQuerierUntil - now);
  }

  // ------------------------------------------------------------------------------------
  // Lifecycle, configuration, addresses
  // ------------------------------------------------------------------------------------

  /** Starts as querier (§6.6.2) with [Startup Query Count] general queries (§8.6, §8.7). */
  start(): void {
    this.started = true;
    this.becomeQuerier(true);
  }

  /** First half of stopping: no timer of the querier part is left. */
  stopTimers(): void {
    this.started = false;
    this.cancelTimer(this.generalQueryTimer);
    this.generalQueryTimer = null;
    this.cancelTimer(this.otherQuerierTimer);
    this.otherQuerierTimer = null;
  }

  /** Second half of stopping, once the groups are withdrawn: report `querier: false`. */
  resign(): void {
    if (this.querier || this.querierAddress !== null) {
      this.querier = false;
      this.querierAddress = null;
      this.onEffect({ type: "querier", querier: false, querierAddress: null });
    }
  }

  /**
   * New settings (configuration reload): the next general query is brought forward when
   * the new Query Interval is shorter than what is left of the current one.
   */
  setConfig(config: RouterConfig, level: Level): void {
    this.config = config;
    this.configLevel = level;
    const now = this.scheduler.now();
    if (this.generalQueryTimer !== null && this.generalQueryAt > now + config.queryIntervalMs) {
      this.cancelTimer(this.generalQueryTimer);
      this.generalQueryAt = now + config.queryIntervalMs;
      this.generalQueryTimer = this.scheduler.at(this.generalQueryAt, () => this.generalQueryTick());
    }
  }

  /** The link's own address changed (already stored in the shared addressing): re-run the election. */
  ownAddressChanged(): void {
    if (!this.started) return;
    const ownAddress = this.link.ownAddress;
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
  // Received queries: election (§6.6.2), learning (§4.1.6, §4.1.7)
  // ------------------------------------------------------------------------------------

  /** A valid query from `source`, heard at `now`. */
  receiveQuery(q: Query, source: Address, now: number): void {
    if (this.desc.levelOfQuery(q.version) < this.configLevel) this.counters.olderVersionQueries++;
    if (source === this.desc.unspecified) {
      this.counters.drop("query-unspecified-source");
      return;
    }
    const ownAddress = this.link.ownAddress;
    if (ownAddress !== null && compareAddresses(source, ownAddress) >= 0) return;
    // A query from a lower address: that router is (or becomes) the querier.
    const wasQuerier = this.querier;
    const prev = this.querierAddress;
    if (wasQuerier || prev === null || compareAddresses(source, prev) <= 0) this.querierAddress = source;
    if (wasQuerier) {
      this.querier = false;
      this.cancelTimer(this.generalQueryTimer);
      this.generalQueryTimer = null;
    }
    // RFC 9776 §4.1.6 / §4.1.7, RFC 9777 §5.1.8 / §5.1.9: adopt non-zero QRV / QQI of the
    // IGMPv3 / MLDv2 querier, clamped (docs/protocol.md "Querier election").
    if (source === this.querierAddress && this.desc.levelOfQuery(q.version) === 3) this.adopt(q);
    this.otherQuerierUntil = now + this.otherQuerierPresentIntervalMs;
    this.cancelTimer(this.otherQuerierTimer);
    this.otherQuerierTimer = this.scheduler.at(this.otherQuerierUntil, () => this.otherQuerierExpired());
    if (wasQuerier || prev !== this.querierAddress) this.emitQuerier();
  }

  /**
   * Adopts the elected querier's QRV and QQI (§4.1.6, §4.1.7), each clamped to its
   * configured bound (never below our own value): one forged query must not stretch the
   * Other Querier Present and Group Membership intervals to hours. A clamp is counted
   * (refusals `max-adopted-robustness`, `max-adopted-query-interval`) and the advertised
   * values are kept for the snapshot.
   */
  private adopt(q: Query): void {
    let clamped = false;
    if (q.qrv > 0) {
      const bound = Math.max(this.config.maxAdoptedRobustness, this.config.robustnessVariable);
      this.learnedRobustness = Math.min(q.qrv, bound);
      if (q.qrv > bound) {
        this.counters.refuse("max-adopted-robustness");
        clamped = true;
      }
    }
    if (q.qqiSeconds > 0) {
      const bound = Math.max(this.config.maxAdoptedQueryIntervalMs, this.config.queryIntervalMs);
      const qi = q.qqiSeconds * 1000;
      this.learnedQueryIntervalMs = Math.min(qi, bound);
      if (qi > bound) {
        this.counters.refuse("max-adopted-query-interval");
        clamped = true;
      }
    }
    this.clampedAdoption = clamped ? { robustness: q.qrv, queryIntervalMs: q.qqiSeconds * 1000 } : null;
  }

  /** Other Querier Present timer ran out (§6.6.2): resume as querier. */
  private otherQuerierExpired(): void {
    this.otherQuerierTimer = null;
    if (!this.started || this.querier) return;
    this.becomeQuerier(false);
  }

  private becomeQuerier(startup: boolean): void {
    this.querier = true;
    this.querierAddress = this.link.ownAddress;
    this.learnedRobustness = 0;
    this.learnedQueryIntervalMs = 0;
    this.clampedAdoption = null;
    this.otherQuerierUntil = 0;
    this.cancelTimer(this.otherQuerierTimer);
    this.otherQuerierTimer = null;
    this.emitQuerier();
    this.startupQueriesSent = startup ? 0 : this.config.startupQueryCount;
    this.generalQueryTick();
  }

  private emitQuerier(): void {
    this.onEffect({ type: "querier", querier: this.querier, querierAddress: this.querierAddress });
  }

  // ------------------------------------------------------------------------------------
  // Sending
  // ------------------------------------------------------------------------------------

  private generalQueryTick(): void {
    this.generalQueryTimer = null;
    if (!this.started || !this.querier) return;
    this.send(this.desc.unspecified, [], false, this.config.queryResponseIntervalMs, "general-query");
    let delay = this.config.queryIntervalMs;
    if (this.startupQueriesSent < this.config.startupQueryCount) {
      this.startupQueriesSent++;
      if (this.startupQueriesSent < this.config.startupQueryCount) delay = this.config.startupQueryIntervalMs;
    }
    this.generalQueryAt = this.scheduler.now() + delay;
    this.generalQueryTimer = this.scheduler.at(this.generalQueryAt, () => this.generalQueryTick());
  }

  /**
   * Sends a query in the configured version's format (split when a Q(G,S) does not fit one
   * packet), counted under `kind`, to all-hosts (general) or the group. QRV and QQIC
   * carry the configured values, not learned ones.
   */
  send(group: Address, sources: Address[], sFlag: boolean, maxRespTimeMs: number, kind: MessageType): void {
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
      this.counters.send(messageKey(this.desc.family, query.version, kind));
      this.onEffect({ type: "send", query, destination });
    }
  }

  private cancelTimer(id: TimerId | null): void {
    if (id !== null) this.scheduler.cancel(id);
  }
}
