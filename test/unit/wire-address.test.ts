import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bytesToIpv4,
  bytesToIpv6,
  CidrSet,
  canonicalAddress,
  compareAddresses,
  expandCidr,
  halvesOf,
  inCidr,
  ipv4ToBytes,
  ipv6ToBytes,
  isLinkLocalGroup,
  isLinkLocalUnicast6,
  isMulticast,
  parseCidr,
  parseIpv4,
  tryCanonicalAddress,
} from "../../src/wire/address.js";

describe("IPv4 text", () => {
  it("round-trips bytes and text", () => {
    assert.deepEqual([...ipv4ToBytes("239.1.2.3")], [239, 1, 2, 3]);
    assert.equal(bytesToIpv4(new Uint8Array([9, 224, 0, 0, 22]), 1), "224.0.0.22");
    assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
    assert.equal(parseIpv4("0.0.0.0"), 0);
  });
  it("rejects invalid text", () => {
    for (const s of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.0.0.1",
      "01.2.3.4",
      "1..2.3",
      "1.2.3.4 ",
      "a.b.c.d",
      "1.2.3.-4",
    ]) {
      assert.equal(parseIpv4(s), null, s);
      assert.throws(() => ipv4ToBytes(s), TypeError);
    }
  });
  it("formats every octet value", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        assert.deepEqual([...ipv4ToBytes(bytesToIpv4(b))], [...b]);
      }),
    );
  });
});

describe("IPv6 text (RFC 5952)", () => {
  const cases: Array<[string, string]> = [
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // single zero group not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // longest run wins
    ["0:0:0:0:0:0:0:0", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["FF02::16", "ff02::16"],
    ["fe80::0001", "fe80::1"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"],
    ["::1.2.3.4", "::102:304"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [input, want] of cases) {
    it(`${input} -> ${want}`, () => {
      assert.equal(canonicalAddress(input, "ipv6"), want);
      assert.equal(bytesToIpv6(ipv6ToBytes(input)), want);
    });
  }
  it("rejects invalid text", () => {
    for (const s of [
      "",
      ":",
      ":::",
      "1:::2",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "g::",
      "1:",
      ":1",
      "fe80::1%eth0",
      "1.2.3.4",
      "::1.2.3",
      "::1.2.3.4:5",
      "1:2:3:4:5:6:7:1.2.3.4",
    ]) {
      assert.equal(tryCanonicalAddress(s, "ipv6"), null, s);
      assert.throws(() => ipv6ToBytes(s), TypeError, s);
    }
  });
  it("bytes -> text -> bytes is the identity; text is a fixed point", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
          // Bias towards zero runs.
          const out = new Uint8Array(b);
          for (let i = 0; i < 16; i += 2) if (b[i]! % 3 === 0) out[i] = out[i + 1] = 0;
          return out;
        }),
        (b) => {
          const s = bytesToIpv6(b);
          assert.deepEqual([...ipv6ToBytes(s)], [...b]);
          assert.equal(canonicalAddress(s, "ipv6"), s);
          assert.equal(s, s.toLowerCase());
          assert.ok(!/(^|:)0[0-9a-f]/.test(s), `leading zero in ${s}`);
        },
      ),
    );
  });
});

describe("address classes", () => {
  it("isMulticast", () => {
    assert.ok(isMulticast("224.0.0.1", "ipv4"));
    assert.ok(isMulticast("239.255.255.255", "ipv4"));
    assert.ok(!isMulticast("223.255.255.255", "ipv4"));
    assert.ok(!isMulticast("240.0.0.1", "ipv4"));
    assert.ok(isMulticast("ff02::1", "ipv6"));
    assert.ok(isMulticast("FF3E::1:2", "ipv6"));
    assert.ok(!isMulticast("ff::", "ipv6")); // 00ff::
    assert.ok(!isMulticast("fe80::1", "ipv6"));
    assert.ok(!isMulticast("::ff02", "ipv6"));
  });
  it("isLinkLocalGroup: 224.0.0.0/24 and IPv6 scope <= 2", () => {
    assert.ok(isLinkLocalGroup("224.0.0.22", "ipv4"));
    assert.ok(!isLinkLocalGroup("224.0.1.1", "ipv4"));
    assert.ok(!isLinkLocalGroup("239.1.1.1", "ipv4"));
    for (const g of ["ff02::1", "ff01::1", "ff00::1", "ff12::1", "ff32::1"])
      assert.ok(isLinkLocalGroup(g, "ipv6"), g);
    for (const g of ["ff03::1", "ff05::1:3", "ff0e::1", "ff3e::1", "fe80::1", "::"]) {
      assert.ok(!isLinkLocalGroup(g, "ipv6"), g);
    }
  });
  it("isLinkLocalUnicast6: fe80::/10", () => {
    assert.ok(isLinkLocalUnicast6("fe80::1"));
    assert.ok(isLinkLocalUnicast6("febf:1::1"));
    assert.ok(!isLinkLocalUnicast6("fec0::1"));
    assert.ok(!isLinkLocalUnicast6("fd00:11::2"));
    assert.ok(!isLinkLocalUnicast6("::"));
  });
  it("compareAddresses orders numerically (lowest querier wins)", () => {
    assert.equal(compareAddresses("10.0.0.9", "10.0.0.10"), -1);
    assert.equal(compareAddresses("10.0.0.10", "9.255.255.255"), 1);
    assert.equal(compareAddresses("10.0.0.1", "10.0.0.1"), 0);
    assert.equal(compareAddresses("fe80::9", "fe80::10"), -1);
    assert.equal(compareAddresses("fe80::a", "fe80::9"), 1);
    assert.equal(compareAddresses("fe80::1", "FE80:0::0001"), 0);
    assert.equal(compareAddresses("fe80::1:0", "fe80::ffff"), 1);
    const sorted = ["10.0.0.10", "10.0.0.9", "10.0.0.100", "1.0.0.0"].sort(compareAddresses);
    assert.deepEqual(sorted, ["1.0.0.0", "10.0.0.9", "10.0.0.10", "10.0.0.100"]);
  });
  it("compareAddresses agrees with byte order", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (a, b) => {
          const want = Buffer.compare(Buffer.from(a), Buffer.from(b));
          assert.equal(compareAddresses(bytesToIpv6(a), bytesToIpv6(b)), want);
          assert.equal(
            compareAddresses(bytesToIpv4(a), bytesToIpv4(b)),
            Buffer.compare(Buffer.from(a.subarray(0, 4)), Buffer.from(b.subarray(0, 4))),
          );
        },
      ),
    );
  });
});

