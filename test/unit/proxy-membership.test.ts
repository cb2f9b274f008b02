import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  MembershipDatabase,
  mergeStates,
  NO_MEMBERSHIP,
  type SourceFilterState,
  wantsSource,
} from "../../src/proxy/membership.js";
import { staticLinkStates } from "../../src/proxy/static-groups.js";

const inc = (...sources: string[]): SourceFilterState => ({ filterMode: "include", sources });
const exc = (...sources: string[]): SourceFilterState => ({ filterMode: "exclude", sources });
const G = "239.1.1.1";

describe("mergeStates (RFC 4605 §4.1 / RFC 9776 §3.2)", () => {
  it("INCLUDE lists merge to their union", () => {
    assert.deepEqual(mergeStates([inc("10.0.0.1"), inc("10.0.0.2", "10.0.0.1")]), inc("10.0.0.1", "10.0.0.2"));
  });
  it("any EXCLUDE makes EXCLUDE with the intersection of EXCLUDE lists minus the INCLUDE union", () => {
    assert.deepEqual(
      mergeStates([exc("10.0.0.1", "10.0.0.2", "10.0.0.3"), exc("10.0.0.2", "10.0.0.3"), inc("10.0.0.3")]),
      exc("10.0.0.2"),
    );
  });
  it("INCLUDE {S1} on one link and EXCLUDE {} on another merge to EXCLUDE {} (IMProxy crashed here)", () => {
    assert.deepEqual(mergeStates([inc("10.0.0.1"), exc()]), exc());
  });
  it("nothing merges to INCLUDE {} (no membership)", () => {
    assert.deepEqual(mergeStates([]), NO_MEMBERSHIP);
  });
  it("property: the merged filter wants exactly the sources some link wants", () => {
    const universe = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
    const state = fc.record({
      filterMode: fc.constantFrom<"include" | "exclude">("include", "exclude"),
      sources: fc.subarray(universe),
    });
    fc.assert(
      fc.property(fc.array(state, { maxLength: 5 }), (states) => {
        const m = mergeStates(states);
        for (const s of [...universe, "10.9.9.9"]) {
          assert.equal(
            wantsSource(m, s),
            states.some((x) => wantsSource(x, s)),
            `source ${s}`,
          );
        }
      }),
    );
  });
});

describe("MembershipDatabase", () => {
  it("reports a merged change only when the merge changes", () => {
    const db = new MembershipDatabase();
    assert.deepEqual(db.setLinkState("d1", G, inc("10.0.0.1")), inc("10.0.0.1"));
    assert.equal(db.setLinkState("d1", G, inc("10.0.0.1")), null, "same state again");
    assert.equal(db.setLinkState("d2", G, inc("10.0.0.1")), null, "second link, same merge");
    assert.deepEqual(db.setLinkState("d2", G, exc()), exc());
    assert.deepEqual(db.setLinkState("d2", G, NO_MEMBERSHIP), inc("10.0.0.1"));
    assert.deepEqual(db.setLinkState("d1", G, NO_MEMBERSHIP), NO_MEMBERSHIP);
    assert.equal(db.size, 0);
    assert.deepEqual(db.groupsWithMembership(), []);
  });
  it("removeLink drops a link's states and reports each changed group", () => {
    const db = new MembershipDatabase();
    db.setLinkState("d1", G, exc());
    db.setLinkState("d2", G, inc("10.0.0.1"));
    db.setLinkState("d1", "239.1.1.2", inc("10.0.0.5"));
    const changed = db.removeLink("d1");
    assert.deepEqual(
      changed.sort((a, b) => a.group.localeCompare(b.group)),
      [
        { group: G, state: inc("10.0.0.1") },
        { group: "239.1.1.2", state: NO_MEMBERSHIP },
      ],
    );
    assert.deepEqual(db.linkState("d1", G), NO_MEMBERSHIP);
  });
  it("normalises source lists (sorted, no duplicates)", () => {
    const db = new MembershipDatabase();
    db.setLinkState("d1", G, inc("10.0.0.2", "10.0.0.1", "10.0.0.2"));
    assert.deepEqual(db.linkState("d1", G), inc("10.0.0.1", "10.0.0.2"));
  });
});

