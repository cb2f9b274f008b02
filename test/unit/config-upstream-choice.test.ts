/**
 * The choice of upstream with several upstreams (src/config/upstream-choice.ts; docs/protocol.md
 * "Proxy merge"): the first upstream whose `groups` hold a group serves it, and the prefix
 * arithmetic (src/config/cidr.ts) behind the shadowing warnings and igmpproxy's upstream
 * blacklists.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { subtractPrefixes } from "../../src/config/cidr.js";
import { shadowedUpstreams, UpstreamChoice } from "../../src/config/upstream-choice.js";
import { CidrSet, ipv4FromU32 } from "../../src/wire/address.js";

describe("UpstreamChoice: the first upstream whose groups hold the group", () => {
  const choice = new UpstreamChoice([
    { name: "iptv0", groups: ["239.0.0.0/8", "ff3e::/16"] },
    { name: "ssm0", groups: ["232.0.0.0/8"] },
    { name: "wan0", groups: [] },
  ]);

  it("ranges in order; an upstream without groups takes every group of both families", () => {
    assert.equal(choice.of("239.1.1.1"), "iptv0");
    assert.equal(choice.of("ff3e::1:1"), "iptv0");
    assert.equal(choice.of("232.1.1.1"), "ssm0");
    assert.equal(choice.of("233.1.1.1"), "wan0");
    assert.equal(choice.of("ff0e::1"), "wan0");
    assert.deepEqual(choice.names(), ["iptv0", "ssm0", "wan0"]);
  });

  it("a group no upstream holds has none; an upstream listing only IPv4 groups serves no IPv6 group", () => {
    const two = new UpstreamChoice([
      { name: "iptv0", groups: ["239.0.0.0/8"] },
      { name: "web0", groups: ["233.0.0.0/8", "ff0e::/16"] },
    ]);
    assert.equal(two.of("239.2.2.2"), "iptv0");
    assert.equal(two.of("224.1.1.1"), null);
    assert.equal(two.of("ff3e::1"), null);
    assert.equal(two.of("ff0e::1"), "web0");
  });

  it("one upstream without groups serves everything (the single-upstream configuration)", () => {
    const one = new UpstreamChoice([{ name: "up0", groups: [] }]);
    for (const g of ["224.1.1.1", "239.255.1.1", "ff05::1", "ff3e::8000:1"]) assert.equal(one.of(g), "up0");
  });
});

describe("shadowedUpstreams", () => {
  it("nothing shadowed when each upstream adds groups", () => {
    assert.deepEqual(
      shadowedUpstreams(
        [
          { name: "iptv0", groups: ["239.0.0.0/8"] },
          { name: "wan0", groups: [] },
        ],
        ["igmp", "mld"],
      ),
      [],
    );
  });

  it("an upstream after one without groups serves nothing; a covered entry is named by its index", () => {
    assert.deepEqual(
      shadowedUpstreams(
        [
          { name: "wan0", groups: [] },
          { name: "iptv0", groups: ["239.0.0.0/8"] },
        ],
        ["igmp"],
      ).map((s) => [s.upstream, s.entry]),
      [[1, null]],
    );
    assert.deepEqual(
      shadowedUpstreams(
        [
          { name: "a", groups: ["239.0.0.0/8"] },
          { name: "b", groups: ["232.0.0.0/8", "239.9.0.0/16", "ff3e::/16"] },
        ],
        ["igmp", "mld"],
      ).map((s) => [s.upstream, s.entry]),
      [[1, 1]],
    );
  });
});

describe("subtractPrefixes", () => {
  const v4 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => ipv4FromU32(n >>> 0));
  const prefix = fc
    .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 12 }))
    .map(([n, len]) => `${ipv4FromU32((n >>> 0) & (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0))}/${len}`);

  it("an address is in a - b exactly when it is in a and not in b", () => {
    fc.assert(
      fc.property(fc.array(prefix, { maxLength: 3 }), fc.array(prefix, { maxLength: 3 }), fc.array(v4, { maxLength: 20 }), (a, b, addrs) => {
        const left = new CidrSet(subtractPrefixes(a, b));
        const inA = new CidrSet(a);
        const inB = new CidrSet(b);
        for (const x of addrs) assert.equal(left.has(x), inA.has(x) && !inB.has(x), `${x} in ${a} - ${b}`);
      }),
      { numRuns: 300 },
    );
  });

  it("examples: a hole, nothing left, the other family untouched, ff3x notation", () => {
    assert.deepEqual(subtractPrefixes(["239.0.0.0/8"], ["239.0.0.0/9"]), ["239.128.0.0/9"]);
    assert.deepEqual(subtractPrefixes(["239.1.0.0/16"], ["224.0.0.0/4"]), []);
    assert.deepEqual(subtractPrefixes(["ff0e::/16", "239.0.0.0/8"], ["239.0.0.0/8"]), ["ff0e::/16"]);
    const ssmLess = subtractPrefixes(["ff30::/12"], ["ff3x::/32"]);
    assert.equal(ssmLess.length, 16 * 16, "each ff3X::/16 less its /32: one prefix of each length /17 to /32");
    assert.ok(ssmLess.includes("ff3e:8000::/17") && ssmLess.includes("ff3e:1::/32") && !ssmLess.includes("ff3e::/32"));
  });
});
