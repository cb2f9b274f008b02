/**
 * Packet and bit rates of every (S,G) forwarding entry, kept by the daemon itself: every
 * `periodMs` (2 s) the kernel's counters of each entry (SIOCGETSGCNT, through
 * `FamilySnapshotSource.forwardingCounters()`) are sampled on the daemon's scheduler, and a
 * flow's rate is the counters' growth over the last `windowMs` (10 s; over what was sampled
 * while the flow is younger than that). So `show routes` reads the same rate whoever asks,
 * whenever and however often (docs/architecture.md "Flow rates").
 *
 * With `history` (the web view is on), each flow also keeps its rate per period over the
 * last `historyMs` (3 minutes: 90 points) for the view's plots; without it no history is
 * allocated. A flow that leaves the MFC (not listed at a sample) is forgotten, as is one
 * whose counter went back (the entry was deleted and re-created between two samples).
 */
import type { Scheduler, TimerId } from "../clock/index.js";
import type { FamilySnapshotSource } from "../daemon/snapshot.js";
import { sgKey } from "../wire/address.js";
import type { IpFamily } from "../wire/types.js";

export const FLOW_RATES = {
  /** Time between two samples of every entry's counters. */
  periodMs: 2000,
  /** The rates are the counters' growth over this much time. */
  windowMs: 10_000,
  /** The per-period history kept for the web view's plots. */
  historyMs: 180_000,
} as const;

export interface FlowRatesOptions {
  periodMs?: number;
  windowMs?: number;
  historyMs?: number;
  /** Keep the per-period history (the web view); default false. */
  history?: boolean;
}

/** A flow's rates over the window; null until two samples of it exist. */
export interface FlowRate {
  pps: number;
  bitsPerSecond: number;
}

/** A flow's rate per sampling period, oldest first (the newest point is the latest period). */
export interface FlowHistory {
  periodSeconds: number;
  pps: number[];
  bitsPerSecond: number[];
}

interface Flow {
  /** Counters at the last `slots` samples, indexed by tick % slots. */
  packets: Float64Array;
  bytes: Float64Array;
  /** The tick of the flow's first sample, and of its latest. */
  first: number;
  last: number;
  /** Rates per period, indexed by tick % historySlots (only with `history`). */
  historyPps: Float32Array | null;
  historyBps: Float32Array | null;
}

/** Where the sampler reads its entries (structurally a `Daemon`). */
export interface FlowSource {
  readonly families: ReadonlyArray<Pick<FamilySnapshotSource, "family" | "forwardingCounters">>;
}

const key = (family: IpFamily, source: string, group: string) => `${family}|${sgKey(source, group)}`;

export class FlowRates {
  readonly periodMs: number;
  readonly windowMs: number;
  private readonly slots: number;
  private readonly historySlots: number;
  private readonly flows = new Map<string, Flow>();
  /** Scheduler time of each of the last `slots` ticks, indexed by tick % slots. */
  private readonly times: Float64Array;
  private tick = -1;
  private timer: TimerId | null = null;
  /** Samples taken. */
  samples = 0;

  constructor(
    private readonly source: FlowSource,
    private readonly scheduler: Scheduler,
    opts: FlowRatesOptions = {},
  ) {
    this.periodMs = opts.periodMs ?? FLOW_RATES.periodMs;
    this.windowMs = opts.windowMs ?? FLOW_RATES.windowMs;
    this.slots = Math.max(2, Math.round(this.windowMs / this.periodMs) + 1);
    this.historySlots = opts.history ? Math.max(1, Math.round((opts.historyMs ?? FLOW_RATES.historyMs) / this.periodMs)) : 0;
    this.times = new Float64Array(this.slots);
  }

  /** Takes the first sample now and one every period until `close()`. */
  start(): void {
    if (this.timer !== null) return;
    const run = () => {
      this.sample();
      this.timer = this.scheduler.at(this.scheduler.now() + this.periodMs, run);
    };
    run();
  }

  close(): void {
    if (this.timer !== null) this.scheduler.cancel(this.timer);
    this.timer = null;
  }

  /** Number of flows followed. */
  get size(): number {
    return this.flows.size;
  }

  /** One sample of every entry of every family (the timer's job; public for tests and the bench). */
  sample(): void {
    const n = ++this.tick;
    const slot = n % this.slots;
    const now = this.scheduler.now();
    this.times[slot] = now;
    const prevSlot = (n - 1) % this.slots;
    const dt = n > 0 ? (now - (this.times[prevSlot] ?? now)) / 1000 : 0;
    for (const fam of this.source.families) {
      for (const e of fam.forwardingCounters()) {
        if (e.kernel === null) continue;
        const k = key(fam.family, e.source, e.group);
        const packets = Number(e.kernel.packets);
        const bytes = Number(e.kernel.bytes);
        let f = this.flows.get(k);
        // New, or the counter went back (the entry was re-created): start over.
        if (f === undefined || packets < (f.packets[prevSlot] ?? 0)) {
          f = this.newFlow(n);
          this.flows.set(k, f);
        } else if (f.historyPps && f.historyBps && dt > 0) {
          const h = n % this.historySlots;
          f.historyPps[h] = (packets - (f.packets[prevSlot] ?? 0)) / dt;
          f.historyBps[h] = ((bytes - (f.bytes[prevSlot] ?? 0)) * 8) / dt;
        }
        f.packets[slot] = packets;
        f.bytes[slot] = bytes;
        f.last = n;
      }
    }
    // Entries that left the MFC are forgotten.
    for (const [k, f] of this.flows) if (f.last !== n) this.flows.delete(k);
    this.samples++;
  }

  private newFlow(n: number): Flow {
    const h = this.historySlots;
    return {
      packets: new Float64Array(this.slots),
      bytes: new Float64Array(this.slots),
      first: n,
      last: n,
      historyPps: h > 0 ? new Float32Array(h) : null,
      historyBps: h > 0 ? new Float32Array(h) : null,
    };
  }

  /** The flow's rates over the window (pps to one decimal, bit/s whole); null until two samples. */
  rate(family: IpFamily, source: string, group: string): FlowRate | null {
    const f = this.flows.get(key(family, source, group));
    if (f === undefined) return null;
    const n = f.last;
    const oldest = Math.max(f.first, n - (this.slots - 1));
    if (oldest >= n) return null;
    const a = oldest % this.slots;
    const b = n % this.slots;
    const seconds = ((this.times[b] ?? 0) - (this.times[a] ?? 0)) / 1000;
    if (seconds <= 0) return null;
    const pps = ((f.packets[b] ?? 0) - (f.packets[a] ?? 0)) / seconds;
    const bps = (((f.bytes[b] ?? 0) - (f.bytes[a] ?? 0)) * 8) / seconds;
    return { pps: Math.round(pps * 10) / 10, bitsPerSecond: Math.round(bps) };
  }

  /** The flow's rate per period, oldest first; null without `history` or for an unknown flow. */
  history(family: IpFamily, source: string, group: string): FlowHistory | null {
    const f = this.flows.get(key(family, source, group));
    if (f === undefined || f.historyPps === null || f.historyBps === null) return null;
    const n = f.last;
    const from = Math.max(f.first + 1, n - this.historySlots + 1);
    const pps: number[] = [];
    const bitsPerSecond: number[] = [];
    for (let t = from; t <= n; t++) {
      const h = t % this.historySlots;
      pps.push(Math.round((f.historyPps[h] ?? 0) * 10) / 10);
      bitsPerSecond.push(Math.round(f.historyBps[h] ?? 0));
    }
    return { periodSeconds: this.periodMs / 1000, pps, bitsPerSecond };
  }
}
