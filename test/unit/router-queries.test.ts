/**
 * RFC 9776 §6.5, §6.6 (RFC 9777 §7.5, §7.6): timer expiry, specific-query retransmission,
 * the S flag rules of §6.6.3 (including the split of Q(G,S) in two), timer lowering on
 * received queries (§6.6.1), startup and periodic general queries in every version.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse, serialize } from "../../src/wire/index.js";
import type { Query } from "../../src/wire/types.js";
import {
  type Addrs,
  ALLOW,
  BLOCK,
  FAMILIES,
  Fixture,
  GMI,
  IS_EX,
  LMQI,
  LMQT,
  TO_IN,
  V4,
  V6,
} from "./router-harness.js";

for (const a of FAMILIES) {
  describe(`specific queries and timers, ${a.family}`, () => {
    test("§6.6.3.2: Q(G,S) is split: sources with timer > LMQT with S set, the others with S clear", () => {
      const f = new Fixture(a);
      const [s1, s2] = [a.s[1]!, a.s[2]!];
      f.record(ALLOW, a.group, [s1, s2]);
      f.takeQueries();
      f.record(BLOCK, a.group, [s1]);
      assert.deepEqual(
        f.takeQueries().map((q) => [q.sources, q.sFlag]),
        [[[s1], false]],
      );
      f.advance(LMQI / 2);
      // Another host still wants s1 (timer back to GMI) and s2 is blocked.
      f.record(ALLOW, a.group, [s1], a.host2);
      f.record(BLOCK, a.group, [s2]);
      const round = f.takeQueries().map((q) => [q.sources, q.sFlag]);
      assert.deepEqual(round, [
        [[s1], true],
        [[s2], false],
      ]);
      f.advance(LMQI);
      // s1 had its LMQC = 2 transmissions; s2 gets its second one.
      assert.deepEqual(
        f.takeQueries().map((q) => [q.sources, q.sFlag]),
        [[[s2], false]],
      );
      f.advance(LMQT);
      assert.deepEqual(f.takeQueries(), []);
      assert.deepEqual(Object.keys(f.timers()), [s1], "s2 expired, s1 kept by the other host");
      assert.deepEqual(f.lastForwarding()?.sources, [s1]);
    });

    test("§6.6.3.1: Q(G) retransmissions carry the S flag once a report raised the group timer", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.group, []);
      f.record(IS_EX, a.group, [], a.host2);
      f.takeQueries();
      f.record(TO_IN, a.group, []);
      assert.deepEqual(
        f.takeQueries().map((q) => [q.group, q.sources, q.sFlag]),
        [[a.group, [], false]],
      );
      assert.equal(f.group()?.expiresMs, LMQT, "group timer lowered to LMQT");
      f.advance(LMQI / 2);
      f.record(IS_EX, a.group, [], a.host2); // answer: group timer = GMI
      f.advance(LMQI / 2);
      assert.deepEqual(
        f.takeQueries().map((q) => [q.group, q.sFlag]),
        [[a.group, true]],
      );
      f.advance(10 * LMQT);
      assert.equal(f.group()?.filterMode, "exclude", "the group survives");
      assert.deepEqual(f.takeQueries(), []);
    });

    test("§6.5: group timer expiry switches EXCLUDE to INCLUDE with the running sources; the group goes when none are left", () => {
      const f = new Fixture(a);
      const [s1, s2] = [a.s[1]!, a.s[2]!];
      f.record(IS_EX, a.group, [s2]);
      f.advance(GMI / 2);
      f.record(ALLOW, a.group, [s1]);
      f.advance(GMI / 2 - 1);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(1);
      assert.equal(f.group()?.filterMode, "include");
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "include",
        sources: [s1],
      });
      f.advance(GMI / 2 - 1);
      assert.ok(f.group());
      f.advance(1);
      assert.equal(f.group(), undefined);
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "include",
        sources: [],
      });
    });

    test("§6.6: a 260 s membership expires exactly at GMI without any wall-clock wait", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.group, []);
      assert.deepEqual(f.lastForwarding()?.filterMode, "exclude");
      f.advance(GMI - 1);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(1);
      assert.equal(f.group(), undefined);
      assert.equal(f.lastForwarding()?.filterMode, "include");
      assert.deepEqual(f.lastForwarding()?.sources, []);
    });

    test("§6.6: source timer expiry in EXCLUDE moves the source to the blocked list", () => {
      const f = new Fixture(a);
      const s1 = a.s[1]!;
      f.record(IS_EX, a.group, []);
      f.record(ALLOW, a.group, [s1]);
      f.record(BLOCK, a.group, [s1]);
      assert.deepEqual(f.timers(), { [s1]: LMQT });
      f.advance(LMQT - 1);
      assert.deepEqual(f.lastForwarding()?.sources, []);
      f.advance(1);
      assert.deepEqual(f.timers(), { [s1]: 0 });
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "exclude",
        sources: [s1],
      });
    });

    test("§6.6.1: a non-querier lowers timers on Q(G)/Q(G,S) with S clear, not with S set", () => {
      const f = new Fixture(a);
      const [s1, s2] = [a.s[1]!, a.s[2]!];
      f.query({ source: a.lowerRouter });
      f.record(IS_EX, a.group, []);
      f.record(ALLOW, a.group, [s1, s2]);
      f.query({ source: a.lowerRouter, group: a.group, sFlag: true });
      assert.equal(f.group()?.expiresMs, GMI);
      f.query({ source: a.lowerRouter, group: a.group });
      assert.equal(f.group()?.expiresMs, LMQT);
      f.query({ source: a.lowerRouter, group: a.group, sources: [s1], sFlag: true });
      assert.deepEqual(f.timers(), { [s1]: GMI, [s2]: GMI });
      f.query({ source: a.lowerRouter, group: a.group, sources: [s1] });
      assert.deepEqual(f.timers(), { [s1]: LMQT, [s2]: GMI });
      f.advance(LMQT);
      assert.equal(f.group()?.filterMode, "include");
      assert.deepEqual(f.timers(), { [s2]: GMI - LMQT });
    });

    test("startup: Startup Query Count general queries at the Startup Query Interval, then every Query Interval", () => {
      const f = new Fixture(a, {}, false);
      f.router.start();
      const first = f.takeQueries();
      assert.equal(first.length, 1);
      assert.deepEqual(first[0], {
        group: a.unspecified,
        sources: [],
        sFlag: false,
        destination: a.allHosts,
        version: a.family === "ipv4" ? 3 : 2,
      });
      const sends = () => f.takeQueries().length;
      f.advance(31_249);
      assert.equal(sends(), 0);
      f.advance(1);
      assert.equal(sends(), 1, "second startup query at 31.25 s");
      f.advance(124_999);
      assert.equal(sends(), 0);
      f.advance(1);
      assert.equal(sends(), 1, "then Query Interval");
      f.advance(125_000);
      assert.equal(sends(), 1);
    });

    test("general query fields: QRV, QQIC, Max Resp Code = Query Response Interval", () => {
      const f = new Fixture(a, {}, false);
      f.router.start();
      const e = f.effects.find((x) => x.type === "send");
      assert.ok(e && e.type === "send");
      assert.equal(e.query.qrv, 2);
      assert.equal(e.query.qqiSeconds, 125);
      assert.equal(e.query.maxRespTimeMs, 10_000);
    });

    test("setConfig (reload): state kept, a shorter Query Interval brings the next general query forward, new values apply", () => {
      const f = new Fixture(a, { startupQueryCount: 1 });
      f.record(IS_EX, a.group, []);
      f.effects.length = 0;
      f.advance(10_000);
      f.router.setConfig({ ...f.config, queryIntervalMs: 30_000, version: a.family === "ipv4" ? 2 : 1 });
      assert.equal(f.group()?.filterMode, "exclude", "group state survives");
      assert.equal(
        f.effects.filter((e) => e.type === "forwarding").length,
        0,
        "no forwarding change from a reload",
      );
      f.advance(29_999);
      assert.equal(f.takeQueries().length, 0);
      f.advance(1);
      const q = f.takeQueries();
      assert.equal(q.length, 1, "general query 30 s after the reload");
      assert.equal(q[0]!.version, a.family === "ipv4" ? 2 : 1, "new querier version used");
      f.advance(30_000);
      assert.equal(f.takeQueries().length, 1, "then every 30 s");
    });

    test("stop(): every forwarded group is withdrawn and no timer is left", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.group, []);
      f.record(ALLOW, a.group2, [a.s[1]!]);
      f.router.stop();
      assert.deepEqual(f.lastForwarding(a.group)?.sources, []);
      assert.equal(f.lastForwarding(a.group)?.filterMode, "include");
      assert.equal(f.lastForwarding(a.group2)?.filterMode, "include");
      assert.deepEqual(f.lastForwarding(a.group2)?.sources, []);
      assert.equal(f.scheduler.pending, 0);
      assert.equal(f.router.snapshot().groupCount, 0);
    });
  });
}

/** A router configured for `version`, started, and the first query it sent. */
function startVersion(a: Addrs, version: number): { f: Fixture; query: Query } {
  const f = new Fixture(a, { version }, false);
  f.router.start();
  const e = f.effects.find((x) => x.type === "send");
  assert.ok(e && e.type === "send");
  return { f, query: e.query };
}

