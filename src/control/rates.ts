/**
 * Rates from two samples of a monotonic counter (the kernel's per-(S,G) packet counter):
 * the daemon keeps the previous sample of each key and turns the next one into a rate.
 * Sampled on demand (each `show routes`), so the hot path never reads counters.
 */

interface Sample {
  /** When `value` was read (ms). */
  at: number;
  value: bigint;
  /** Rate per second between the last two samples used; null until there are two. */
  rate: number | null;
  /** Last time the key was asked for (for pruning). */
  seen: number;
}

export class RateSampler {
  private readonly samples = new Map<string, Sample>();

  /**
   * @param minIntervalMs a new rate is computed only when the previous sample is at least
   *   this old (else the last rate is returned), so rapid requests do not make noisy rates
   * @param firstIntervalMs the first rate may come from samples this close together
   * @param maxAgeMs keys not asked for in this long are forgotten by `prune`
   */
  constructor(
    private readonly minIntervalMs = 1000,
    private readonly firstIntervalMs = 200,
    private readonly maxAgeMs = 600_000,
  ) {}

  /** Records `value` for `key` at `now` (ms); returns the rate per second, or null. */
  sample(key: string, value: bigint, now: number): number | null {
    const s = this.samples.get(key);
    if (!s || value < s.value) {
      // First sample, or the counter restarted (entry deleted and re-created).
      this.samples.set(key, { at: now, value, rate: null, seen: now });
      return null;
    }
    s.seen = now;
    const dt = now - s.at;
    if (dt >= this.minIntervalMs || (s.rate === null && dt >= this.firstIntervalMs)) {
      s.rate = (Number(value - s.value) * 1000) / dt;
      s.at = now;
      s.value = value;
    }
    return s.rate === null ? null : Math.round(s.rate * 10) / 10;
  }

  /** Forgets keys not asked for within `maxAgeMs`. */
  prune(now: number): void {
    for (const [k, s] of this.samples) if (now - s.seen > this.maxAgeMs) this.samples.delete(k);
  }

  get size(): number {
    return this.samples.size;
  }
}
