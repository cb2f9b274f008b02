import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ForwardingPlanner, type ForwardingLinks } from "../../src/proxy/forwarding.js";
import { MembershipDatabase, NO_MEMBERSHIP, type SourceFilterState } from "../../src/proxy/membership.js";

const inc = (...sources: string[]): SourceFilterState => ({ filterMode: "include", sources });
const exc = (...sources: string[]): SourceFilterState => ({ filterMode: "exclude", sources });
const G = "239.1.1.1";
const S1 = "10.10.0.2";
const S2 = "10.10.0.3";
/** One upstream, up0, serving every group. */
const ONE_UPSTREAM: Pick<ForwardingLinks, "isUpstream" | "upstreamOf"> = {
  isUpstream: (l) => l === "up0",
  upstreamOf: () => "up0",
};

function setup(
  opts: { querier?: Set<string>; downToUp?: Set<string>; refused?: (link: string, s: string, g: string) => boolean } = {},
) {
  const db = new MembershipDatabase();
  const links: ForwardingLinks = {
    ...ONE_UPSTREAM,
    canForwardTo: (l) => (opts.querier ? opts.querier.has(l) : true),
    downToUp: (l) => opts.downToUp?.has(l) ?? false,
    forwardable: (g) => !g.startsWith("239.255."),
    sourceAllowed: (l, s, g) => !(opts.refused?.(l, s, g) ?? false),
  };
  return { db, fwd: new ForwardingPlanner(db, links) };
}

describe("ForwardingPlanner (RFC 4605 §4.2)", () => {
  it("installs an entry with no outgoing link for traffic nobody wants", () => {
    const { fwd } = setup();
    assert.deepEqual(fwd.learn(S1, G, "up0"), [
      { type: "mfc-set", entry: { source: S1, group: G, iif: "up0", oifs: [] } },
    ]);
  });
  it("forwards upstream traffic to the downstreams whose state wants the source", () => {
    const { db, fwd } = setup();
    db.setLinkState("dn1", G, inc(S1));
    db.setLinkState("dn2", G, exc(S1));
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn1"]);
    assert.deepEqual(fwd.outgoing(S2, G, "up0"), ["dn2"]);
  });
  it("a join updates every known (S,G) of the group at once; a leave removes the link", () => {
    const { db, fwd } = setup();
    fwd.learn(S1, G, "up0");
    fwd.learn(S2, G, "up0");
    fwd.learn(S1, "239.1.1.2", "up0");
    db.setLinkState("dn1", G, exc());
    const eff = fwd.refreshGroup(G);
    assert.equal(eff.length, 2);
    for (const e of eff) assert.deepEqual(e.type === "mfc-set" && e.entry.oifs, ["dn1"]);
    assert.deepEqual(fwd.refreshGroup(G), [], "no change, no effect");
    db.setLinkState("dn1", G, NO_MEMBERSHIP);
    assert.deepEqual(
      fwd.refreshGroup(G).map((e) => e.type === "mfc-set" && e.entry.oifs),
      [[], []],
    );
  });
  it("never forwards back onto the incoming link; downstream senders reach other downstreams", () => {
    const { db, fwd } = setup();
    db.setLinkState("dn1", G, exc());
    db.setLinkState("dn2", G, exc());
    assert.deepEqual(fwd.outgoing("10.12.0.2", G, "dn2"), ["dn1"]);
  });
  it("down-to-up adds the upstream for senders on that downstream only", () => {
    const { fwd } = setup({ downToUp: new Set(["dn2"]) });
    assert.deepEqual(fwd.outgoing("10.12.0.2", G, "dn2"), ["up0"]);
    assert.deepEqual(fwd.outgoing("10.11.0.2", G, "dn1"), []);
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), []);
  });
  it("ignored groups are never forwarded, not even down-to-up", () => {
    const { db, fwd } = setup({ downToUp: new Set(["dn2"]) });
    db.setLinkState("dn1", "239.255.255.250", exc());
    assert.deepEqual(fwd.outgoing("10.12.0.2", "239.255.255.250", "dn2"), []);
  });
  it("only links where forwarding is allowed (querier) get traffic", () => {
    const { db, fwd } = setup({ querier: new Set(["dn1"]) });
    db.setLinkState("dn1", G, exc());
    db.setLinkState("dn2", G, exc());
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn1"]);
  });
  it("a link whose source policy refuses S gets no (S,G) traffic, even in EXCLUDE mode", () => {
    const { db, fwd } = setup({ refused: (l, s, g) => l === "dn1" && s === S2 && g === G });
    db.setLinkState("dn1", G, exc());
    db.setLinkState("dn2", G, exc());
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn1", "dn2"]);
    assert.deepEqual(fwd.outgoing(S2, G, "up0"), ["dn2"]);
    assert.deepEqual(fwd.outgoing(S2, "239.1.1.2", "up0"), [], "other groups: nobody joined");
  });
  it("a static group is forwarded onto its link with no router state; a join on another link adds that link", () => {
    const { db, fwd } = setup();
    fwd.learn(S1, G, "up0");
    db.setStaticStates("dn1", new Map([[G, exc()]]));
    assert.deepEqual(
      fwd.refreshGroup(G).map((e) => e.type === "mfc-set" && e.entry.oifs),
      [["dn1"]],
    );
    db.setLinkState("dn2", G, inc(S1));
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn1", "dn2"]);
    db.setStaticStates("dn1", new Map());
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn2"]);
  });
  it("WRONGVIF relearn moves the incoming link; forget and dropIncoming delete", () => {
    const { db, fwd } = setup();
    db.setLinkState("dn1", G, exc());
    fwd.learn(S1, G, "up0");
    assert.deepEqual(fwd.learn(S1, G, "dn2"), [
      { type: "mfc-set", entry: { source: S1, group: G, iif: "dn2", oifs: ["dn1"] } },
    ]);
    assert.deepEqual(fwd.dropIncoming("dn2"), [{ type: "mfc-del", source: S1, group: G }]);
    assert.equal(fwd.size, 0);
    assert.deepEqual(fwd.forget(S1, G), []);
  });
});