describe("CIDR", () => {
  it("parses and masks", () => {
    assert.equal(parseCidr("232.1.2.3/8").text, "232.0.0.0/8");
    assert.equal(parseCidr("10.0.0.1").text, "10.0.0.1/32");
    assert.equal(parseCidr("FF3E:0:0::1/16").text, "ff3e::/16");
    assert.equal(parseCidr("fe80::1").prefixLength, 128);
    assert.equal(parseCidr("0.0.0.0/0").text, "0.0.0.0/0");
    for (const bad of ["10.0.0.0/33", "ff00::/129", "10.0.0/8", "10.0.0.0/x", "10.0.0.0/", "ff3x::/32"]) {
      assert.throws(() => parseCidr(bad), TypeError, bad);
    }
  });
  it("expands ff3x::/32 to ff30::/32 .. ff3f::/32", () => {
    const all = expandCidr("ff3x::/32");
    assert.equal(all.length, 16);
    assert.equal(all[0]!.text, "ff30::/32");
    assert.equal(all[15]!.text, "ff3f::/32");
  });
  it("inCidr at prefix boundaries", () => {
    const c = parseCidr("239.255.0.0/16");
    assert.ok(inCidr("239.255.0.0", c));
    assert.ok(inCidr("239.255.255.255", c));
    assert.ok(!inCidr("239.254.255.255", c));
    assert.ok(!inCidr("240.0.0.0", c));
    assert.ok(!inCidr("ff02::1", c));
    const c6 = parseCidr("fe80::/10");
    assert.ok(inCidr("febf:ffff::1", c6));
    assert.ok(!inCidr("fec0::", c6));
    const odd = parseCidr("2001:db8:0:0:8000::/65");
    assert.ok(inCidr("2001:db8::8000:0:0:1", odd));
    assert.ok(!inCidr("2001:db8::7fff:0:0:1", odd));
  });
  it("halvesOf: the two prefixes one bit longer; none for a host prefix", () => {
    assert.deepEqual(halvesOf(parseCidr("224.0.0.0/4"))?.map((c) => c.text), ["224.0.0.0/5", "232.0.0.0/5"]);
    assert.deepEqual(halvesOf(parseCidr("10.0.0.0/31"))?.map((c) => c.text), ["10.0.0.0/32", "10.0.0.1/32"]);
    assert.deepEqual(halvesOf(parseCidr("ff3e::/31"))?.map((c) => c.text), ["ff3e::/32", "ff3e:1::/32"]);
    assert.deepEqual(halvesOf(parseCidr("::/0"))?.map((c) => c.text), ["::/1", "8000::/1"]);
    assert.equal(halvesOf(parseCidr("10.0.0.1/32")), null);
    assert.equal(halvesOf(parseCidr("ff02::1/128")), null);
  });

  it("CidrSet.has: SSM ranges, both families", () => {
    const ssm = new CidrSet(["232.0.0.0/8", "ff3x::/32"]);
    assert.ok(ssm.has("232.1.1.1"));
    assert.ok(!ssm.has("233.1.1.1"));
    assert.ok(ssm.has("ff3e::8000:1"));
    assert.ok(ssm.has("ff35::1"));
    assert.ok(!ssm.has("ff3e:1::1")); // outside /32
    assert.ok(!ssm.has("ff2e::1"));
    assert.ok(!ssm.has("not an address"));
    assert.ok(!new CidrSet().has("232.1.1.1"));
  });
  it("CidrSet.has agrees with inCidr on random addresses", () => {
    const prefixes = [
      "10.0.0.0/8",
      "192.168.1.128/25",
      "224.0.0.0/24",
      "ff02::/16",
      "fd00::/8",
      "2001:db8:1::/48",
    ];
    const set = new CidrSet(prefixes);
    const parsed = prefixes.map(parseCidr);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (b, v4) => {
        const a = v4 ? bytesToIpv4(b) : bytesToIpv6(b);
        assert.equal(
          set.has(a),
          parsed.some((c) => inCidr(a, c)),
        );
      }),
    );
  });
});
