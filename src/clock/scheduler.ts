/**
 * The one clock of the engines. Time is an input (docs/architecture.md "Time is an input"):
 * engines never call Date.now() or setTimeout themselves; they store deadlines in their
 * state and ask a Scheduler to call them back at the earliest one.
 */

/** Opaque handle of a scheduled callback. */
export type TimerId = number;

export interface Scheduler {
  /** Current time in milliseconds (monotonic; the origin is the scheduler's own). */
  now(): number;
  /** Call `fn` once at (or as soon as possible after) `deadlineMs`. */
  at(deadlineMs: number, fn: () => void): TimerId;
  /** Forget a pending callback; unknown or already fired ids are ignored. */
  cancel(id: TimerId): void;
}
