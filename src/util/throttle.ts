/**
 * A warning that hosts can trigger at will (a limit reached, a clamped value) is logged at
 * most once per interval, not per packet: `pass()` says whether this occurrence may be
 * logged and how many were held back since the last one that was.
 */

/** The interval of the daemon's rate-limited warnings. */
export const WARNING_INTERVAL_MS = 60_000;

export class Throttle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    /** The clock (the daemon's scheduler). */
    private readonly now: () => number,
    private readonly intervalMs = WARNING_INTERVAL_MS,
  ) {}

  /** null: held back (counted); else the number held back since the last occurrence let through. */
  pass(): number | null {
    const now = this.now();
    if (now - this.lastAt < this.intervalMs) {
      this.held++;
      return null;
    }
    this.lastAt = now;
    const held = this.held;
    this.held = 0;
    return held;
  }
}
