/**
 * The link-wide cap on (group, source) entries (maxGroupSources, YAML `max-group-sources`):
 * refusals under their own reason, entries given back by every way a source leaves.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultRouterConfig } from "../../src/daemon/router-config.js";
import { ALLOW, BLOCK, FAMILIES, Fixture, GMI, IS_EX, LMQT } from "./router-harness.js";

for (const a of FAMILIES) {
  const s = (i: number) => a.s[i]!;
  /** The link has room for two new entries again: group2 takes s3 and s4, nothing refused. */
  const assertRoomForTwo = (f: Fixture): void => {
    f.record(ALLOW, a.group2, [s(3), s(4)]);
    assert.equal(Object.keys(f.timers(a.group2)).length, 2);
    assert.equal(f.router.counters.refusals["max-group-sources"], undefined);
  };

  describe(`maxGroupSources, ${a.family}`, () => {
    test("caps the sources of all groups together, counted as max-group-sources", () => {
      const f = new Fixture(a, { maxGroupSources: 3 });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      f.record(ALLOW, a.group2, [s(3), s(4)]);
      assert.deepEqual(Object.keys(f.timers(a.group)).sort(), [s(1), s(2)].sort());
      assert.deepEqual(Object.keys(f.timers(a.group2)), [s(3)]);
      assert.equal(f.router.counters.refusals["max-group-sources"], 1);
      assert.equal(f.router.counters.refusals["max-sources"], undefined, "not a per-group refusal");
      f.record(ALLOW, a.group, [s(1), s(2)]);
      assert.equal(
        f.router.counters.refusals["max-group-sources"],
        1,
        "existing sources are still refreshed",
      );
    });

    test("the per-group limit is checked first", () => {
      const f = new Fixture(a, { maxSourcesPerGroup: 1, maxGroupSources: 1 });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      assert.equal(f.router.counters.refusals["max-sources"], 1);
      assert.equal(f.router.counters.refusals["max-group-sources"], undefined);
    });

    test("expired sources give their entries back", () => {
      const f = new Fixture(a, { maxGroupSources: 2 });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      f.advance(GMI + 1);
      assert.equal(f.group(), undefined, "INCLUDE group without sources is gone");
      f.record(ALLOW, a.group2, [s(3), s(4)]);
      assert.deepEqual(Object.keys(f.timers(a.group2)).sort(), [s(3), s(4)].sort());
      assert.equal(f.router.counters.refusals["max-group-sources"], undefined);
      f.record(ALLOW, a.group, [s(5)]);
      assert.equal(f.router.counters.refusals["max-group-sources"], 1, "and the count is full again");
    });

    test("sources pruned after a BLOCK and its queries give their entries back", () => {
      const f = new Fixture(a, { maxGroupSources: 2 });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      f.record(BLOCK, a.group, [s(1), s(2)]);
      f.advance(LMQT + 1);
      assert.equal(f.group(), undefined);
      assertRoomForTwo(f);
    });

    test("fast leave gives the entries back at once", () => {
      const f = new Fixture(a, { maxGroupSources: 2, fastLeave: true });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      f.record(BLOCK, a.group, [s(1), s(2)]);
      assertRoomForTwo(f);
    });

    test("EXCLUDE -> INCLUDE drops the blocked sources and their entries", () => {
      const f = new Fixture(a, { maxGroupSources: 2 });
      f.record(IS_EX, a.group, [s(1), s(2)]);
      assert.equal(f.group()?.filterMode, "exclude");
      f.advance(GMI + 1);
      assert.equal(f.group(), undefined);
      assertRoomForTwo(f);
    });

    test("a source refused in EXCLUDE mode is forwarded (fail open)", () => {
      const f = new Fixture(a, { maxGroupSources: 1 });
      f.record(ALLOW, a.group2, [s(9)]);
      f.record(IS_EX, a.group, [s(1)]);
      assert.equal(f.router.counters.refusals["max-group-sources"], 1);
      const fwd = f.lastForwarding(a.group);
      assert.equal(fwd?.filterMode, "exclude");
      assert.deepEqual(fwd?.sources, [], "nothing blocked");
    });

    test("stop() and a fresh start begin from an empty count", () => {
      const f = new Fixture(a, { maxGroupSources: 2 });
      f.record(ALLOW, a.group, [s(1), s(2)]);
      f.router.stop();
      f.router.start();
      assertRoomForTwo(f);
    });

    test("the default leaves four sources per group at max-groups, within a small router's memory", () => {
      const c = defaultRouterConfig(a.family);
      assert.ok(c.maxGroupSources >= c.maxGroups * 4);
      assert.ok(c.maxGroupSources <= 65_536, "bounded for a 256 MB router (docs/protocol.md)");
    });
  });
}
