/**
 * The upstream side of one family on one upstream interface: the merged membership of the
 * groups that upstream serves (the family proxy sends each group to its upstream), applied
 * through the kernel's host stack (RFC 4605 §4.1), which then sends the IGMPv3/MLDv2
 * reports and answers the upstream querier. While the upstream interface is absent nothing
 * is applied; the caller re-applies the groups it serves on attach. Several upstreams have
 * one UpstreamHost each: their sockets, queues, rates and group limits are their own.
 *
 * Bounded and fair (a flood of groups from one downstream must not starve the others nor
 * exhaust the open files):
 * - Changes are not pushed to the kernel one by one as they come: each group has at most
 *   one pending filter (the latest: a group that changes five times while queued is
 *   applied once), and the queue is drained on the scheduler at `changesPerSecond`
 *   (a token bucket refilled with scheduler time, a batch of at most BATCH_MS worth of
 *   tokens, and never more than BATCH_BUDGET_MS of wall-clock time per batch).
 * - A group's first join (wanted, not held by the kernel) goes before changes of groups
 *   already joined, so new receivers are served first; first joins are taken round-robin
 *   across the downstream links whose hosts asked, so a flooding link delays another
 *   link's join by one join per batch, not by its whole backlog.
 * - At most `maxGroups` groups are held upstream. Beyond it a join waits (counted once per
 *   group through `onLimit`, logged once per LIMIT_LOG_MS) and is applied, oldest first,
 *   as soon as a leave frees room or the limit is raised (`kick`). The waiting set holds
 *   only groups with a merged membership, so it is bounded by the membership database.
 *
 * Kernel refusals are logged and counted (the group keeps what the kernel holds; the next
 * change re-applies it). A filter the kernel can only approximate (an EXCLUDE list longer
 * than the per-socket source limit: docs/kernel.md "Upstream subscription") is applied as a
 * superset and logged as a warning once per group and limit, naming the sysctl to raise, and
 * at most one such line per LIMIT_LOG_MS (the hosts choose the groups).
 */
import { performance } from "node:perf_hooks";
import type { Scheduler, TimerId } from "../clock/index.js";
import { type FilterWarning, type SourceFilterSocketsOptions, SourceFilterSockets } from "../kernel/source-filters.js";
import { isNoMembership, type SourceFilterState } from "../proxy/membership.js";
import type { Logger } from "../util/log.js";
import { Throttle, WARNING_INTERVAL_MS } from "../util/throttle.js";
import { KeyedQueue, LaneQueue } from "../util/keyed-queue.js";
import { type Bucket, refill } from "../util/token-bucket.js";
import type { Address, IpFamily } from "../wire/types.js";

/** Scheduler time one batch may use up (the bucket holds this much of the rate). */
export const BATCH_MS = 10;
/** Wall-clock time after which a batch yields to the event loop, whatever its tokens. */
export const BATCH_BUDGET_MS = 4;
/** At most one "upstream group limit reached" and one approximation line per this interval. */
export const LIMIT_LOG_MS = WARNING_INTERVAL_MS;

export interface UpstreamLimits {
  /** Most groups held upstream (max-upstream-groups). */
  maxGroups: number;
  /** Membership changes pushed to the kernel per second (upstream-changes-per-second). */
  changesPerSecond: number;
}

export interface UpstreamHostOptions {
  family: IpFamily;
  log: Logger;
  scheduler: Scheduler;
  /** Read at every batch: a reload applies from the next one. */
  limits: () => UpstreamLimits;
  /** A join had to wait for the group limit (once per group each time it starts waiting). */
  onLimit?: () => void;
  /** Kernel limits and syscalls (tests); defaults read the sysctls and use the addon. */
  sockets?: SourceFilterSocketsOptions;
  /** Wall clock for the batch budget (tests); default performance.now. */
  wallClock?: () => number;
  /**
   * Runs `fn` once pending I/O has been handled (the daemon: setImmediate), for a batch
   * cut short by its wall-clock budget with rate to spare. Default: the scheduler at now
   * (a real timer waits at least 1 ms).
   */
  yieldTo?: (fn: () => void) => void;
}

