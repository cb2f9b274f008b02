/**
 * The source policy of a link (allow-sources, deny-sources; src/router/source-policy.ts):
 * refused sources never get a source record, are counted per reason when a record asks for
 * them, and the link's forwarding state keeps them out (docs/protocol.md "Source policy").
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GroupSourcePolicy, policedState, SourcePolicy } from "../../src/router/source-policy.js";
import { CidrSet } from "../../src/wire/address.js";
import { ALLOW, BLOCK, FAMILIES, Fixture, IS_EX, IS_IN, TO_EX, TO_IN } from "./router-harness.js";

for (const a of FAMILIES) {
  const host = (s: string) => (a.family === "ipv4" ? `${s}/32` : `${s}/128`);
  const group = (g: string) => host(g);
  const [s1, s2, s3] = [a.s[1]!, a.s[2]!, a.s[3]!];
  /** A prefix holding s2 and s3 but not s1 (198.18.0.2/31, fd00:99::2/127). */
  const s2s3 = a.family === "ipv4" ? "198.18.0.2/31" : "fd00:99::2/127";

  describe(`source policy, ${a.family}`, () => {
    test("INCLUDE {allowed, denied} -> the link state is INCLUDE {allowed}; the denied source is counted, never stored", () => {
      const f = new Fixture(a, { denySources: [{ group: group(a.group), source: host(s2) }] });
      f.record(IS_IN, a.group, [s1, s2]);
      assert.deepEqual(f.lastForwarding(), { type: "forwarding", group: a.group, filterMode: "include", sources: [s1] });
      assert.deepEqual(Object.keys(f.timers()), [s1], "no source record for the denied source");
      assert.equal(f.router.counters.drops["source-denied"], 1);
      f.record(ALLOW, a.group, [s2]);
      f.record(TO_IN, a.group, [s1, s2]);
      assert.equal(f.router.counters.drops["source-denied"], 3, "ALLOW and TO_IN count it too");
      assert.deepEqual(Object.keys(f.timers()), [s1]);
      f.record(IS_IN, a.group2, [s1, s2]);
      assert.deepEqual(f.lastForwarding(a.group2)?.sources, [s1, s2].sort(), "another group is not affected");
    });

    test("a record with only refused sources creates no group", () => {
      const f = new Fixture(a, { denySources: [{ group: group(a.group), source: host(s2) }] });
      f.record(IS_IN, a.group, [s2]);
      assert.equal(f.group(), undefined);
      assert.equal(f.lastForwarding(), undefined);
    });

    test("allow-sources: a covered group gets only the allowed sources (source-not-allowed); deny wins over allow", () => {
      const f = new Fixture(a, {
        allowSources: [{ group: group(a.group), source: a.family === "ipv4" ? "198.18.0.0/30" : "fd00:99::/126" }],
        denySources: [{ group: group(a.group), source: host(s3) }],
      });
      f.record(IS_IN, a.group, [s1, s2, s3, a.s[5]!]);
      assert.deepEqual(f.lastForwarding()?.sources, [s1, s2].sort());
      const d = f.router.counters.drops;
      assert.deepEqual([d["source-denied"], d["source-not-allowed"]], [1, 1]);
      assert.equal(f.router.sourceAllowed(a.group, s3), false);
      assert.equal(f.router.sourceAllowed(a.group, a.s[5]!), false);
      assert.equal(f.router.sourceAllowed(a.group, s1), true);
      assert.equal(f.router.sourceAllowed(a.group2, a.s[5]!), true, "groups no rule covers: every source");
    });

    test("EXCLUDE mode: a denied exact host joins the EXCLUDE list; sources in EXCLUDE-type lists are not counted", () => {
      const f = new Fixture(a, { denySources: [{ group: group(a.group), source: host(s2) }] });
      f.record(IS_EX, a.group, [s3]);
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "exclude",
        sources: [s2, s3].sort(),
      });
      f.record(TO_EX, a.group, [s2, s3], a.host2);
      f.record(BLOCK, a.group, [s2]);
      assert.equal(f.router.counters.drops["source-denied"], undefined, "nothing asked for was refused");
      assert.deepEqual(Object.keys(f.timers()), [s3], "the denied source has no record, not even in Y");
      assert.deepEqual(f.lastForwarding()?.sources, [s2, s3].sort());
    });

    test("EXCLUDE mode with a prefix rule: the state stays EXCLUDE {}; forwarding entries refuse the prefix", () => {
      const f = new Fixture(a, { denySources: [{ group: group(a.group), source: s2s3 }] });
      f.record(IS_EX, a.group, []);
      assert.deepEqual(f.lastForwarding(), { type: "forwarding", group: a.group, filterMode: "exclude", sources: [] });
      assert.equal(f.router.sourceAllowed(a.group, s2), false);
      assert.equal(f.router.sourceAllowed(a.group, s3), false);
      assert.equal(f.router.sourceAllowed(a.group, s1), true);
    });

    test("EXCLUDE mode where every allow rule is an exact host: INCLUDE (the allowed hosts not excluded)", () => {
      const both = a.family === "ipv4" ? "239.1.1.0/30" : "ff0e::1:0/126"; // a.group and a.group2
      const f = new Fixture(a, {
        allowSources: [
          { group: both, source: host(s1) },
          { group: both, source: host(s2) },
        ],
      });
      f.report(2, a.group);
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "include",
        sources: [s1, s2].sort(),
      });
      f.record(IS_EX, a.group2, [s1]);
      assert.deepEqual(f.lastForwarding(a.group2), {
        type: "forwarding",
        group: a.group2,
        filterMode: "include",
        sources: [s2],
      });
      assert.equal(f.group(a.group2)?.filterMode, "exclude", "the router's own state follows the RFC tables");
      f.record(IS_EX, a.group, [s1, s2], a.host3);
      assert.deepEqual(f.lastForwarding()?.sources, [s1, s2].sort(), "RFC 9776 §6.4.1: new sources of IS_EX in EXCLUDE mode stay forwarded");
      const g = new Fixture(a, { allowSources: [{ group: both, source: host(s1) }] });
      g.record(IS_EX, a.group, [s1]);
      assert.equal(g.group()?.filterMode, "exclude");
      assert.equal(g.lastForwarding(), undefined, "every allowed host excluded: no listener");
    });
  });
}

