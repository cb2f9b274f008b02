/**
 * Group-specific and group-and-source-specific queries (RFC 9776 §6.6.3, RFC 9777 §7.6.3):
 * the timer lowering of "Send Q(G)" / "Send Q(G,X)", the retransmissions [Last Member
 * Query Interval] apart, and the S flag rules. Only the querier sends them and lowers its
 * own timers; non-queriers lower timers on the querier's queries (§6.6.1, in
 * `LinkRouter`). The retransmission state lives in each `GroupState`; the group's one
 * scheduler timer calls `retransmit` when a round is due.
 */
import type { Scheduler } from "../clock/scheduler.js";
import type { Address } from "../wire/types.js";
import type { GroupState } from "./group.js";
import type { Level } from "./protocol.js";
import type { Querier } from "./querier.js";
import type { RouterConfig } from "./types.js";

export class SpecificQueries {
  constructor(
    private readonly querier: Querier,
    private readonly scheduler: Scheduler,
    private config: RouterConfig,
    private configLevel: Level,
  ) {}

  setConfig(config: RouterConfig, level: Level): void {
    this.config = config;
    this.configLevel = level;
  }

  /** Last Member Query Time = LMQI * LMQC (§8.9). */
  get lastMemberQueryTimeMs(): number {
    return this.config.lastMemberQueryIntervalMs * this.config.lastMemberQueryCount;
  }

  /** "Send Q(G)" (§6.6.3.1): lower the group timer to LMQT, send now, LMQC-1 retransmissions. */
  sendGroupQuery(g: GroupState): void {
    if (!this.querier.isQuerier || this.configLevel < 2) return;
    const now = this.scheduler.now();
    const lmqt = this.lastMemberQueryTimeMs;
    if (g.groupTimer > now + lmqt) g.groupTimer = now + lmqt;
    g.groupQueryRetransmit = this.config.lastMemberQueryCount;
    this.groupQueryRound(g, now);
  }

  /** One Q(G) transmission; the S flag is set when the group timer is above LMQT. */
  private groupQueryRound(g: GroupState, now: number): void {
    const lmqt = this.lastMemberQueryTimeMs;
    this.querier.send(
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
  sendGroupSourceQuery(g: GroupState, x: readonly Address[]): void {
    if (!this.querier.isQuerier || this.configLevel < 3 || x.length === 0) return;
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
    if (withS.length > 0) this.querier.send(g.group, withS, true, mrt, "group-source-query");
    if (withoutS.length > 0) this.querier.send(g.group, withoutS, false, mrt, "group-source-query");
    g.nextSourceQueryAt = more ? now + this.config.lastMemberQueryIntervalMs : 0;
  }

  /**
   * The rounds due at `now` (the group's timer fired): sent while this router is the
   * querier; a router that lost the querier role since drops its retransmission state.
   */
  retransmit(g: GroupState, now: number): void {
    if (g.nextGroupQueryAt > 0 && g.nextGroupQueryAt <= now) {
      if (this.querier.isQuerier) this.groupQueryRound(g, now);
      else {
        g.nextGroupQueryAt = 0;
        g.groupQueryRetransmit = 0;
      }
    }
    if (g.nextSourceQueryAt > 0 && g.nextSourceQueryAt <= now) {
      if (this.querier.isQuerier) this.sourceQueryRound(g, now);
      else {
        g.nextSourceQueryAt = 0;
        for (const r of g.sources.values()) r.retransmit = 0;
      }
    }
  }
}
