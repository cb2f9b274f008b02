/**
 * The one clock of the engines. Time is an input (docs/architecture.md "Time is an input"):
 * engines never call Date.now() or setTimeout themselves; they store deadlines in their
 * state and ask a Scheduler to call them back at the earliest one.
 */

/** Opaque handle of a scheduled callback. */
export type TimerId = { readonly __timer: unique symbol };

export interface Scheduler {
  /** Current time in milliseconds (monotonic; the origin is the scheduler's own). */
  now(): number;
  /**
   * Call `fn` once at (or as soon as possible after) `deadlineMs`; with `arg`, as `fn(arg)`:
   * one callback then serves many timers (a link's groups) without a closure each
   * (docs/architecture.md "Memory").
   */
  at(deadlineMs: number, fn: () => void): TimerId;
  at<T>(deadlineMs: number, fn: (arg: T) => void, arg: T): TimerId;
  /** Forget a pending callback; unknown or already fired ids are ignored. */
  cancel(id: TimerId): void;
}