describe("static groups in the merge (a permanent listener of the link)", () => {
  const G2 = "232.1.1.1";
  it("staticLinkStates: a bare group is EXCLUDE {}, a (group, source) INCLUDE {S}; entries of a group merge", () => {
    const st = staticLinkStates([
      { group: G, source: null },
      { group: G2, source: "10.0.0.2" },
      { group: G2, source: "10.0.0.1" },
      { group: "239.1.1.3", source: "10.0.0.1" },
      { group: "239.1.1.3", source: null },
    ]);
    assert.deepEqual(
      [...st],
      [
        [G, exc()],
        [G2, inc("10.0.0.1", "10.0.0.2")],
        ["239.1.1.3", exc()],
      ],
    );
  });

  it("a static group alone is the link's state and joins upstream; the router's state merges with it", () => {
    const db = new MembershipDatabase();
    assert.deepEqual(db.setStaticStates("d1", new Map([[G, exc()]])), [{ group: G, merged: exc() }]);
    assert.deepEqual(db.linkState("d1", G), exc());
    assert.equal(db.setLinkState("d1", G, inc("10.0.0.1")), null, "the router's INCLUDE adds nothing to EXCLUDE {}");
    assert.deepEqual(db.linkState("d1", G), exc());
    assert.equal(db.setLinkState("d1", G, NO_MEMBERSHIP), null, "the hosts leave: the static group stays");
    assert.deepEqual(db.mergedState(G), exc());
    assert.deepEqual([...db.staticStates("d1")], [[G, exc()]]);
  });

  it("an (S,G) static group and the hosts' sources are merged as two listeners of the link", () => {
    const db = new MembershipDatabase();
    db.setStaticStates("d1", new Map([[G2, inc("10.0.0.1")]]));
    assert.deepEqual(db.setLinkState("d1", G2, inc("10.0.0.2")), inc("10.0.0.1", "10.0.0.2"));
    assert.deepEqual(db.setLinkState("d1", G2, exc("10.0.0.1", "10.0.0.3")), exc("10.0.0.3"));
    assert.deepEqual(db.setLinkState("d1", G2, NO_MEMBERSHIP), inc("10.0.0.1"));
  });

  it("setStaticStates reports each group whose link state changed, with its merge when that changed", () => {
    const db = new MembershipDatabase();
    db.setLinkState("d2", G, exc());
    db.setStaticStates("d1", new Map([[G, exc()], [G2, inc("10.0.0.1")]]));
    const changed = db.setStaticStates("d1", new Map([[G2, inc("10.0.0.1")], ["239.1.1.9", exc()]]));
    assert.deepEqual(changed, [
      { group: G, merged: null }, // d2 still wants it: the merge is the same
      { group: "239.1.1.9", merged: exc() },
    ]);
    assert.deepEqual(db.linkState("d1", G), NO_MEMBERSHIP);
    assert.deepEqual(db.setStaticStates("d1", new Map()), [
      { group: G2, merged: NO_MEMBERSHIP },
      { group: "239.1.1.9", merged: NO_MEMBERSHIP },
    ]);
    assert.deepEqual(db.groupsWithMembership(), [G]);
    assert.deepEqual(db.setStaticStates("d1", new Map()), [], "nothing to change");
  });

  it("removeLink drops the static groups with the router's states", () => {
    const db = new MembershipDatabase();
    db.setStaticStates("d1", new Map([[G, exc()]]));
    db.setLinkState("d1", G2, inc("10.0.0.1"));
    assert.equal(db.removeLink("d1").length, 2);
    assert.equal(db.size, 0);
    assert.deepEqual([...db.staticStates("d1")], []);
  });
});