describe("ForwardingPlanner: accepted upstream sources (igmpproxy altnet)", () => {
  function withSources(accepted: Set<string>) {
    const db = new MembershipDatabase();
    const links: ForwardingLinks = {
      ...ONE_UPSTREAM,
      canForwardTo: () => true,
      downToUp: (l) => l === "dn2",
      forwardable: () => true,
      sourceAllowed: () => true,
      acceptsSource: (source, iif) => iif !== "up0" || accepted.has(source),
    };
    return { db, fwd: new ForwardingPlanner(db, links) };
  }

  it("upstream data from a refused source gets an entry with no outgoing link, whoever wants it", () => {
    const { db, fwd } = withSources(new Set([S1]));
    db.setLinkState("dn1", G, exc());
    assert.deepEqual(fwd.learn(S2, G, "up0"), [
      { type: "mfc-set", entry: { source: S2, group: G, iif: "up0", oifs: [] } },
    ]);
    assert.deepEqual(fwd.outgoing(S1, G, "up0"), ["dn1"]);
    db.setLinkState("dn1", G, inc(S1, S2));
    assert.deepEqual(fwd.refreshGroup(G), [], "a join never opens the refused entry");
    assert.deepEqual(fwd.get(S2, G)?.oifs, []);
  });

  it("downstream senders are not filtered", () => {
    const { db, fwd } = withSources(new Set());
    db.setLinkState("dn1", G, exc());
    assert.deepEqual(fwd.outgoing("10.12.0.2", G, "dn2"), ["dn1", "up0"]);
  });
});

describe("ForwardingPlanner: several upstreams (RFC 4605 §4: one upstream per group)", () => {
  /** iptv0 serves 239.0.0.0/8, wan0 the rest; "232.9.9.9" no upstream at all. */
  const upstreamOf = (g: string) => (g === "232.9.9.9" ? null : g.startsWith("239.") ? "iptv0" : "wan0");
  function twoUpstreams() {
    const db = new MembershipDatabase();
    const links: ForwardingLinks = {
      isUpstream: (l) => l === "iptv0" || l === "wan0",
      upstreamOf,
      canForwardTo: () => true,
      downToUp: (l) => l === "dn2",
      forwardable: () => true,
      sourceAllowed: () => true,
    };
    return { db, fwd: new ForwardingPlanner(db, links) };
  }
  const TV = "239.1.1.1";
  const WEB = "233.1.1.1";

  it("data for a group from its upstream is forwarded; from the other upstream it gets no outgoing link", () => {
    const { db, fwd } = twoUpstreams();
    db.setLinkState("dn1", TV, exc());
    db.setLinkState("dn1", WEB, exc());
    assert.deepEqual(fwd.learn(S1, TV, "iptv0"), [
      { type: "mfc-set", entry: { source: S1, group: TV, iif: "iptv0", oifs: ["dn1"] } },
    ]);
    assert.deepEqual(fwd.learn(S2, TV, "wan0"), [
      { type: "mfc-set", entry: { source: S2, group: TV, iif: "wan0", oifs: [] } },
    ]);
    assert.deepEqual(fwd.outgoing(S1, WEB, "wan0"), ["dn1"]);
    assert.deepEqual(fwd.outgoing(S1, WEB, "iptv0"), []);
    assert.equal(fwd.wrongUpstream(TV, "wan0"), true);
    assert.equal(fwd.wrongUpstream(TV, "iptv0"), false);
    assert.equal(fwd.wrongUpstream(TV, "dn2"), false, "a downstream is never a wrong upstream");
    db.setLinkState("dn2", TV, exc());
    assert.deepEqual(
      fwd.refreshGroup(TV).map((e) => e.type === "mfc-set" && [e.entry.iif, e.entry.oifs]),
      [["iptv0", ["dn1", "dn2"]]],
      "a join opens the entry from the group's upstream only",
    );
  });

  it("a group no upstream serves is forwarded between downstreams, from no upstream, and never sent up", () => {
    const { db, fwd } = twoUpstreams();
    db.setLinkState("dn1", "232.9.9.9", exc());
    assert.deepEqual(fwd.outgoing(S1, "232.9.9.9", "wan0"), []);
    assert.deepEqual(fwd.outgoing(S1, "232.9.9.9", "iptv0"), []);
    assert.deepEqual(fwd.outgoing("10.12.0.2", "232.9.9.9", "dn2"), ["dn1"], "down-to-up has no upstream to go to");
  });

  it("down-to-up sends to the group's upstream", () => {
    const { db, fwd } = twoUpstreams();
    db.setLinkState("dn1", TV, exc());
    assert.deepEqual(fwd.outgoing("10.12.0.2", TV, "dn2"), ["dn1", "iptv0"]);
    assert.deepEqual(fwd.outgoing("10.12.0.2", WEB, "dn2"), ["wan0"]);
    assert.deepEqual(fwd.outgoing("10.12.0.2", WEB, "dn1"), [], "dn1 is not down-to-up");
  });

  it("an upstream that goes away takes only its own entries", () => {
    const { db, fwd } = twoUpstreams();
    db.setLinkState("dn1", TV, exc());
    db.setLinkState("dn1", WEB, exc());
    fwd.learn(S1, TV, "iptv0");
    fwd.learn(S1, WEB, "wan0");
    assert.deepEqual(fwd.dropIncoming("iptv0"), [{ type: "mfc-del", source: S1, group: TV }]);
    assert.deepEqual(fwd.refreshAll(), [], "wan0's entry is not touched");
    assert.deepEqual(fwd.get(S1, WEB)?.oifs, ["dn1"]);
  });
});