export class UpstreamHost {
  private membership: SourceFilterSockets | null = null;
  /** Groups whose filter is approximated, with the limit named in the warning logged. */
  private readonly approximated = new Map<Address, string>();
  /**
   * Wanted groups the kernel does not hold yet, with their latest filter, in one lane per
   * origin (the link whose hosts asked), taken round-robin: a flood of joins from one
   * downstream delays another downstream's join by one join, not by the flood.
   */
  private readonly joins = new LaneQueue<Address, SourceFilterState>();
  /** Groups the kernel holds whose filter changed (INCLUDE {} = leave), latest filter. */
  private readonly updates = new KeyedQueue<Address, SourceFilterState>();
  /** Wanted groups refused for the group limit, oldest first. */
  private readonly waiting = new KeyedQueue<Address, SourceFilterState>();
  private timer: TimerId | null = null;
  /** A batch handed to `yieldTo` is pending; `generation` voids it after a detach. */
  private yielding = false;
  private generation = 0;
  /** Membership changes the rate allows now (upstream-changes-per-second). */
  private readonly bucket: Bucket;
  private readonly limitWarnings: Throttle;
  private readonly approximationWarnings: Throttle;
  private readonly family: IpFamily;
  private readonly log: Logger;
  private readonly scheduler: Scheduler;
  private readonly wallClock: () => number;
  /** Filter changes that the kernel refused (counted for status/metrics). */
  errors = 0;
  /** Filter changes applied. */
  changes = 0;
  /** Longest batch seen, wall-clock ms (benchmarks). */
  longestBatchMs = 0;

  constructor(private readonly opts: UpstreamHostOptions) {
    this.family = opts.family;
    this.log = opts.log;
    this.scheduler = opts.scheduler;
    this.wallClock = opts.wallClock ?? (() => performance.now());
    this.bucket = { tokens: this.bucketSize(), at: this.scheduler.now() };
    this.limitWarnings = new Throttle(() => this.scheduler.now(), LIMIT_LOG_MS);
    this.approximationWarnings = new Throttle(() => this.scheduler.now(), LIMIT_LOG_MS);
  }

  attach(ifindex: number): void {
    this.detach();
    this.membership = new SourceFilterSockets(this.family, ifindex, this.opts.sockets);
  }

  /** Drops every membership (closing the sockets: the kernel drops them) and the queues. */
  detach(): void {
    this.approximated.clear();
    this.joins.clear();
    this.updates.clear();
    this.waiting.clear();
    if (this.timer !== null) this.scheduler.cancel(this.timer);
    this.timer = null;
    this.yielding = false;
    this.generation++;
    if (!this.membership) return;
    try {
      this.membership.close();
    } catch (err) {
      // The interface is gone: the kernel dropped its memberships with it.
      this.log.debug({ err: (err as Error).message }, "upstream memberships already gone");
    }
    this.membership = null;
  }

  /**
   * Queues the merged state of `group` (INCLUDE {} leaves it), a first join in the lane of
   * `origin` (the link whose change caused it); applied at once when the
   * rate allows, else by the next batch.
   */
  setFilter(group: Address, state: SourceFilterState, origin = ""): void {
    const m = this.membership;
    if (!m) return;
    if (m.has(group)) {
      this.updates.set(group, state);
    } else if (isNoMembership(state)) {
      this.joins.delete(group);
      this.waiting.delete(group);
      this.updates.delete(group);
    } else if (this.waiting.has(group)) {
      this.waiting.set(group, state);
    } else {
      this.joins.set(group, state, origin);
    }
    if (this.timer === null && !this.yielding) this.flush();
  }

  /** Limits may have changed (reload): drains what can go now. */
  kick(): void {
    if (this.membership && this.timer === null && !this.yielding) this.flush();
  }

  /** Groups held upstream, queued, and waiting for the group limit. */
  stats(): { held: number; queued: number; waiting: number; sockets: number } {
    return {
      held: this.membership?.groupCount() ?? 0,
      queued: this.joins.size + this.updates.size,
      waiting: this.waiting.size,
      sockets: this.membership?.socketCount() ?? 0,
    };
  }

