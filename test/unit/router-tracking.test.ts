/**
 * Explicit tracking and fast leave, per-link limits, and input validation drops
 * (docs/protocol.md "Input validation"; RFC 9776 §9, RFC 9777 §5).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ALLOW, BLOCK, FAMILIES, Fixture, IS_EX, IS_IN, LMQT, TO_EX, TO_IN, V4, V6 } from "./router-harness.js";

for (const a of FAMILIES) {
  describe(`explicit tracking, ${a.family}`, () => {
    test("fast leave: one of two hosts leaves -> nothing changes; the last one leaves -> forwarding drops at once", () => {
      const f = new Fixture(a, { fastLeave: true });
      f.record(IS_EX, a.group, [], a.host1);
      f.record(IS_EX, a.group, [], a.host2);
      const before = f.forwardingLog.length;
      f.record(TO_IN, a.group, [], a.host1);
      assert.equal(f.forwardingLog.length, before, "no forwarding change");
      assert.equal(f.group()?.filterMode, "exclude");
      assert.equal(f.takeQueries().filter((q) => q.group === a.group).length, 1, "Q(G) still sent");
      assert.deepEqual(
        f.group()?.hosts.map((h) => h.address),
        [a.host2],
      );
      f.record(TO_IN, a.group, [], a.host2);
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "include",
        sources: [],
      });
      assert.equal(f.group(), undefined);
      assert.equal(f.takeQueries().length, 1, "the Q(G) went out all the same");
    });

    test("fast leave with sources: only what nobody wants any more stops", () => {
      const f = new Fixture(a, { fastLeave: true });
      const [s1, s2] = [a.s[1]!, a.s[2]!];
      f.record(ALLOW, a.group, [s1, s2], a.host1);
      f.record(ALLOW, a.group, [s1], a.host2);
      f.record(BLOCK, a.group, [s1, s2], a.host1);
      assert.deepEqual(f.lastForwarding()?.sources, [s1]);
      assert.deepEqual(Object.keys(f.timers()), [s1]);
    });

    test(`fast leave with ${a.family === "ipv4" ? "IGMPv2" : "MLDv1"} leaves`, () => {
      const f = new Fixture(a, { fastLeave: true });
      f.report(2, a.group, a.host1);
      f.report(2, a.group, a.host2);
      f.leave(a.group, a.host1);
      assert.equal(f.group()?.filterMode, "exclude");
      f.leave(a.group, a.host2);
      assert.equal(f.group(), undefined);
    });

    test("without fast leave the RFC timing holds: forwarding stops after LMQT", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.group, [], a.host1);
      f.record(TO_IN, a.group, [], a.host1);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(LMQT - 1);
      assert.equal(f.lastForwarding()?.filterMode, "exclude");
      f.advance(1);
      assert.equal(f.group(), undefined);
    });

    test("anonymous reporters (unspecified source) keep the RFC timing under fast leave", () => {
      const f = new Fixture(a, { fastLeave: true });
      f.record(IS_EX, a.group, [], a.unspecified);
      f.record(TO_IN, a.group, [], a.unspecified);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(LMQT);
      assert.equal(f.group(), undefined);
    });
  });

  describe(`limits, ${a.family}`, () => {
    test("maxGroups refuses new groups, counted", () => {
      const f = new Fixture(a, { maxGroups: 1 });
      f.record(IS_EX, a.group, []);
      f.record(IS_EX, a.group2, []);
      assert.equal(f.router.snapshot().groupCount, 1);
      assert.equal(f.router.counters.refusals["max-groups"], 1);
      f.record(IS_EX, a.group, []);
      assert.equal(f.router.counters.refusals["max-groups"], 1, "existing groups are still refreshed");
    });

    test("maxSourcesPerGroup refuses new sources, counted", () => {
      const f = new Fixture(a, { maxSourcesPerGroup: 2 });
      f.record(ALLOW, a.group, [a.s[1]!, a.s[2]!, a.s[3]!]);
      assert.deepEqual(Object.keys(f.timers()).sort(), [a.s[1]!, a.s[2]!].sort());
      assert.equal(f.router.counters.refusals["max-sources"], 1);
    });
  });

  describe(`validation, ${a.family}`, () => {
    const rec = (group: string, recordType = IS_EX) => ({
      type: "v3report" as const,
      family: a.family,
      records: [{ recordType, group, sources: [], auxData: new Uint8Array() }],
    });

    test("hop limit / TTL other than 1", () => {
      const f = new Fixture(a);
      f.receive(rec(a.group), a.host1, undefined, { ttl: 64 });
      assert.equal(f.router.counters.drops[a.family === "ipv4" ? "bad-ttl" : "bad-hop-limit"], 1);
      assert.equal(f.group(), undefined);
    });

    test("unicast destination", () => {
      const f = new Fixture(a);
      f.receive(rec(a.group), a.host1, a.own);
      assert.equal(f.router.counters.drops["unicast-destination"], 1);
      assert.equal(f.group(), undefined);
    });

    test("invalid, link-local and ignored groups; unknown record types skip only themselves", () => {
      const f = new Fixture(a);
      f.receive({
        type: "v3report",
        family: a.family,
        records: [
          { recordType: IS_EX, group: a.s[1]!, sources: [], auxData: new Uint8Array() },
          { recordType: IS_EX, group: a.linkLocalGroup, sources: [], auxData: new Uint8Array() },
          { recordType: IS_EX, group: a.ignoredGroup, sources: [], auxData: new Uint8Array() },
          { recordType: 9, group: a.group2, sources: [], auxData: new Uint8Array() },
          { recordType: IS_EX, group: a.group, sources: [], auxData: new Uint8Array() },
        ],
      });
      const d = f.router.counters.drops;
      assert.deepEqual(
        [d["invalid-group"], d["link-local-group"], d["ignored-group"], d["unknown-record-type"]],
        [1, 1, 1, 1],
      );
      assert.deepEqual(
        f.router.snapshot().groups.map((g) => g.group),
        [a.group],
      );
    });

    test("group policy: deny-groups wins over allow-groups; groups outside allow-groups are refused, per reason", () => {
      const allow = a.family === "ipv4" ? "239.0.0.0/8" : "ff0e::/16";
      const deny = a.family === "ipv4" ? `${a.group2}/32` : `${a.group2}/128`;
      const outside = a.family === "ipv4" ? "238.1.1.1" : "ff05::1:1";
      const f = new Fixture(a, { allowGroups: [allow], denyGroups: [deny] });
      assert.ok(f.config.allowGroups.length === 1);
      f.record(IS_EX, a.group, [], a.host1);
      f.record(IS_EX, a.group2, [], a.host1);
      f.record(IS_EX, outside, [], a.host1);
      f.report(2, outside, a.host2);
      const d = f.router.counters.drops;
      assert.deepEqual([d["group-denied"], d["group-not-allowed"]], [1, 2]);
      assert.deepEqual(
        f.router.snapshot().groups.map((g) => g.group),
        [a.group],
      );
      // A reload that denies a group withdraws its state at once (forwarding stops, the
      // merge leaves it upstream) and refuses its next report.
      f.router.setConfig({ ...f.config, denyGroups: [allow] });
      assert.deepEqual(f.lastForwarding(), { type: "forwarding", group: a.group, filterMode: "include", sources: [] });
      assert.equal(f.group(), undefined, "withdrawn, not left to age out");
      f.record(IS_EX, a.group, [], a.host2);
      assert.equal(d["group-denied"], 2);
      assert.equal(f.group(), undefined);
    });

    test("source policy: a reload that denies a source withdraws it at once; one that allows it again lets the next report in", () => {
      const [s1, s2] = [a.s[1]!, a.s[2]!];
      const f = new Fixture(a);
      f.record(IS_IN, a.group, [s1, s2]);
      f.record(IS_EX, a.group2, []);
      assert.deepEqual(f.lastForwarding()?.sources, [s1, s2].sort());
      const rule = { group: a.family === "ipv4" ? "239.1.1.0/24" : "ff0e::1:0/112", source: s2 };
      f.router.setConfig({ ...f.config, denySources: [rule] });
      assert.deepEqual(f.lastForwarding(), { type: "forwarding", group: a.group, filterMode: "include", sources: [s1] });
      assert.deepEqual(Object.keys(f.timers()), [s1], "the denied source's record is gone");
      assert.deepEqual(
        f.lastForwarding(a.group2),
        { type: "forwarding", group: a.group2, filterMode: "exclude", sources: [s2] },
        "an EXCLUDE-mode group excludes the denied host at once",
      );
      const effects = f.forwardingLog.length;
      f.router.setConfig({ ...f.config, denySources: [rule], queryIntervalMs: 60_000 });
      assert.equal(f.forwardingLog.length, effects, "a reload that changes no policy emits nothing");
      f.router.setConfig({ ...f.config, denySources: [] });
      assert.deepEqual(f.lastForwarding(a.group2)?.sources, [], "allowed again: EXCLUDE {}");
      f.record(ALLOW, a.group, [s2]);
      assert.deepEqual(f.lastForwarding()?.sources, [s1, s2].sort());
    });

    test("own messages and other-family messages are dropped", () => {
      const f = new Fixture(a);
      f.receive(rec(a.group), a.own);
      const other = a === V4 ? V6 : V4;
      f.receive({ type: "report", family: other.family, version: 2, group: other.group });
      assert.equal(f.router.counters.drops["own-message"], 1);
      assert.equal(f.router.counters.drops["family-mismatch"], 1);
      assert.equal(f.group(), undefined);
    });
  });
}

describe("family-specific validation", () => {
  test("IGMP report from a source outside the link's subnets is dropped; 0.0.0.0 is accepted", () => {
    const f = new Fixture(V4);
    f.report(2, V4.group, V4.offLink);
    assert.equal(f.router.counters.drops["source-not-on-link"], 1);
    assert.equal(f.group(), undefined);
    f.report(2, V4.group, "0.0.0.0");
    assert.equal(f.group()?.filterMode, "exclude");
  });

  test("MLD without Router Alert or from a global source is dropped", () => {
    const f = new Fixture(V6);
    f.receive({ type: "report", family: "ipv6", version: 1, group: V6.group }, V6.host1, undefined, {
      routerAlert: false,
    });
    f.receive({ type: "report", family: "ipv6", version: 1, group: V6.group }, "fd00:11::5");
    assert.equal(f.router.counters.drops["no-router-alert"], 1);
    assert.equal(f.router.counters.drops["non-link-local-source"], 1);
    assert.equal(f.group(), undefined);
    f.receive({ type: "report", family: "ipv6", version: 1, group: V6.group }, "::");
    assert.equal(f.group()?.filterMode, "exclude", "a report from :: is accepted (RFC 9777 §5.2.13)");
  });

  test("received counters by type and version", () => {
    const f = new Fixture(V4);
    f.report(2, V4.group);
    f.report(1, V4.group);
    f.leave(V4.group);
    f.query({ version: 2 });
    const r = f.router.counters.received;
    assert.deepEqual([r["igmpv2-report"], r["igmpv1-report"], r["igmpv2-leave"], r["igmpv2-query"]], [1, 1, 1, 1]);
    assert.equal(f.router.counters.olderVersionQueries, 1);
  });

  test("counter keys name the protocol and its version: MLDv1 done, MLDv2 report, sent queries", () => {
    const f = new Fixture(V6);
    f.record(TO_EX, V6.group, []);
    f.report(1, V6.group2);
    f.leave(V6.group2);
    f.query({ version: 1 });
    const r = f.router.counters.received;
    assert.deepEqual(
      [r["mldv2-report"], r["mldv1-report"], r["mldv1-done"], r["mldv1-query"]],
      [1, 1, 1, 1],
    );
    assert.ok((f.router.counters.sent["mldv2-general-query"] ?? 0) >= 1, JSON.stringify(f.router.counters.sent));
    for (const k of [...Object.keys(r), ...Object.keys(f.router.counters.sent)]) {
      assert.match(k, /^(mldv[12]-(query|report|done|general-query|group-query|group-source-query)|group-record)$/);
    }
  });
});