describe("ForwardingPlanner bounds (max-forwarding-entries)", () => {
  function bounded(max: number) {
    const db = new MembershipDatabase();
    const links: ForwardingLinks = {
      ...ONE_UPSTREAM,
      canForwardTo: () => true,
      downToUp: () => false,
      forwardable: () => true,
      sourceAllowed: () => true,
    };
    return { db, fwd: new ForwardingPlanner(db, links, { maxEntries: () => max }) };
  }
  const g = (i: number) => `239.4.0.${i}`;

  it("a full table refuses new entries and counts them; known entries still update", () => {
    const { db, fwd } = bounded(2);
    db.setLinkState("dn1", g(1), exc());
    db.setLinkState("dn1", g(2), exc());
    fwd.learn(S1, g(1), "up0");
    fwd.learn(S1, g(2), "up0");
    db.setLinkState("dn1", g(3), exc());
    assert.deepEqual(fwd.learn(S1, g(3), "up0"), []);
    assert.equal(fwd.refused, 1);
    assert.equal(fwd.size, 2);
    assert.equal(fwd.learn(S1, g(1), "dn2").length, 1, "a known (S,G) is re-learnt");
  });

  it("when full, a wanted entry evicts the oldest unwanted one; an unwanted one evicts nothing", () => {
    const { db, fwd } = bounded(2);
    fwd.learn(S1, g(1), "up0");
    fwd.learn(S1, g(2), "up0");
    assert.equal(fwd.unwantedCount, 2);
    assert.deepEqual(fwd.learn(S1, g(3), "up0"), []);
    db.setLinkState("dn1", g(4), exc());
    assert.deepEqual(fwd.learn(S1, g(4), "up0"), [
      { type: "mfc-del", source: S1, group: g(1) },
      { type: "mfc-set", entry: { source: S1, group: g(4), iif: "up0", oifs: ["dn1"] } },
    ]);
    assert.equal(fwd.evicted, 1);
    assert.equal(fwd.refused, 1);
  });

  it("expireUnwanted removes entries that were unwanted at the previous run too; a join in between saves one", () => {
    const { db, fwd } = bounded(100);
    fwd.learn(S1, g(1), "up0");
    fwd.learn(S1, g(2), "up0");
    assert.deepEqual(fwd.expireUnwanted(), [], "first run only marks");
    fwd.learn(S1, g(3), "up0");
    db.setLinkState("dn1", g(2), exc());
    fwd.refreshGroup(g(2));
    assert.deepEqual(fwd.expireUnwanted(), [{ type: "mfc-del", source: S1, group: g(1) }]);
    assert.deepEqual(fwd.expireUnwanted(), [{ type: "mfc-del", source: S1, group: g(3) }]);
    // A leave makes g(2) unwanted: it is marked at the next run, removed at the one after.
    db.setLinkState("dn1", g(2), NO_MEMBERSHIP);
    fwd.refreshGroup(g(2));
    assert.deepEqual(fwd.expireUnwanted(), []);
    assert.deepEqual(fwd.expireUnwanted(), [{ type: "mfc-del", source: S1, group: g(2) }]);
    assert.equal(fwd.size, 0);
  });
});