  close(): void {
    this.detach();
  }

  // --- the queue ---------------------------------------------------------------------

  private bucketSize(): number {
    return Math.max(1, Math.ceil((this.opts.limits().changesPerSecond * BATCH_MS) / 1000));
  }

  private refill(): void {
    refill(this.bucket, this.opts.limits().changesPerSecond, this.bucketSize(), this.scheduler.now());
  }

  /** One batch: waiting joins when there is room, new joins, then changes. */
  private flush(): void {
    this.timer = null;
    const m = this.membership;
    if (!m) return;
    this.refill();
    const { maxGroups, changesPerSecond } = this.opts.limits();
    const start = this.wallClock();
    let limited = 0;
    let yielded = false;
    while (this.bucket.tokens >= 1) {
      if (this.wallClock() - start >= BATCH_BUDGET_MS) {
        yielded = true;
        break;
      }
      const room = m.groupCount() < maxGroups;
      let group: Address;
      let state: SourceFilterState;
      if (room && this.waiting.size > 0) {
        [group, state] = this.waiting.shift();
      } else if (this.joins.size > 0) {
        [group, state] = this.joins.shift();
        if (!room) {
          this.waiting.set(group, state);
          limited++;
          this.opts.onLimit?.();
          continue;
        }
      } else if (this.updates.size > 0) {
        [group, state] = this.updates.shift();
      } else break;
      this.bucket.tokens--;
      this.apply(m, group, state);
    }
    this.longestBatchMs = Math.max(this.longestBatchMs, this.wallClock() - start);
    if (limited > 0) this.logLimit(maxGroups);
    const more =
      this.joins.size > 0 || this.updates.size > 0 || (this.waiting.size > 0 && m.groupCount() < maxGroups);
    if (!more) return;
    if (yielded && this.bucket.tokens >= 1 && this.opts.yieldTo) {
      const generation = this.generation;
      this.yielding = true;
      this.opts.yieldTo(() => {
        if (generation !== this.generation) return;
        this.yielding = false;
        try {
          this.flush();
        } catch (err) {
          this.log.error({ err: (err as Error).message }, "upstream membership batch failed");
        }
      });
      return;
    }
    const wait = yielded && this.bucket.tokens >= 1 ? 0 : Math.max(BATCH_MS, Math.ceil(((1 - this.bucket.tokens) * 1000) / changesPerSecond));
    this.timer = this.scheduler.at(this.scheduler.now() + wait, () => this.flush());
  }

  private logLimit(maxGroups: number): void {
    if (this.limitWarnings.pass() === null) return;
    this.log.warn(
      { maxUpstreamGroups: maxGroups, waiting: this.waiting.size },
      "upstream group limit reached: further groups wait until others leave (max-upstream-groups)",
    );
  }

  /**
   * Hosts choose the groups, so approximated filters are logged at most once per
   * LIMIT_LOG_MS: the first with its group and numbers, the others counted into the next line.
   */
  private logApproximation(warning: FilterWarning): void {
    const others = this.approximationWarnings.pass();
    if (others === null) return;
    const { group, limit, value, requested, applied } = warning;
    this.log.warn(
      { group, limit, value, requested, applied, ...(others > 0 ? { otherGroupsSinceLastLine: others } : {}) },
      warning.message,
    );
  }

  private apply(m: SourceFilterSockets, group: Address, state: SourceFilterState): void {
    try {
      const warning = m.setFilter(group, { mode: state.filterMode, sources: state.sources });
      this.changes++;
      if (warning === null) {
        this.approximated.delete(group);
      } else if (this.approximated.get(group) !== warning.limit) {
        this.approximated.set(group, warning.limit);
        this.logApproximation(warning);
      }
      if (isNoMembership(state)) this.approximated.delete(group);
      // Logged once applied: the line means the kernel holds the filter now.
      this.log.info({ group, mode: state.filterMode, sources: state.sources }, "upstream membership");
    } catch (err) {
      this.errors++;
      this.log.error({ group, err: (err as Error).message }, "cannot apply the upstream membership");
    }
  }
}
