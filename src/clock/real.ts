/**
 * Production scheduler: every deadline lives in one indexed heap and a single Node.js
 * timer is armed for the earliest one, not one setTimeout per source
 * (docs/architecture.md "Time is an input"). Insert/cancel are O(log n); 100,000 pending
 * timers cost one setTimeout. The clock is monotonic (performance.now()).
 */
import { performance } from "node:perf_hooks";
import { TimerHeap } from "./heap.js";
import type { Scheduler, TimerId } from "./scheduler.js";

/** setTimeout's largest delay (2^31 - 1 ms); longer waits are re-armed in steps. */
const MAX_DELAY_MS = 0x7fffffff;

export interface RealSchedulerOptions {
  /** Do not keep the event loop alive only for these timers. Default false. */
  unref?: boolean;
  /** Called when a callback throws; default: log to stderr and carry on. */
  onError?: (err: unknown) => void;
  /** Clock source, for tests; default performance.now. */
  clock?: () => number;
}

export class RealScheduler implements Scheduler {
  private readonly heap = new TimerHeap();
  private timer: NodeJS.Timeout | null = null;
  /** Deadline the Node.js timer is armed for (Infinity when none). */
  private armedFor = Number.POSITIVE_INFINITY;
  private closed = false;
  private readonly unref: boolean;
  private readonly onError: (err: unknown) => void;
  private readonly clock: () => number;

  constructor(opts: RealSchedulerOptions = {}) {
    this.unref = opts.unref ?? false;
    this.onError = opts.onError ?? ((err) => console.error("scheduler callback failed:", err));
    this.clock = opts.clock ?? (() => performance.now());
  }

  now(): number {
    return this.clock();
  }

  at<T>(deadlineMs: number, fn: (arg: T) => void, arg?: T): TimerId {
    const id = this.heap.insert(deadlineMs, fn as (arg: unknown) => void, arg);
    if (!this.closed && deadlineMs < this.armedFor) this.arm();
    return id;
  }

  /** Cancelling the head leaves the Node.js timer armed: it fires early, finds nothing due, re-arms. */
  cancel(id: TimerId): void {
    this.heap.cancel(id);
    if (this.heap.size === 0) this.disarm();
  }

  get pending(): number {
    return this.heap.size;
  }

  /** Drop every pending callback and the Node.js timer; later `at()` calls are kept but never fire. */
  close(): void {
    this.closed = true;
    this.heap.clear();
    this.disarm();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    this.disarm();
    const top = this.heap.peek();
    if (top === undefined || this.closed) return;
    const delay = Math.min(Math.max(0, top.deadline - this.now()), MAX_DELAY_MS);
    this.armedFor = top.deadline;
    this.timer = setTimeout(() => this.fire(), Math.ceil(delay));
    if (this.unref) this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.deadline > now || this.closed) break;
      this.heap.pop();
      try {
        top.fn(top.arg);
      } catch (err) {
        this.onError(err);
      }
    }
    if (!this.closed && this.timer === null) this.arm();
  }
}
