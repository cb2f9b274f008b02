/**
 * Deterministic virtual time for tests, simulations and the benchmark. Nothing happens
 * until `advance()` / `runUntilIdle()` is called. Callbacks fire in deadline order,
 * same-deadline callbacks in insertion order; a callback scheduled during another one is
 * honoured in the same advance when its deadline falls inside the advanced window.
 */
import { TimerHeap } from "./heap.js";
import type { Scheduler, TimerId } from "./scheduler.js";

export class VirtualScheduler implements Scheduler {
  private current: number;
  private readonly heap = new TimerHeap();

  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  at<T>(deadlineMs: number, fn: (arg: T) => void, arg?: T): TimerId {
    return this.heap.insert(deadlineMs, fn as (arg: unknown) => void, arg);
  }

  cancel(id: TimerId): void {
    this.heap.cancel(id);
  }

  /** Number of pending callbacks. */
  get pending(): number {
    return this.heap.size;
  }

  /** Deadline of the earliest pending callback, or null. */
  nextDeadline(): number | null {
    return this.heap.peek()?.deadline ?? null;
  }

  /** Move time forward by `ms`, firing every callback due on the way (time is set to each deadline). */
  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.deadline > target) break;
      this.heap.pop();
      if (top.deadline > this.current) this.current = top.deadline;
      top.fn(top.arg);
    }
    if (target > this.current) this.current = target;
  }

  /**
   * Fire everything pending, including what callbacks schedule, until nothing is left.
   * `maxCallbacks` guards against periodic timers (which never go idle).
   */
  runUntilIdle(maxCallbacks = 1_000_000): number {
    let fired = 0;
    for (;;) {
      const top = this.heap.pop();
      if (top === undefined) return fired;
      if (top.deadline > this.current) this.current = top.deadline;
      top.fn(top.arg);
      if (++fired >= maxCallbacks) return fired;
    }
  }
}