describe("query versions", () => {
  test("IGMPv2 querier: v2 general queries and Q(G), no Q(G,S)", () => {
    const f = new Fixture(V4, { version: 2 }, false);
    f.router.start();
    const [gq] = f.takeQueries();
    assert.equal(gq?.version, 2);
    f.report(2, V4.group);
    f.leave(V4.group);
    const qs = f.takeQueries();
    assert.deepEqual(
      qs.map((q) => [q.version, q.group, q.sources.length]),
      [[2, V4.group, 0]],
    );
    f.record(ALLOW, V4.group2, [V4.s[1]!]);
    f.record(BLOCK, V4.group2, [V4.s[1]!]);
    assert.deepEqual(f.takeQueries(), []);
  });

  test("IGMPv1 querier: v1 queries with max resp 0; leaves ignored", () => {
    const { f, query } = startVersion(V4, 1);
    assert.equal(query.version, 1);
    assert.equal(query.maxRespCode, 0);
    f.takeQueries();
    f.report(1, V4.group);
    f.leave(V4.group);
    assert.equal(f.router.counters.drops["leave-in-v1-mode"], 1);
    assert.equal(f.group()?.filterMode, "exclude");
  });

  test("MLDv1 querier: MLDv1 general queries", () => {
    const { query } = startVersion(V6, 1);
    assert.equal(query.version, 1);
    assert.equal(query.maxRespCode, 10_000);
  });
});

describe("queries survive the wire codec", () => {
  for (const a of FAMILIES) {
    test(`${a.family}: every query the router emits serializes and parses back unchanged`, () => {
      const f = new Fixture(a, {}, false);
      f.router.start();
      f.record(IS_EX, a.group, []);
      f.record(ALLOW, a.group, [a.s[1]!, a.s[2]!]);
      f.record(TO_IN, a.group, [a.s[2]!]);
      const sends = f.effects.filter((e) => e.type === "send");
      assert.ok(sends.length >= 3);
      for (const e of sends) {
        const bytes = serialize(
          a.family,
          e.query,
          a.family === "ipv6" ? { source: a.own, destination: e.destination } : undefined,
        );
        const back = parse(
          a.family,
          bytes,
          a.family === "ipv6" ? { source: a.own, destination: e.destination } : undefined,
        );
        assert.ok(back.ok);
        assert.deepEqual(back.message, e.query);
      }
    });
  }
});
