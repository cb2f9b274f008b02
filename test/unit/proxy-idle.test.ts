/** Stale forwarding entries (src/proxy/idle.ts), in virtual time. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualScheduler } from "../../src/clock/index.js";
import { IdleMonitor, type SgSample, type StaleReason, staleReason } from "../../src/proxy/idle.js";

const G = "239.1.1.1";
const S1 = "10.10.0.2";
const S2 = "10.10.0.3";
const s = (packets: number, wrongIf = 0): SgSample => ({ packets: BigInt(packets), wrongIf: BigInt(wrongIf) });

describe("staleReason", () => {
  it("a first sample is never stale", () => {
    assert.equal(staleReason(undefined, s(0)), null);
    assert.equal(staleReason(undefined, s(-1)), null);
  });
  it("no packet between two samples: idle", () => {
    assert.equal(staleReason(s(10), s(10)), "idle");
    assert.equal(staleReason(s(10, 3), s(10, 3)), "idle");
  });
  it("packets that all arrived on a wrong link: moved", () => {
    assert.equal(staleReason(s(10, 0), s(15, 5)), "moved");
  });
  it("packets partly on the incoming link: active", () => {
    assert.equal(staleReason(s(10, 0), s(15, 4)), null);
    assert.equal(staleReason(s(10, 0), s(11, 0)), null);
  });
});

function setup(intervalMs = 60_000) {
  const scheduler = new VirtualScheduler();
  const entries = new Map<string, { source: string; group: string }>([
    [S1, { source: S1, group: G }],
    [S2, { source: S2, group: G }],
  ]);
  const kernel = new Map<string, SgSample | null>([
    [S1, s(0)],
    [S2, s(0)],
  ]);
  const stale: Array<[string, StaleReason, number]> = [];
  let interval = intervalMs;
  const monitor: IdleMonitor<{ source: string; group: string }> = new IdleMonitor({
    scheduler,
    intervalMs: () => interval,
    entries: () => entries.values(),
    counters: (source) => kernel.get(source) ?? null,
    onStale: (e, reason) => {
      stale.push([e.source, reason, scheduler.now()]);
      entries.delete(e.source);
      monitor.forget(e.source, e.group);
    },
  });
  return {
    scheduler,
    entries,
    kernel,
    stale,
    monitor,
    setInterval: (ms: number) => {
      interval = ms;
    },
  };
}

describe("IdleMonitor", () => {
  it("removes an entry without traffic at the second check, keeps an active one", () => {
    const t = setup();
    t.monitor.start();
    t.scheduler.advance(60_000); // first sample
    assert.deepEqual(t.stale, []);
    t.kernel.set(S1, s(100));
    t.scheduler.advance(60_000);
    assert.deepEqual(t.stale, [[S2, "idle", 120_000]]);
    assert.ok(t.entries.has(S1));
    t.kernel.set(S1, s(200));
    t.scheduler.advance(60_000);
    assert.equal(t.stale.length, 1, "the active entry stays");
    t.scheduler.advance(60_000);
    assert.deepEqual(t.stale[1], [S1, "idle", 240_000]);
  });

  it("removes an entry whose packets all arrive on another link (moved source)", () => {
    const t = setup();
    t.monitor.start();
    t.scheduler.advance(60_000);
    t.kernel.set(S1, s(50, 50));
    t.kernel.set(S2, s(50, 10));
    t.scheduler.advance(60_000);
    assert.deepEqual(t.stale, [[S1, "moved", 120_000]]);
  });

  it("an entry the kernel lost is idle at the next check", () => {
    const t = setup();
    t.monitor.start();
    t.kernel.set(S1, null);
    t.kernel.set(S2, s(5));
    t.scheduler.advance(60_000);
    t.kernel.set(S2, s(6));
    t.scheduler.advance(60_000);
    assert.deepEqual(t.stale, [[S1, "idle", 120_000]]);
  });

  it("a re-learned (S,G) starts afresh after forget", () => {
    const t = setup();
    t.monitor.start();
    t.scheduler.advance(60_000);
    t.kernel.set(S1, s(10));
    t.kernel.set(S2, s(10));
    t.scheduler.advance(60_000); // both active
    t.entries.delete(S1);
    t.monitor.forget(S1, G);
    t.entries.set(S1, { source: S1, group: G }); // re-learned, same counters by chance
    t.kernel.set(S2, s(20));
    t.scheduler.advance(60_000);
    assert.deepEqual(t.stale, [], "a fresh entry is sampled first, not judged against the old one");
  });

  it("a new interval applies from the next arming; stop cancels the timer", () => {
    const t = setup();
    t.monitor.start();
    t.setInterval(10_000);
    t.scheduler.advance(60_000); // first check at 60 s, next armed at 70 s
    t.scheduler.advance(10_000);
    assert.deepEqual(
      t.stale.map(([src, , at]) => [src, at]),
      [
        [S1, 70_000],
        [S2, 70_000],
      ],
    );
    t.monitor.stop();
    assert.equal(t.scheduler.nextDeadline(), null);
  });
});
