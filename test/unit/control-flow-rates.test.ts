/**
 * The daemon's flow-rate sampler (src/control/flow-rates.ts) on virtual time with counters
 * the test moves: the rate of a flow is its counters' growth over the last 10 s of samples
 * taken every 2 s, the same whenever and however often status is asked; entries that leave
 * the MFC are forgotten; the per-period history exists only when asked for.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { VirtualScheduler } from "../../src/clock/index.js";
import { FlowRates } from "../../src/control/flow-rates.js";
import { StatusBuilder } from "../../src/control/status.js";
import { renderShow } from "../../src/control/tables.js";
import type { ForwardingSnapshot } from "../../src/daemon/snapshot.js";
import type { IpFamily } from "../../src/wire/types.js";
import { sampleSource } from "./control-fixture.js";

/** A family whose entries' counters grow at the rate each flow is given, in virtual time. */
class CountingFamily {
  readonly flows = new Map<string, { pps: number; size: number; since: number }>();
  reads = 0;
  constructor(
    readonly family: IpFamily,
    private readonly clock: VirtualScheduler,
  ) {}

  add(group: string, pps: number, size = 1316): void {
    this.flows.set(group, { pps, size, since: this.clock.now() });
  }

  forwardingCounters(): ForwardingSnapshot[] {
    this.reads++;
    return [...this.flows].map(([group, f]) => {
      // Whole packets sent since the flow started, at exactly `pps`.
      const packets = BigInt(Math.floor(((this.clock.now() - f.since) * f.pps) / 1000));
      return {
        source: "198.18.0.1",
        group,
        iif: "up0",
        oifs: ["dn1"],
        upstream: "up0",
        kernel: { packets, bytes: packets * BigInt(f.size), wrongIf: 0n },
        upTimeMs: null,
      };
    });
  }
}

function setup(history = false) {
  const clock = new VirtualScheduler(1_000_000);
  const fam = new CountingFamily("ipv4", clock);
  const rates = new FlowRates({ families: [fam] }, clock, { history });
  return { clock, fam, rates };
}

describe("flow rates", () => {
  test("a 5 pps flow reads 5.0 whenever and however often it is asked", () => {
    const { clock, fam, rates } = setup();
    fam.add("239.1.1.1", 5);
    rates.start();
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1"), null, "one sample: no rate yet");
    clock.advance(12_000);
    // Asked at many moments between samples, many times each: always 5.0.
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) {
      clock.advance(137);
      for (let j = 0; j < 3; j++) seen.push(rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.pps);
    }
    assert.deepEqual(new Set(seen), new Set([5]));
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.bitsPerSecond, 5 * 1316 * 8);
    // Asking does not sample: one read per period.
    assert.equal(fam.reads, rates.samples);
    assert.equal(rates.samples, 1 + Math.floor((12_000 + 40 * 137) / 2000));
  });

  test("the rate covers the last 10 s: a change shows in full once the window has passed", () => {
    const { clock, fam, rates } = setup();
    fam.add("239.1.1.1", 10);
    rates.start();
    clock.advance(20_000);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.pps, 10);
    // The stream halves: the counter now grows at 5 pps from here on.
    const f = fam.flows.get("239.1.1.1")!;
    const sentSoFar = ((clock.now() - f.since) * 10) / 1000;
    f.pps = 5;
    f.since = clock.now() - (sentSoFar * 1000) / 5;
    clock.advance(4000);
    const mid = rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.pps;
    assert.ok(mid > 5 && mid < 10, `within the window: between the two rates (${mid})`);
    clock.advance(10_000);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.pps, 5);
  });

  test("the first rate comes with the second sample, over what was sampled", () => {
    const { clock, fam, rates } = setup();
    rates.start();
    clock.advance(1000);
    fam.add("239.1.1.2", 50);
    clock.advance(1000); // sampled: first sample of the flow
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.2"), null);
    clock.advance(2000);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.2")!.pps, 50);
  });

  test("entries that leave the MFC are forgotten; a counter that goes back starts over", () => {
    const { clock, fam, rates } = setup();
    fam.add("239.1.1.1", 5);
    fam.add("239.1.1.2", 5);
    rates.start();
    clock.advance(10_000);
    assert.equal(rates.size, 2);
    fam.flows.delete("239.1.1.2");
    clock.advance(2000);
    assert.equal(rates.size, 1);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.2"), null);
    // Re-created between two samples: its counter restarts from 0.
    fam.add("239.1.1.1", 5);
    clock.advance(2000);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1"), null, "counter went back: no rate across it");
    clock.advance(2000);
    assert.equal(rates.rate("ipv4", "198.18.0.1", "239.1.1.1")!.pps, 5);
  });

  test("history per period only when asked for; the last 3 minutes", () => {
    const plain = setup(false);
    plain.fam.add("239.1.1.1", 5);
    plain.rates.start();
    plain.clock.advance(10_000);
    assert.equal(plain.rates.history("ipv4", "198.18.0.1", "239.1.1.1"), null);

    const { clock, fam, rates } = setup(true);
    fam.add("239.1.1.1", 5, 100);
    rates.start();
    clock.advance(10_000);
    const h = rates.history("ipv4", "198.18.0.1", "239.1.1.1")!;
    assert.equal(h.periodSeconds, 2);
    assert.deepEqual(h.pps, [5, 5, 5, 5, 5]);
    assert.deepEqual(h.bitsPerSecond, [4000, 4000, 4000, 4000, 4000]);
    clock.advance(600_000);
    assert.equal(rates.history("ipv4", "198.18.0.1", "239.1.1.1")!.pps.length, 90, "180 s at 2 s");
  });

  test("close stops sampling", () => {
    const { clock, fam, rates } = setup();
    rates.start();
    clock.advance(4000);
    rates.close();
    const n = fam.reads;
    clock.advance(20_000);
    assert.equal(fam.reads, n);
    assert.equal(clock.pending, 0);
  });

  test("show routes: pps and bit rate from the sampler", () => {
    const clock = new VirtualScheduler(0);
    const source = sampleSource();
    const rates = new FlowRates(source, clock);
    const builder = new StatusBuilder(source, {
      version: "9.9.9",
      controlSocket: "/run/improxy/improxy.sock",
      startedAt: Date.now(),
      rates,
    });
    rates.start();
    for (let i = 0; i < 6; i++) {
      clock.advance(2000);
      for (const f of source.fams) f.packets += 10_000n; // 5,000 pps of 1316 bytes
    }
    clock.advance(2000);
    const r = builder.build("routes", "ipv4").families[0]!.routes![0]!;
    assert.equal(r.pps, 5000);
    assert.equal(r.bitsPerSecond, 5000 * 1316 * 8);
    const row = renderShow(builder.build("routes", "ipv4"), "routes")[1]!.split(/\s+/);
    assert.deepEqual(row.slice(7, 9), ["5000", "53M"]);
  });
});
