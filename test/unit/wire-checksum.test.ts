import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { icmpv6Checksum, internetChecksum, onesComplementSum } from "../../src/wire/checksum.js";

/** Reference: RFC 1071 with BigInt-free carry folding after every addition. */
function refChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

describe("Internet checksum (RFC 1071)", () => {
  it("RFC 1071 §3 example sum", () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.equal(onesComplementSum(b), 0xddf2);
    assert.equal(internetChecksum(b), 0x220d);
  });
  it("IGMPv3 report joining 239.1.1.1 EXCLUDE {}: checksum 0xe9fb", () => {
    const b = Uint8Array.from(Buffer.from("2200e9fb0000000104000000ef010101", "hex"));
    assert.equal(internetChecksum(b), 0);
    b[2] = b[3] = 0;
    assert.equal(internetChecksum(b), 0xe9fb);
  });
  it("odd length pads with zero; offsets honoured", () => {
    assert.equal(internetChecksum(new Uint8Array([0x12, 0x34, 0x56])), ~(0x1234 + 0x5600) & 0xffff);
    const b = new Uint8Array([0xff, 0x12, 0x34, 0xff]);
    assert.equal(internetChecksum(b, 1, 2), ~0x1234 & 0xffff);
  });
  it("matches the reference on random data, and verifies to 0 once inserted", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 1500 }), (data) => {
        const b = new Uint8Array(data.length + (data.length % 2));
        b.set(data);
        b[0] = b[1] = 0;
        const c = internetChecksum(b);
        assert.equal(c, refChecksum(b));
        b[0] = c >>> 8;
        b[1] = c & 0xff;
        assert.equal(internetChecksum(b), 0);
      }),
    );
  });
  it("ICMPv6 pseudo-header checksum of an MLDv2 report (fe80::1 -> ff02::16)", () => {
    // Independently computed: CHANGE_TO_EXCLUDE ff05::1:3, no sources -> 0x7003.
    const msg = Uint8Array.from(
      Buffer.from("8f0000000000000104000000ff050000000000000000000000010003", "hex"),
    );
    assert.equal(icmpv6Checksum(msg, "fe80::1", "ff02::16"), 0x7003);
    msg[2] = 0x70;
    msg[3] = 0x03;
    assert.equal(icmpv6Checksum(msg, "fe80::1", "ff02::16"), 0);
    assert.notEqual(icmpv6Checksum(msg, "fe80::2", "ff02::16"), 0);
  });
});
