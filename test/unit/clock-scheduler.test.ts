import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TimerHeap } from "../../src/clock/heap.js";
import { RealScheduler } from "../../src/clock/real.js";
import type { TimerId } from "../../src/clock/scheduler.js";
import { VirtualScheduler } from "../../src/clock/virtual.js";

describe("VirtualScheduler", () => {
  test("fires in deadline order, same deadline in insertion order", () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    s.at(30, () => seen.push("c"));
    s.at(10, () => seen.push("a1"));
    s.at(20, () => seen.push("b"));
    s.at(10, () => seen.push("a2"));
    s.advance(25);
    assert.deepEqual(seen, ["a1", "a2", "b"]);
    assert.equal(s.now(), 25);
    s.advance(5);
    assert.deepEqual(seen, ["a1", "a2", "b", "c"]);
  });

  test("time is set to each deadline while its callback runs", () => {
    const s = new VirtualScheduler(1000);
    const times: number[] = [];
    s.at(1500, () => times.push(s.now()));
    s.at(1700, () => times.push(s.now()));
    s.advance(10_000);
    assert.deepEqual(times, [1500, 1700]);
    assert.equal(s.now(), 11_000);
  });

  test("timers scheduled during a callback are honoured within the same advance", () => {
    const s = new VirtualScheduler();
    const seen: number[] = [];
    s.at(10, () => {
      seen.push(s.now());
      s.at(s.now() + 5, () => seen.push(s.now()));
      s.at(s.now() + 100, () => seen.push(s.now()));
    });
    s.advance(20);
    assert.deepEqual(seen, [10, 15]);
    s.advance(100);
    assert.deepEqual(seen, [10, 15, 110]);
  });

  test("cancel removes pending callbacks, unknown ids are ignored", () => {
    const s = new VirtualScheduler();
    const seen: number[] = [];
    const a = s.at(10, () => seen.push(1));
    s.at(20, () => seen.push(2));
    s.cancel(a);
    s.cancel(a);
    s.cancel(new VirtualScheduler().at(10, () => seen.push(3)));
    assert.equal(s.pending, 1);
    s.runUntilIdle();
    assert.deepEqual(seen, [2]);
    assert.equal(s.now(), 20);
  });

  test("one callback serves many timers: at(deadline, fn, arg) calls fn(arg)", () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    const fire = (name: string) => seen.push(name);
    s.at(20, fire, "b");
    const a = s.at(10, fire, "a");
    s.at(30, fire, "c");
    s.cancel(a);
    s.runUntilIdle();
    assert.deepEqual(seen, ["b", "c"]);
  });

  test("a 260 s expiry passes without waiting", () => {
    const s = new VirtualScheduler();
    let fired = false;
    s.at(260_000, () => {
      fired = true;
    });
    s.advance(259_999);
    assert.equal(fired, false);
    s.advance(1);
    assert.equal(fired, true);
  });
});

describe("TimerHeap", () => {
  test("random inserts and cancels pop in (deadline, insertion) order", () => {
    const h = new TimerHeap();
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const live = new Map<TimerId, { d: number; order: number }>();
    let order = 0;
    for (let i = 0; i < 5000; i++) {
      const d = rnd() % 1000;
      const id = h.insert(d, () => {});
      live.set(id, { d, order: order++ });
      if (rnd() % 3 === 0) {
        const ids = [...live.keys()];
        const victim = ids[rnd() % ids.length]!;
        assert.equal(h.cancel(victim), true);
        live.delete(victim);
      }
    }
    assert.equal(h.size, live.size);
    const expected = [...live.entries()].sort((x, y) => x[1].d - y[1].d || x[1].order - y[1].order).map((e) => e[0]);
    const got: TimerId[] = [];
    for (let e = h.pop(); e !== undefined; e = h.pop()) got.push(e as unknown as TimerId);
    assert.deepEqual(got, expected);
  });
});

describe("RealScheduler", () => {
  test("fires in order with one Node.js timer, cancel works, close drops everything", async () => {
    const s = new RealScheduler();
    const seen: string[] = [];
    const t0 = s.now();
    s.at(t0 + 30, () => seen.push("late"));
    const x = s.at(t0 + 5, () => seen.push("cancelled"));
    s.at(t0 + 10, () => seen.push("early"));
    s.cancel(x);
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(seen, ["early", "late"]);
    s.at(s.now() + 5, () => seen.push("never"));
    s.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ["early", "late"]);
  });

  test("100,000 pending timers: insert/cancel stay fast and the earliest fires first", async () => {
    const s = new RealScheduler({ unref: true });
    const base = s.now() + 1_000_000;
    const ids: TimerId[] = [];
    const start = performance.now();
    for (let i = 0; i < 100_000; i++) ids.push(s.at(base + ((i * 7919) % 100_000), () => {}));
    for (let i = 0; i < 100_000; i += 2) s.cancel(ids[i]!);
    const elapsed = performance.now() - start;
    assert.equal(s.pending, 50_000);
    assert.ok(elapsed < 2000, `100k inserts + 50k cancels took ${elapsed} ms`);
    let fired = false;
    s.at(s.now() + 5, () => {
      fired = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fired, true);
    s.close();
  });

  test("at(deadline, fn, arg) calls fn(arg)", async () => {
    const s = new RealScheduler();
    const seen: number[] = [];
    const fire = (n: number) => seen.push(n);
    s.at(s.now() + 10, fire, 2);
    s.at(s.now() + 5, fire, 1);
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(seen, [1, 2]);
    s.close();
  });

  test("a throwing callback does not stop the others", async () => {
    const errors: unknown[] = [];
    const s = new RealScheduler({ onError: (e) => errors.push(e) });
    const seen: number[] = [];
    const t = s.now();
    s.at(t + 1, () => {
      throw new Error("boom");
    });
    s.at(t + 2, () => seen.push(2));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(errors.length, 1);
    assert.deepEqual(seen, [2]);
    s.close();
  });
});
