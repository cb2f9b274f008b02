/**
 * Token buckets refilled from elapsed time when used (no timers): the report rate limits of
 * a link (src/router/rate-limit.ts) and the rate of membership changes pushed to the kernel
 * (src/daemon/upstream.ts).
 */

export interface Bucket {
  tokens: number;
  /** Time (ms) of the last refill. */
  at: number;
}

/**
 * Adds the tokens earned since `b.at` at `ratePerSecond`, never above `capacity` (a bucket
 * above a lowered capacity is cut to it).
 */
export function refill(b: Bucket, ratePerSecond: number, capacity: number, now: number): void {
  const elapsed = now - b.at;
  if (elapsed > 0) {
    b.tokens += (elapsed * ratePerSecond) / 1000;
    b.at = now;
  }
  if (b.tokens > capacity) b.tokens = capacity;
}
