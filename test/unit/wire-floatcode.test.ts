import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeCode8,
  decodeCode16,
  encodeCode8,
  encodeCode16,
  igmpv3MaxRespCodeToMs,
  MAX_CODE8_VALUE,
  MAX_CODE16_VALUE,
  msToIgmpv2MaxRespCode,
  msToIgmpv3MaxRespCode,
  msToMldv2MaxRespCode,
  qqicToSeconds,
  secondsToQqic,
} from "../../src/wire/floatcode.js";

/** Reference decoder written from the RFC 9776 §4.1.1 figure, bit by bit. */
function refDecode8(code: number): number {
  if (code < 128) return code;
  const exp = (code & 0b0111_0000) >> 4;
  const mant = code & 0b0000_1111;
  return (mant | 0x10) * 2 ** (exp + 3);
}
function refDecode16(code: number): number {
  if (code < 32768) return code;
  const exp = (code & 0x7000) >> 12;
  const mant = code & 0x0fff;
  return (mant | 0x1000) * 2 ** (exp + 3);
}

describe("8-bit codes (IGMPv3 Max Resp Code, QQIC)", () => {
  it("RFC vectors", () => {
    assert.equal(decodeCode8(0), 0);
    assert.equal(decodeCode8(100), 100); // 10 s max resp
    assert.equal(decodeCode8(125), 125); // default QQI
    assert.equal(decodeCode8(127), 127);
    assert.equal(decodeCode8(0x80), 128); // exp 0, mant 0
    assert.equal(decodeCode8(0x8f), 248); // exp 0, mant 15
    assert.equal(decodeCode8(0x90), 256); // exp 1
    assert.equal(decodeCode8(0xff), 31744); // exp 7, mant 15
    assert.equal(MAX_CODE8_VALUE, 31744);
  });
  it("decoder matches the reference and is strictly increasing over all 256 codes", () => {
    for (let c = 0; c < 256; c++) {
      assert.equal(decodeCode8(c), refDecode8(c), `code ${c}`);
      if (c > 0) assert.ok(decodeCode8(c) > decodeCode8(c - 1), `code ${c}`);
    }
  });
  it("decode(encode(decode(c))) === decode(c) and encode(decode(c)) === c, both roundings", () => {
    for (let c = 0; c < 256; c++) {
      const v = decodeCode8(c);
      for (const r of ["down", "up"] as const) {
        assert.equal(encodeCode8(v, r), c, `code ${c} ${r}`);
        assert.equal(decodeCode8(encodeCode8(v, r)), v);
      }
    }
  });
  it("rounds down to the largest code <= v, up to the smallest code >= v, clamps", () => {
    for (let v = 0; v <= MAX_CODE8_VALUE + 300; v++) {
      const down = encodeCode8(v, "down");
      const up = encodeCode8(v, "up");
      if (v <= MAX_CODE8_VALUE) {
        assert.ok(decodeCode8(down) <= v && (down === 255 || decodeCode8(down + 1) > v), `down ${v}`);
        assert.ok(decodeCode8(up) >= v && (up === 0 || decodeCode8(up - 1) < v), `up ${v}`);
      } else {
        assert.equal(down, 255);
        assert.equal(up, 255);
      }
    }
    assert.equal(encodeCode8(250), 0x8f); // 248
    assert.equal(encodeCode8(250, "up"), 0x90); // 256
    assert.equal(encodeCode8(-5), 0);
    assert.equal(encodeCode8(Number.NaN), 0);
    assert.equal(encodeCode8(1e12), 0xff);
    assert.equal(encodeCode8(127.9), 127);
    assert.equal(encodeCode8(127.1, "up"), 128);
  });
  it("field conversions", () => {
    assert.equal(igmpv3MaxRespCodeToMs(100), 10_000);
    assert.equal(msToIgmpv3MaxRespCode(10_000), 100);
    assert.equal(msToIgmpv3MaxRespCode(1_000), 10);
    assert.equal(msToIgmpv3MaxRespCode(50), 1, "a positive time never becomes 0");
    assert.equal(msToIgmpv3MaxRespCode(0), 0);
    assert.equal(msToIgmpv3MaxRespCode(25_000), 0x8f); // 25 s -> 24.8 s
    assert.equal(msToIgmpv2MaxRespCode(10_000), 100);
    assert.equal(msToIgmpv2MaxRespCode(100_000), 255);
    assert.equal(msToIgmpv2MaxRespCode(0), 1, "v2 code 0 would be a v1 query");
    assert.equal(qqicToSeconds(secondsToQqic(125)), 125);
    assert.equal(qqicToSeconds(secondsToQqic(1000)), 992);
  });
});

describe("16-bit code (MLDv2 Maximum Response Code)", () => {
  it("RFC vectors", () => {
    assert.equal(decodeCode16(10_000), 10_000);
    assert.equal(decodeCode16(0x7fff), 32767);
    assert.equal(decodeCode16(0x8000), 32768);
    assert.equal(decodeCode16(0x8fff), 0x1fff << 3);
    assert.equal(decodeCode16(0x9000), 65536);
    assert.equal(decodeCode16(0xffff), 8387584);
    assert.equal(MAX_CODE16_VALUE, 8387584);
  });
  it("exhaustive over all 65536 codes", () => {
    let prev = -1;
    for (let c = 0; c < 65536; c++) {
      const v = decodeCode16(c);
      assert.equal(v, refDecode16(c));
      assert.ok(v > prev);
      prev = v;
      if (encodeCode16(v) !== c || encodeCode16(v, "up") !== c) assert.fail(`code ${c}`);
      assert.equal(decodeCode16(encodeCode16(v)), v);
    }
  });
  it("rounding between codes and clamping", () => {
    // exp 0 step 8: 32769..32775 lie between 0x8000 and 0x8001.
    assert.equal(encodeCode16(32771), 0x8000);
    assert.equal(encodeCode16(32771, "up"), 0x8001);
    // 65535 lies between exp 0 top (65528) and exp 1 bottom (65536).
    assert.equal(encodeCode16(65535), 0x8fff);
    assert.equal(encodeCode16(65535, "up"), 0x9000);
    assert.equal(encodeCode16(MAX_CODE16_VALUE + 1), 0xffff);
    assert.equal(msToMldv2MaxRespCode(10_000), 10_000);
    assert.equal(msToMldv2MaxRespCode(0), 0);
    assert.equal(msToMldv2MaxRespCode(0.3), 1);
  });
});
