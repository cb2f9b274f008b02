/**
 * Report rate limits of one link (docs/protocol.md "Bounded state"): token buckets on the
 * injected scheduler's time, one for the link and one per reporting host, in records per
 * second (an IGMPv3 / MLDv2 group record, an IGMPv1/v2 or MLDv1 report or leave is one
 * record). Each bucket holds one second's worth. Records over either rate are dropped
 * (counted by the caller), never queued. Refill is computed from the elapsed time when a
 * bucket is used: no timers, O(1) per message.
 *
 * The host table is bounded: at most {@link MAX_RATE_HOSTS} buckets. A bucket unused for a
 * second is full again, so dropping it changes nothing; a new host evicts such buckets
 * first (oldest inserted), then the oldest bucket whatever its state (that host starts
 * over with a full bucket: a spoofer cycling source addresses gains nothing over the link
 * bucket, which every record also takes from).
 */
import { type Bucket, refill } from "../util/token-bucket.js";
import type { Address } from "../wire/types.js";

/** Most per-host buckets kept per link. */
export const MAX_RATE_HOSTS = 1024;

/** Time after which any bucket is full again (capacity = one second's worth). */
const FULL_AFTER_MS = 1000;

export class ReportRateLimiter {
  private readonly link: Bucket;
  private readonly hosts = new Map<Address, Bucket>();

  constructor(
    private linkRate: number,
    private hostRate: number,
    now: number,
    private readonly maxHosts = MAX_RATE_HOSTS,
  ) {
    this.link = { tokens: linkRate, at: now };
  }

  /** New rates (configuration reload); buckets above them are cut at their next use. */
  setRates(linkRate: number, hostRate: number): void {
    this.linkRate = linkRate;
    this.hostRate = hostRate;
  }

  /** Number of per-host buckets held. */
  get hostCount(): number {
    return this.hosts.size;
  }

  /** How many of `n` records from `host` are accepted at `now`; their tokens are taken. */
  take(host: Address, n: number, now: number): number {
    refill(this.link, this.linkRate, this.linkRate, now);
    let h = this.hosts.get(host);
    if (h === undefined) {
      this.makeRoom(now);
      h = { tokens: this.hostRate, at: now };
      this.hosts.set(host, h);
    } else refill(h, this.hostRate, this.hostRate, now);
    const granted = Math.max(0, Math.min(n, Math.floor(this.link.tokens), Math.floor(h.tokens)));
    this.link.tokens -= granted;
    h.tokens -= granted;
    return granted;
  }

  /** Before a new host bucket: drop up to two idle (full) buckets, then the oldest if still full. */
  private makeRoom(now: number): void {
    for (let i = 0; i < 2; i++) {
      const first = this.hosts.entries().next();
      if (first.done || now - first.value[1].at < FULL_AFTER_MS) break;
      this.hosts.delete(first.value[0]);
    }
    while (this.hosts.size >= this.maxHosts) {
      const oldest = this.hosts.keys().next();
      if (oldest.done) break;
      this.hosts.delete(oldest.value);
    }
  }
}