describe("policedState", () => {
  const p = (denied: string[], allowed: string[] | null, deniedHosts: string[], allowedHosts: string[] | null) =>
    new GroupSourcePolicy(new CidrSet(denied), allowed && new CidrSet(allowed), deniedHosts, allowedHosts);

  test("no rule for the group: the state as it is", () => {
    assert.deepEqual(policedState(null, "exclude", ["10.0.0.1"]), { filterMode: "exclude", sources: ["10.0.0.1"] });
  });
  test("INCLUDE loses refused sources; EXCLUDE gains the denied hosts", () => {
    const q = p(["10.0.0.0/24", "10.1.0.9/32"], null, ["10.1.0.9"], null);
    assert.deepEqual(policedState(q, "include", ["10.0.0.1", "10.2.0.1"]), { filterMode: "include", sources: ["10.2.0.1"] });
    assert.deepEqual(policedState(q, "exclude", ["10.3.0.1"]), { filterMode: "exclude", sources: ["10.1.0.9", "10.3.0.1"] });
  });
  test("exact-host allow rules turn EXCLUDE into INCLUDE; a denied allowed host stays out", () => {
    const q = p(["10.0.0.2/32"], ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"], ["10.0.0.2"], ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual(policedState(q, "exclude", ["10.0.0.3"]), { filterMode: "include", sources: ["10.0.0.1"] });
  });
});

describe("SourcePolicy", () => {
  test("rules per group: exact hosts found, prefix allow rules give no host list", () => {
    const sp = new SourcePolicy(
      [
        { group: "232.1.0.0/16", source: "10.0.0.0/8" },
        { group: "232.2.2.2", source: "10.9.9.9" },
      ],
      [{ group: "232.0.0.0/8", source: "10.6.6.6/32" }],
    );
    const g1 = sp.forGroup("232.1.2.3")!;
    assert.deepEqual(g1.deniedHosts, ["10.6.6.6"]);
    assert.equal(g1.allowedHosts, null);
    assert.deepEqual(sp.forGroup("232.2.2.2")!.allowedHosts, ["10.9.9.9"]);
    assert.equal(sp.refusal("232.1.2.3", "10.6.6.6"), "source-denied");
    assert.equal(sp.refusal("232.1.2.3", "11.0.0.1"), "source-not-allowed");
    assert.equal(sp.refusal("232.1.2.3", "10.0.0.1"), null);
    assert.equal(sp.forGroup("239.1.1.1"), null, "no rule covers it");
    assert.equal(new SourcePolicy([], []).forGroup("232.1.2.3"), null);
  });
});
