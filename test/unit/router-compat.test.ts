/**
 * Older-version compatibility (RFC 9776 §7.3.2, RFC 9777 §8.3.2) and source-specific
 * multicast (RFC 4604 §2.2.1, §2.2.2).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ALLOW,
  BLOCK,
  FAMILIES,
  Fixture,
  GMI,
  IS_EX,
  IS_IN,
  LMQT,
  TO_EX,
  TO_IN,
  V4,
} from "./router-harness.js";

for (const a of FAMILIES) {
  const older = a.family === "ipv4" ? "IGMPv2" : "MLDv1";
  describe(`compatibility mode, ${a.family}`, () => {
    test(`${older} report = IS_EX({}) and starts the Older Host Present timer`, () => {
      const f = new Fixture(a);
      f.report(2, a.group);
      const g = f.group();
      assert.equal(g?.filterMode, "exclude");
      assert.equal(g?.expiresMs, GMI);
      assert.equal(g?.version, a.family === "ipv4" ? 2 : 1);
      assert.equal(g?.olderHostPresentMs.v2, GMI);
      assert.deepEqual(f.lastForwarding(), {
        type: "forwarding",
        group: a.group,
        filterMode: "exclude",
        sources: [],
      });
    });

    test(`${older} mode: BLOCK ignored, TO_EX(x) taken as TO_EX({})`, () => {
      const f = new Fixture(a);
      f.report(2, a.group, a.host2);
      f.record(ALLOW, a.group, [a.s[1]!]);
      f.takeQueries();
      f.record(BLOCK, a.group, [a.s[1]!]);
      assert.deepEqual(f.takeQueries(), []);
      assert.equal(f.router.counters.drops["block-in-compat-mode"], 1);
      f.record(TO_EX, a.group, [a.s[2]!]);
      assert.deepEqual(f.lastForwarding()?.sources, [], "no source is blocked");
      assert.equal(f.timers()[a.s[2]!], undefined);
    });

    test(`${older} leave = TO_IN({}): Q(G) twice, group gone after LMQT`, () => {
      const f = new Fixture(a);
      f.report(2, a.group);
      f.takeQueries();
      f.leave(a.group);
      assert.deepEqual(
        f.takeQueries().map((q) => [q.group, q.sFlag]),
        [[a.group, false]],
      );
      f.advance(1000);
      assert.equal(f.takeQueries().length, 1);
      f.advance(LMQT - 1000 - 1);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(1);
      assert.equal(f.group(), undefined);
      assert.deepEqual(f.lastForwarding()?.sources, []);
      assert.equal(f.lastForwarding()?.filterMode, "include");
    });

    test("Older Host Present timer expiry returns the group to v3 behaviour", () => {
      const f = new Fixture(a);
      f.report(2, a.group, a.host2);
      f.advance(GMI / 2);
      f.record(IS_EX, a.group, []); // a v3 host keeps the group
      f.advance(GMI / 2);
      assert.equal(f.group()?.version, a.family === "ipv4" ? 3 : 2);
      f.record(ALLOW, a.group, [a.s[1]!]);
      f.record(TO_EX, a.group, [a.s[1]!]);
      assert.deepEqual(f.lastForwarding()?.sources, [], "s1 still queried, not yet blocked");
      f.advance(LMQT);
      assert.deepEqual(f.lastForwarding()?.sources, [a.s[1]!], "v3 TO_EX source list honoured again");
    });

    test("SSM (RFC 4604): EXCLUDE records and older reports ignored, INCLUDE works", () => {
      const f = new Fixture(a);
      f.record(IS_EX, a.ssmGroup, []);
      f.record(TO_EX, a.ssmGroup, [a.s[1]!]);
      f.report(2, a.ssmGroup);
      f.leave(a.ssmGroup);
      assert.equal(f.group(a.ssmGroup), undefined);
      assert.equal(f.router.counters.drops["ssm-exclude-record"], 2);
      assert.equal(f.router.counters.drops["ssm-older-version"], 2);
      f.record(IS_IN, a.ssmGroup, [a.s[1]!]);
      assert.deepEqual(f.lastForwarding(a.ssmGroup), {
        type: "forwarding",
        group: a.ssmGroup,
        filterMode: "include",
        sources: [a.s[1]!],
      });
      f.record(TO_IN, a.ssmGroup, []);
      f.advance(LMQT);
      assert.equal(f.group(a.ssmGroup), undefined);
    });
  });
}

describe("IGMPv1 compatibility", () => {
  test("v1 host present: leaves and TO_IN ignored; v1 timer expires into v2 mode while a v2 host is present", () => {
    const f = new Fixture(V4);
    f.report(1, V4.group);
    f.advance(GMI / 2);
    f.report(2, V4.group, V4.host2);
    assert.equal(f.group()?.version, 1);
    f.leave(V4.group, V4.host2);
    f.record(TO_IN, V4.group, [], V4.host2);
    assert.equal(f.router.counters.drops["leave-in-v1-mode"], 2);
    assert.equal(f.group()?.filterMode, "exclude");
    f.advance(GMI / 2);
    assert.equal(f.group()?.version, 2, "IGMPv1 Host Present expired, IGMPv2 still running");
    f.takeQueries();
    f.leave(V4.group, V4.host2);
    assert.equal(f.takeQueries().length, 1, "leave honoured in v2 mode");
    f.advance(LMQT);
    assert.equal(f.group(), undefined);
  });
});
