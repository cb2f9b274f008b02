/**
 * The router engine on an untrusted LAN (docs/protocol.md "Input validation", "Querier
 * election", "Bounded state"): queries from addresses no querier can have are ignored and
 * counted (RFC 9776 §6.6.2, RFC 9777 §7.6.2); adopted QRV / QQI are clamped and counted
 * (RFC 9776 §4.1.6, §4.1.7); groups per reporting host are capped; reports are rate
 * limited per link and per host on scheduler time. Both families, virtual time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultRouterConfig } from "../../src/daemon/router-config.js";
import { MAX_RATE_HOSTS, ReportRateLimiter } from "../../src/router/rate-limit.js";
import type { GroupRecord } from "../../src/wire/types.js";
import { ALLOW, BLOCK, FAMILIES, Fixture, IS_EX, IS_IN, LMQT, TO_IN } from "./router-harness.js";

for (const a of FAMILIES) {
  const v4 = a.family === "ipv4";
  const s = (i: number) => a.s[i]!;
  const grp = (i: number) => (v4 ? `239.2.${i >> 8}.${i & 255}` : `ff0e::2:${i.toString(16)}`);
  const host = (i: number) => (v4 ? `10.11.0.${100 + i}` : `fe80::1:${i.toString(16)}`);
  const records = (n: number, first = 0): GroupRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      recordType: IS_EX,
      group: grp(first + i),
      sources: [],
      auxData: new Uint8Array(),
    }));
  const v3 = (f: Fixture, recs: GroupRecord[], from: string = a.host1) =>
    f.receive({ type: "v3report", family: a.family, records: recs }, from);

  describe(`queries from addresses no querier can have, ${a.family}`, () => {
    const bad = v4 ? ["10.11.0.0", "10.11.0.255"] : ["fe80::"];
    for (const source of bad) {
      test(`a query from ${source} takes no part in the election, counted as query-bad-source`, () => {
        const f = new Fixture(a);
        // The reported incident: QRV 7, QQIC 255 from the link's network address.
        f.query({ source, qrv: 7, qqic: 255, qqiSeconds: 255 });
        assert.equal(f.router.isQuerier, true);
        assert.equal(f.router.counters.drops["query-bad-source"], 1);
        const snap = f.router.snapshot();
        assert.equal(snap.robustnessVariable, 2, "nothing adopted");
        assert.equal(snap.queryIntervalMs, 125_000);
      });

      test(`a Q(G) from ${source} does not lower timers`, () => {
        const f = new Fixture(a);
        f.record(IS_EX, a.group, []);
        f.query({ source, group: a.group });
        assert.equal(f.router.counters.drops["query-bad-source"], 1);
        f.advance(LMQT + 1);
        assert.equal(f.group()?.filterMode, "exclude", "group timer not lowered to LMQT");
      });
    }

    if (v4) {
      test("every subnet of the link counts; /31 and /32 have no network or broadcast address", () => {
        const f = new Fixture(a);
        // Own address above every test source, so that any accepted query wins the election.
        f.router.setAddresses("10.14.0.7", [a.subnet, "10.12.0.0/16", "10.13.0.0/31", "10.14.0.7/32"]);
        f.query({ source: "10.12.255.255" });
        f.query({ source: "10.12.0.0" });
        assert.equal(f.router.counters.drops["query-bad-source"], 2);
        assert.equal(f.router.isQuerier, true);
        f.query({ source: "10.13.0.0" });
        assert.equal(f.router.isQuerier, false, "10.13.0.0 is a host address of a /31 (RFC 3021)");
        assert.equal(f.router.counters.drops["query-bad-source"], 2);
      });

      test("a query from outside the link's subnets stays source-not-on-link", () => {
        const f = new Fixture(a);
        f.query({ source: a.offLink });
        assert.equal(f.router.isQuerier, true);
        assert.equal(f.router.counters.drops["source-not-on-link"], 1);
      });
    } else {
      test("a query from a non-link-local source stays non-link-local-source", () => {
        const f = new Fixture(a);
        f.query({ source: "fd00:11::1" });
        assert.equal(f.router.isQuerier, true);
        assert.equal(f.router.counters.drops["non-link-local-source"], 1);
      });

      test("fe80::1 is a valid querier", () => {
        const f = new Fixture(a);
        f.query({ source: "fe80::1" });
        assert.equal(f.router.isQuerier, false);
        assert.equal(f.router.counters.drops["query-bad-source"], undefined);
      });
    }

    test("reports from the network address are not queries: no query-bad-source", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.group, [], v4 ? "10.11.0.0" : "fe80::");
      assert.equal(f.router.counters.drops["query-bad-source"], undefined);
    });
  });

  describe(`adopted QRV / QQI clamped, ${a.family}`, () => {
    test("QRV 7 and the largest QQIC are clamped to the defaults' bounds and counted", () => {
      const f = new Fixture(a);
      f.query({ source: a.lowerRouter, qrv: 7, qqic: 255, qqiSeconds: 31_744 });
      const snap = f.router.snapshot();
      assert.equal(snap.querier, false);
      assert.equal(snap.robustnessVariable, 3);
      assert.equal(snap.queryIntervalMs, 300_000);
      assert.equal(snap.groupMembershipIntervalMs, 3 * 300_000 + 10_000);
      assert.deepEqual(snap.clampedAdoption, { robustness: 7, queryIntervalMs: 31_744_000 });
      assert.equal(f.router.counters.refusals["max-adopted-robustness"], 1);
      assert.equal(f.router.counters.refusals["max-adopted-query-interval"], 1);
      const oqpi = 3 * 300_000 + 5_000;
      assert.equal(snap.otherQuerierPresentMs, oqpi, "about 15 minutes, not 61.7 hours");
      f.advance(oqpi);
      assert.equal(f.router.isQuerier, true);
      assert.equal(f.router.snapshot().clampedAdoption, null);
      assert.equal(f.router.snapshot().robustnessVariable, 2);
    });

    test("each clamped query counts; one within the bounds clears the snapshot field", () => {
      const f = new Fixture(a);
      f.query({ source: a.lowerRouter, qrv: 5, qqic: 125, qqiSeconds: 125 });
      f.query({ source: a.lowerRouter, qrv: 5, qqic: 125, qqiSeconds: 125 });
      assert.equal(f.router.counters.refusals["max-adopted-robustness"], 2);
      assert.equal(f.router.counters.refusals["max-adopted-query-interval"], undefined);
      assert.deepEqual(f.router.snapshot().clampedAdoption, { robustness: 5, queryIntervalMs: 125_000 });
      f.query({ source: a.lowerRouter, qrv: 3, qqic: 200, qqiSeconds: 200 });
      const snap = f.router.snapshot();
      assert.equal(snap.clampedAdoption, null);
      assert.equal(snap.robustnessVariable, 3);
      assert.equal(snap.queryIntervalMs, 200_000);
      assert.equal(f.router.counters.refusals["max-adopted-robustness"], 2);
    });

    test("the bounds are never below our own configured values", () => {
      const f = new Fixture(a, {
        robustnessVariable: 5,
        queryIntervalMs: 600_000,
        maxAdoptedRobustness: 3,
        maxAdoptedQueryIntervalMs: 300_000,
      });
      f.query({ source: a.lowerRouter, qrv: 5, qqic: 255, qqiSeconds: 600 });
      assert.equal(f.router.snapshot().robustnessVariable, 5);
      assert.equal(f.router.snapshot().queryIntervalMs, 600_000);
      assert.deepEqual(f.router.counters.refusals, {});
      f.query({ source: a.lowerRouter, qrv: 6, qqic: 255, qqiSeconds: 601 });
      assert.equal(f.router.snapshot().robustnessVariable, 5);
      assert.equal(f.router.snapshot().queryIntervalMs, 600_000);
    });

    test("configured bounds", () => {
      const f = new Fixture(a, { maxAdoptedRobustness: 7, maxAdoptedQueryIntervalMs: 1_000_000 });
      f.query({ source: a.lowerRouter, qrv: 7, qqic: 255, qqiSeconds: 1_200 });
      assert.equal(f.router.snapshot().robustnessVariable, 7);
      assert.equal(f.router.snapshot().queryIntervalMs, 1_000_000);
      assert.equal(f.router.counters.refusals["max-adopted-robustness"], undefined);
      assert.equal(f.router.counters.refusals["max-adopted-query-interval"], 1);
    });

    test("adopted values stretch group timers no further than the bounds", () => {
      const f = new Fixture(a);
      f.query({ source: a.lowerRouter, qrv: 7, qqic: 255, qqiSeconds: 31_744 });
      f.record(IS_EX, a.group, []);
      assert.equal(f.group()?.expiresMs, 3 * 300_000 + 10_000);
    });
  });

  describe(`groups per host, ${a.family}`, () => {
    test("a host's new groups beyond maxGroupsPerHost are refused and counted; others still join", () => {
      const f = new Fixture(a, { maxGroupsPerHost: 2 });
      v3(f, records(3));
      assert.equal(f.router.groupCount, 2);
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 1);
      f.report(2, grp(3));
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 2, "older reports count too");
      v3(f, records(1, 2), a.host2);
      assert.equal(f.router.groupCount, 3, "host2 creates the third group");
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 2);
      v3(f, records(2), a.host1);
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 2, "existing groups are refreshed");
    });

    test("a group re-reported by another host is counted against that host", () => {
      const f = new Fixture(a, { maxGroupsPerHost: 2 });
      v3(f, records(2));
      v3(f, records(1), a.host2); // host2 takes grp(0) over
      v3(f, records(1, 5));
      assert.equal(f.router.groupCount, 3, "host1 holds one group now, room for one more");
      assert.equal(f.router.counters.refusals["max-groups-per-host"], undefined);
    });

    test("a group that goes away gives its place back", () => {
      const f = new Fixture(a, { maxGroupsPerHost: 1 });
      f.record(ALLOW, a.group, [s(1)]);
      f.record(ALLOW, a.group2, [s(1)]);
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 1);
      f.record(TO_IN, a.group, []);
      f.advance(LMQT + 1);
      assert.equal(f.group(), undefined);
      f.record(ALLOW, a.group2, [s(1)]);
      assert.ok(f.group(a.group2), "room again");
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 1);
    });

    test("a leave does not take a group over", () => {
      const f = new Fixture(a, { maxGroupsPerHost: 1 });
      f.record(IS_EX, a.group, [], a.host2);
      f.record(IS_EX, a.group2, [], a.host1);
      f.leave(a.group, a.host1); // host1 is at its cap; the leave must not move group to it
      f.record(IS_EX, a.group, [], a.host2);
      f.record(IS_IN, grp(9), [s(1)], a.host2);
      assert.equal(f.router.counters.refusals["max-groups-per-host"], 1, "host2 still holds group");
    });

    test("the default is within max-groups", () => {
      const c = defaultRouterConfig(a.family);
      assert.ok(c.maxGroupsPerHost >= 64 && c.maxGroupsPerHost <= c.maxGroups);
    });
  });

  describe(`explicit tracking bounded, ${a.family}`, () => {
    test("hosts beyond the link's tracking cap are not tracked; their group keeps the RFC timing", () => {
      // Cap: maxGroups + maxGroupSources = 4 entries; a host record with one source is 2.
      const f = new Fixture(a, { fastLeave: true, maxGroups: 2, maxGroupSources: 2 });
      f.record(IS_IN, a.group, [s(1)], a.host1);
      f.record(IS_IN, a.group, [s(1)], a.host2);
      assert.equal(f.group()?.hosts.length, 2);
      f.record(IS_IN, a.group, [s(1)], a.host3);
      assert.equal(f.router.counters.refusals["max-tracked-hosts"], 1);
      assert.equal(f.group()?.hosts.length, 2, "host3 not tracked");
      f.record(BLOCK, a.group, [s(1)], a.host1);
      f.record(BLOCK, a.group, [s(1)], a.host2);
      assert.deepEqual(f.lastForwarding()?.sources, [s(1)], "no fast leave: host3 may still want s1");
      f.advance(LMQT + 1);
      assert.equal(f.group(), undefined, "the RFC flow still ends it after LMQT");
    });

    test("entries come back when host records go", () => {
      const f = new Fixture(a, { fastLeave: true, maxGroups: 2, maxGroupSources: 2 });
      f.record(IS_IN, a.group, [s(1)], a.host1);
      f.record(IS_IN, a.group, [s(1)], a.host2);
      f.record(BLOCK, a.group, [s(1)], a.host1);
      f.record(BLOCK, a.group, [s(1)], a.host2);
      assert.equal(f.group(), undefined, "fast leave");
      f.record(IS_IN, a.group2, [s(1)], a.host1);
      f.record(IS_IN, a.group2, [s(1)], a.host2);
      assert.equal(f.group(a.group2)?.hosts.length, 2);
      assert.equal(f.router.counters.refusals["max-tracked-hosts"], undefined);
    });
  });

  describe(`report rate limits, ${a.family}`, () => {
    test("per host: a burst beyond the bucket is dropped and counted; refill after time advances", () => {
      const f = new Fixture(a, { hostReportRateLimit: 5 });
      v3(f, records(8));
      assert.equal(f.router.groupCount, 5);
      assert.equal(f.router.counters.drops["rate-limit"], 3);
      assert.equal(f.router.counters.received["group-record"], 5);
      v3(f, records(1, 20));
      assert.equal(f.router.counters.drops["rate-limit"], 4, "empty until time passes");
      f.advance(200); // one token
      v3(f, records(3, 30));
      assert.equal(f.router.groupCount, 6);
      assert.equal(f.router.counters.drops["rate-limit"], 6);
      f.advance(10_000); // full again, but no more than one second's worth
      v3(f, records(8, 40));
      assert.equal(f.router.groupCount, 11);
      assert.equal(f.router.counters.drops["rate-limit"], 9);
      v3(f, records(5, 60), a.host2);
      assert.equal(f.router.groupCount, 16, "other hosts have their own bucket");
    });

    test("per link: all hosts together", () => {
      const f = new Fixture(a, { reportRateLimit: 10, hostReportRateLimit: 100 });
      for (let h = 0; h < 3; h++) v3(f, records(4, h * 10), host(h));
      assert.equal(f.router.groupCount, 10);
      assert.equal(f.router.counters.drops["rate-limit"], 2);
      f.advance(500);
      v3(f, records(8, 100), host(5));
      assert.equal(f.router.groupCount, 15);
      assert.equal(f.router.counters.drops["rate-limit"], 5);
    });

    test("older reports and leaves are one record each", () => {
      const f = new Fixture(a, { hostReportRateLimit: 2 });
      f.report(2, a.group);
      f.leave(a.group);
      f.report(2, a.group2);
      assert.equal(f.router.counters.drops["rate-limit"], 1);
      assert.equal(f.group(a.group2), undefined);
    });

    test("queries are not rate limited", () => {
      const f = new Fixture(a, { reportRateLimit: 1, hostReportRateLimit: 1 });
      for (let i = 0; i < 5; i++) f.query({ source: a.higherRouter });
      assert.equal(f.router.counters.drops["rate-limit"], undefined);
    });

    test("the defaults let a full link be re-reported within the Query Response Interval", () => {
      const c = defaultRouterConfig(a.family);
      assert.ok((c.reportRateLimit * c.queryResponseIntervalMs) / 1000 >= c.maxGroups);
      assert.ok(c.hostReportRateLimit >= c.maxGroupsPerHost, "a host at its cap answers in one burst");
      assert.ok(c.reportRateLimit >= c.hostReportRateLimit);
      assert.ok(c.reportRateLimit <= 100_000, "bounded");
    });
  });
}

describe("ReportRateLimiter host table", () => {
  test("holds at most maxHosts buckets; idle ones go first", () => {
    const r = new ReportRateLimiter(1_000_000, 10, 0, 4);
    for (let i = 0; i < 10; i++) assert.equal(r.take(`10.0.0.${i}`, 1, 0), 1);
    assert.equal(r.hostCount, 4);
    assert.equal(r.take("10.0.0.9", 10, 0), 9, "the newest host kept its bucket");
    r.take("10.0.1.1", 1, 2_000);
    assert.ok(r.hostCount <= 3, "idle buckets are dropped when a host arrives");
  });

  test("the default cap", () => {
    assert.ok(MAX_RATE_HOSTS >= 256 && MAX_RATE_HOSTS <= 4096);
  });
});
