/**
 * Querier election (RFC 9776 §6.6.2, RFC 9777 §7.6.2): lowest address wins; the Other
 * Querier Present timer; QRV/QQIC learned from the elected querier (§4.1.6, §4.1.7);
 * address changes re-run the election.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RouterEffect } from "../../src/router/types.js";
import { FAMILIES, Fixture, OQPI } from "./router-harness.js";

function querierEffects(f: Fixture): Extract<RouterEffect, { type: "querier" }>[] {
  return f.allEffects.filter((e): e is Extract<RouterEffect, { type: "querier" }> => e.type === "querier");
}

for (const a of FAMILIES) {
  describe(`querier election, ${a.family}`, () => {
    test("starts as querier and reports it", () => {
      const f = new Fixture(a);
      assert.deepEqual(querierEffects(f), [{ type: "querier", querier: true, querierAddress: a.own }]);
      assert.equal(f.router.snapshot().querier, true);
    });

    test("a lower address takes over; silence for the Other Querier Present Interval gives it back", () => {
      const f = new Fixture(a);
      f.advance(1000);
      f.query({ source: a.lowerRouter });
      assert.deepEqual(querierEffects(f).at(-1), {
        type: "querier",
        querier: false,
        querierAddress: a.lowerRouter,
      });
      assert.equal(f.router.isQuerier, false);
      f.takeQueries();
      f.advance(OQPI - 1);
      assert.deepEqual(f.takeQueries(), [], "no queries while another querier is present");
      assert.equal(f.router.snapshot().otherQuerierPresentMs, 1);
      f.advance(1);
      assert.equal(f.router.isQuerier, true);
      assert.deepEqual(querierEffects(f).at(-1), { type: "querier", querier: true, querierAddress: a.own });
      const qs = f.takeQueries();
      assert.equal(qs.length, 1, "a general query at once");
      assert.equal(qs[0]?.group, a.unspecified);
      f.advance(125_000);
      assert.equal(f.takeQueries().length, 1, "then every Query Interval");
    });

    test("the other querier's repeated queries keep us quiet", () => {
      const f = new Fixture(a);
      for (let i = 0; i < 5; i++) {
        f.query({ source: a.lowerRouter });
        f.advance(125_000);
      }
      assert.equal(f.router.isQuerier, false);
      assert.equal(querierEffects(f).length, 2, "only one change");
    });

    test("a higher address does not win", () => {
      const f = new Fixture(a);
      f.query({ source: a.higherRouter });
      assert.equal(f.router.isQuerier, true);
      assert.equal(querierEffects(f).length, 1);
    });

    test("queries from the unspecified address (snooping switches) take no part in the election", () => {
      const f = new Fixture(a);
      f.query({ source: a.unspecified });
      if (a.family === "ipv4") {
        assert.equal(f.router.isQuerier, true);
        assert.equal(f.router.counters.drops["query-unspecified-source"], 1);
      } else {
        assert.equal(
          f.router.counters.drops["non-link-local-source"],
          1,
          "MLD queries need a link-local source",
        );
      }
    });

    test("QRV and QQIC of the elected querier are adopted; own values return on takeover", () => {
      const f = new Fixture(a);
      f.query({ source: a.lowerRouter, qrv: 3, qqiSeconds: 60, qqic: 60 });
      const snap = f.router.snapshot();
      assert.equal(snap.robustnessVariable, 3);
      assert.equal(snap.queryIntervalMs, 60_000);
      assert.equal(snap.groupMembershipIntervalMs, 3 * 60_000 + 10_000);
      const oqpi = 3 * 60_000 + 5_000;
      f.advance(oqpi - 1);
      assert.equal(f.router.isQuerier, false);
      f.advance(1);
      assert.equal(f.router.isQuerier, true, "Other Querier Present Interval uses the learned values");
      assert.equal(f.router.snapshot().robustnessVariable, 2);
      assert.equal(f.router.snapshot().queryIntervalMs, 125_000);
    });

    test("address change: a new lower own address wins back the election", () => {
      const f = new Fixture(a);
      f.query({ source: a.lowerRouter });
      f.takeQueries();
      const lowest = a.family === "ipv4" ? "10.11.0.2" : "fe80::2";
      f.router.setAddresses(lowest, a.family === "ipv4" ? [a.subnet] : [a.subnet, "fe80::/64"]);
      assert.equal(f.router.isQuerier, true);
      assert.deepEqual(querierEffects(f).at(-1), { type: "querier", querier: true, querierAddress: lowest });
      assert.equal(f.takeQueries().length, 1);
    });

    test("a querier that loses its address stays querier but reports no address, and yields to anyone", () => {
      const f = new Fixture(a);
      f.router.setAddresses(null, []);
      assert.deepEqual(querierEffects(f).at(-1), { type: "querier", querier: true, querierAddress: null });
      if (a.family === "ipv6") {
        f.query({ source: a.higherRouter });
        assert.equal(f.router.isQuerier, false);
      }
    });
  });
}
