import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { icmpv6Checksum } from "../../src/wire/checksum.js";
import {
  generalQuery,
  groupQuery,
  groupSourceQuery,
  leave,
  parse,
  parseMld,
  report,
  serialize,
  serializeMld,
  v3Report,
} from "../../src/wire/index.js";
import type { Message, ParseResult, Query } from "../../src/wire/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const LL = "fe80::1";
const ph = (destination: string) => ({ source: LL, destination });

function okMessage(r: ParseResult): Message {
  if (!r.ok) assert.fail(`parse failed: ${r.error.reason}: ${r.error.detail}`);
  return r.message;
}
function errorOf(r: ParseResult): { reason: string; detail: string } {
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.message)}`);
  return r.error;
}

describe("MLD byte vectors", () => {
  it("MLDv2 report CHANGE_TO_EXCLUDE ff05::1:3 from fe80::1 (checksum 0x7003)", () => {
    const bytes = hex("8f 00 70 03 0000 0001  04 00 0000 ff050000000000000000000000010003");
    const m = okMessage(parseMld(bytes, ph("ff02::16")));
    assert.deepEqual(m, {
      type: "v3report",
      family: "ipv6",
      records: [{ recordType: 4, group: "ff05::1:3", sources: [], auxData: new Uint8Array(0) }],
    });
    assert.equal(toHex(serializeMld(m, ph("ff02::16"))), toHex(bytes));
    // Without the pseudo-header the checksum is left to the kernel.
    const noSum = serializeMld(m);
    assert.equal(noSum[2], 0);
    assert.equal(noSum[3], 0);
    assert.ok(parseMld(noSum).ok, "no pseudo-header: checksum not verified");
    assert.equal(errorOf(parseMld(bytes, ph("ff02::2"))).reason, "bad-checksum");
  });
  it("MLDv1 query (24 bytes) and MLDv2 query (>= 28 bytes)", () => {
    const q1 = serializeMld(generalQuery("ipv6", 1, { maxRespTimeMs: 10_000 }), ph("ff02::1"));
    assert.equal(q1.length, 24);
    assert.equal(toHex(q1.subarray(4, 8)), "27100000");
    const p1 = okMessage(parseMld(q1, ph("ff02::1"))) as Query;
    assert.equal(p1.version, 1);
    assert.equal(p1.maxRespTimeMs, 10_000);
    assert.equal(p1.group, "::");
    const q2 = groupSourceQuery("ipv6", "ff3e::8000:1", ["fd00:10::2", "fd00:10::3"], {
      maxRespTimeMs: 1000,
      qrv: 3,
    });
    const b2 = serializeMld(q2, ph("ff3e::8000:1"));
    assert.equal(b2.length, 28 + 32);
    assert.equal(toHex(b2.subarray(24, 28)), "037d0002");
    assert.equal(icmpv6Checksum(b2, LL, "ff3e::8000:1"), 0);
    assert.deepEqual(okMessage(parseMld(b2, ph("ff3e::8000:1"))), q2);
  });
  it("MLDv2 Maximum Response Code >= 32768 ms", () => {
    const q = generalQuery("ipv6", 2, { maxRespTimeMs: 65_535 });
    assert.equal(q.maxRespCode, 0x8fff);
    assert.equal(q.maxRespTimeMs, 65_528);
    const b = serializeMld(q);
    assert.equal(toHex(b.subarray(4, 6)), "8fff");
    assert.deepEqual(okMessage(parseMld(b)), q);
  });
  it("MLDv1 report and done", () => {
    const r = serializeMld(report("ipv6", 1, "FF05::1:3"), ph("ff05::1:3"));
    assert.equal(r[0], 131);
    assert.deepEqual(okMessage(parseMld(r, ph("ff05::1:3"))), {
      type: "report",
      family: "ipv6",
      version: 1,
      group: "ff05::1:3",
    });
    const d = serializeMld(leave("ipv6", "ff05::1:3"), ph("ff02::2"));
    assert.equal(d[0], 132);
    assert.deepEqual(okMessage(parseMld(d, ph("ff02::2"))), {
      type: "leave",
      family: "ipv6",
      group: "ff05::1:3",
    });
  });
  it("MLDv2 report with sources and aux data round-trips through the dispatcher", () => {
    const msg = v3Report("ipv6", [
      { recordType: 1, group: "ff3e::1", sources: ["2001:db8::1", "2001:db8::2"] },
      { recordType: 6, group: "ff3e::2", sources: ["2001:db8::3"], auxData: new Uint8Array([9, 9, 9, 9]) },
      { recordType: 200, group: "ff05::9" },
    ]);
    const b = serialize("ipv6", msg, ph("ff02::16"));
    assert.equal(b.length, 8 + 3 * 20 + 3 * 16 + 4);
    assert.deepEqual(okMessage(parse("ipv6", b, ph("ff02::16"))), msg);
    assert.throws(() => serialize("ipv4", msg), TypeError);
  });
  it("group query and builders agree with the parser", () => {
    const q = groupQuery("ipv6", 2, "ff05::1:3", { maxRespTimeMs: 1000, sFlag: true });
    assert.deepEqual(okMessage(parseMld(serializeMld(q))), q);
    assert.throws(() => groupQuery("ipv6", 3, "ff05::1:3"), RangeError);
    assert.throws(() => report("ipv6", 2, "ff05::1"), RangeError);
  });
});

describe("MLD malformed input", () => {
  it("lengths", () => {
    for (let n = 0; n < 8; n++) assert.equal(errorOf(parseMld(new Uint8Array(n))).reason, "truncated");
    for (const t of [130, 131, 132]) {
      const b = new Uint8Array(23);
      b[0] = t;
      assert.equal(errorOf(parseMld(b)).reason, "truncated", `type ${t}`);
    }
    for (const n of [25, 26, 27]) {
      const b = new Uint8Array(n);
      b[0] = 130;
      assert.equal(errorOf(parseMld(b)).reason, "bad-length");
    }
  });
  it("unknown ICMPv6 type", () => {
    const b = new Uint8Array(24);
    b[0] = 128;
    assert.equal(errorOf(parseMld(b)).reason, "unknown-type");
  });
  it("query claiming more sources than present", () => {
    const b = serializeMld(groupSourceQuery("ipv6", "ff3e::1", ["2001:db8::1"]));
    b[27] = 2;
    assert.match(errorOf(parseMld(b)).detail, /2 sources, 16 bytes left/);
  });
  it("report record overrun names the record", () => {
    const b = serializeMld(
      v3Report("ipv6", [
        { recordType: 1, group: "ff3e::1", sources: ["2001:db8::1"] },
        { recordType: 1, group: "ff3e::2", sources: ["2001:db8::2"] },
      ]),
    );
    b[8 + 36 + 3] = 5;
    const e = errorOf(parseMld(b));
    assert.equal(e.reason, "truncated");
    assert.match(e.detail, /^record 1 of 2 claims 5 sources/);
    b[7] = 3;
    b[8 + 36 + 3] = 1;
    assert.match(errorOf(parseMld(b)).detail, /^record 2 of 3: header needs 20 bytes, 0 left/);
  });
  it("invalid pseudo-header addresses are a typed error, not an exception", () => {
    const b = serializeMld(leave("ipv6", "ff05::1"));
    assert.equal(errorOf(parseMld(b, { source: "10.0.0.1", destination: "ff02::2" })).reason, "bad-field");
  });
});
