import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { internetChecksum } from "../../src/wire/checksum.js";
import {
  generalQuery,
  groupQuery,
  groupSourceQuery,
  leave,
  parseIgmp,
  report,
  serializeIgmp,
  v3Report,
} from "../../src/wire/index.js";
import type { Message, ParseResult, Query } from "../../src/wire/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function withChecksum(b: Uint8Array): Uint8Array {
  b[2] = b[3] = 0;
  const c = internetChecksum(b);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

function okMessage(r: ParseResult): Message {
  if (!r.ok) assert.fail(`parse failed: ${r.error.reason}: ${r.error.detail}`);
  return r.message;
}

function errorOf(r: ParseResult): { reason: string; detail: string } {
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.message)}`);
  return r.error;
}

describe("IGMP byte vectors", () => {
  it("Linux IGMPv3 report joining 239.1.1.1 EXCLUDE {} (checksum 0xe9fb)", () => {
    const bytes = hex("22 00 e9 fb 00 00 00 01 04 00 00 00 ef 01 01 01");
    const m = okMessage(parseIgmp(bytes));
    assert.deepEqual(m, {
      type: "v3report",
      family: "ipv4",
      records: [{ recordType: 4, group: "239.1.1.1", sources: [], auxData: new Uint8Array(0) }],
    });
    assert.equal(toHex(serializeIgmp(m)), toHex(bytes));
    assert.equal(
      toHex(serializeIgmp(v3Report("ipv4", [{ recordType: 4, group: "239.1.1.1" }]))),
      toHex(bytes),
    );
  });
  it("the brief's vector with checksum 0xf9fc does not verify", () => {
    assert.equal(errorOf(parseIgmp(hex("2200f9fc0000000104000000ef010101"))).reason, "bad-checksum");
  });
  it("IGMPv2 report for 239.255.255.250", () => {
    const bytes = hex("16 00 fa 04 ef ff ff fa");
    assert.deepEqual(okMessage(parseIgmp(bytes)), {
      type: "report",
      family: "ipv4",
      version: 2,
      group: "239.255.255.250",
    });
    assert.equal(toHex(serializeIgmp(report("ipv4", 2, "239.255.255.250"))), toHex(bytes));
  });
  it("IGMPv2 report longer than 8 bytes: extra bytes ignored (RFC 2236 §2.5)", () => {
    const bytes = withChecksum(hex("16 00 00 00 ef 01 02 03 de ad be ef"));
    assert.deepEqual(okMessage(parseIgmp(bytes)), {
      type: "report",
      family: "ipv4",
      version: 2,
      group: "239.1.2.3",
    });
  });
  it("IGMPv1 report and v2 leave", () => {
    const v1 = withChecksum(hex("12 00 00 00 e0 00 01 01"));
    assert.deepEqual(okMessage(parseIgmp(v1)), {
      type: "report",
      family: "ipv4",
      version: 1,
      group: "224.0.1.1",
    });
    assert.equal(toHex(serializeIgmp(report("ipv4", 1, "224.0.1.1"))), toHex(v1));
    const lv = withChecksum(hex("17 00 00 00 ef 01 01 01"));
    assert.deepEqual(okMessage(parseIgmp(lv)), { type: "leave", family: "ipv4", group: "239.1.1.1" });
    assert.equal(toHex(serializeIgmp(leave("ipv4", "239.1.1.1"))), toHex(lv));
  });
  it("v1 query (8 bytes, code 0) and v2 query (8 bytes, code 100)", () => {
    const q1 = okMessage(parseIgmp(withChecksum(hex("11 00 00 00 00 00 00 00")))) as Query;
    assert.equal(q1.version, 1);
    assert.equal(q1.maxRespTimeMs, 10_000);
    assert.equal(q1.group, "0.0.0.0");
    const q2bytes = withChecksum(hex("11 64 00 00 ef 01 01 01"));
    const q2 = okMessage(parseIgmp(q2bytes)) as Query;
    assert.equal(q2.version, 2);
    assert.equal(q2.maxRespCode, 100);
    assert.equal(q2.maxRespTimeMs, 10_000);
    assert.equal(q2.group, "239.1.1.1");
    assert.equal(
      toHex(serializeIgmp(groupQuery("ipv4", 2, "239.1.1.1", { maxRespTimeMs: 10_000 }))),
      toHex(q2bytes),
    );
    assert.deepEqual(groupQuery("ipv4", 2, "239.1.1.1", { maxRespTimeMs: 10_000 }), q2);
    assert.deepEqual(generalQuery("ipv4", 1), q1);
  });
  it("v3 Q(G,S) with 2 sources: count in network byte order", () => {
    const bytes = hex("11 64 df 14 ef 01 02 03 0a 7d 00 02 0a 00 00 01 0a 00 00 02");
    const q = okMessage(parseIgmp(bytes)) as Query;
    assert.deepEqual(q, {
      type: "query",
      family: "ipv4",
      version: 3,
      maxRespCode: 100,
      maxRespTimeMs: 10_000,
      group: "239.1.2.3",
      sFlag: true,
      qrv: 2,
      qqic: 125,
      qqiSeconds: 125,
      sources: ["10.0.0.1", "10.0.0.2"],
    });
    const built = groupSourceQuery("ipv4", "239.1.2.3", ["10.0.0.1", "10.0.0.2"], { sFlag: true });
    assert.deepEqual(built, q);
    const out = serializeIgmp(built);
    assert.equal(toHex(out), toHex(bytes));
    assert.equal(out[10], 0);
    assert.equal(out[11], 2);
  });
  it("v3 query with 300 sources writes 0x012c", () => {
    const sources = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 0xff}`);
    const out = serializeIgmp(groupSourceQuery("ipv4", "232.1.1.1", sources));
    assert.equal(out.length, 12 + 1200);
    assert.equal((out[10]! << 8) | out[11]!, 300);
    assert.deepEqual((okMessage(parseIgmp(out)) as Query).sources, sources);
  });
  it("v3 query times: decoded values win over raw codes on output", () => {
    const q = {
      ...generalQuery("ipv4", 3),
      maxRespTimeMs: 25_000,
      qqiSeconds: 300,
      maxRespCode: 7,
      qqic: 9,
      qrv: 9,
    };
    const out = serializeIgmp(q);
    assert.equal(out[1], 0x8f); // 24.8 s, rounded down
    assert.equal(out[9], 0x92); // 288 s, rounded down
    assert.equal(out[8], 0, "QRV > 7 is sent as 0 (RFC 9776 §4.1.6)");
  });
  it("v3 report with all record types, sources and aux data", () => {
    const aux = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const msg = v3Report("ipv4", [
      { recordType: 1, group: "239.0.0.1", sources: ["10.0.0.1"] },
      { recordType: 2, group: "239.0.0.2", sources: [] },
      { recordType: 3, group: "239.0.0.3", sources: ["10.0.0.3", "10.0.0.4"], auxData: aux },
      { recordType: 4, group: "239.0.0.4" },
      { recordType: 5, group: "232.1.1.1", sources: ["10.1.1.1"] },
      { recordType: 6, group: "232.1.1.1", sources: ["10.1.1.2"] },
      { recordType: 77, group: "239.0.0.7", sources: ["10.0.0.7"] },
    ]);
    const out = serializeIgmp(msg);
    assert.equal(out.length, 8 + 7 * 8 + 6 * 4 + 8);
    assert.equal(internetChecksum(out), 0);
    const back = okMessage(parseIgmp(out));
    assert.deepEqual(back, msg);
  });
});

describe("IGMP malformed input", () => {
  it("short messages", () => {
    for (let n = 0; n < 8; n++) assert.equal(errorOf(parseIgmp(new Uint8Array(n))).reason, "truncated");
  });
  it("9..11-byte queries are bad-length", () => {
    for (const n of [9, 10, 11]) {
      const b = new Uint8Array(n);
      b[0] = 0x11;
      b[1] = 100;
      assert.equal(errorOf(parseIgmp(withChecksum(b))).reason, "bad-length");
    }
  });
  it("bad checksum", () => {
    const b = serializeIgmp(report("ipv4", 2, "239.1.1.1"));
    b[7] = b[7]! ^ 1;
    assert.equal(errorOf(parseIgmp(b)).reason, "bad-checksum");
  });
  it("unknown type", () => {
    assert.equal(errorOf(parseIgmp(withChecksum(hex("13 00 00 00 ef 01 01 01")))).reason, "unknown-type");
  });
  it("v3 query claiming more sources than present", () => {
    const b = serializeIgmp(groupSourceQuery("ipv4", "232.1.1.1", ["10.0.0.1", "10.0.0.2"]));
    b[11] = 3;
    const e = errorOf(parseIgmp(withChecksum(b)));
    assert.equal(e.reason, "truncated");
    assert.match(e.detail, /3 sources/);
  });
  it("v3 report: the record that overruns is named", () => {
    const msg = v3Report("ipv4", [
      { recordType: 1, group: "239.0.0.1", sources: ["10.0.0.1"] },
      { recordType: 1, group: "239.0.0.2", sources: ["10.0.0.2"] },
    ]);
    const b = serializeIgmp(msg);
    // Record 1 starts at 8 + 12 = 20; claim 40 sources.
    b[22] = 0;
    b[23] = 40;
    let e = errorOf(parseIgmp(withChecksum(b)));
    assert.equal(e.reason, "truncated");
    assert.match(e.detail, /record 1 .*40 sources/);
    // Aux data length overrun on record 0.
    const c = serializeIgmp(msg);
    c[9] = 1;
    e = errorOf(parseIgmp(withChecksum(c)));
    // Record 1 now starts inside record 1's group address: it overruns.
    assert.match(e.detail, /^record 1 of 2 claims 2 sources .*8 bytes left/);
    c[9] = 4;
    e = errorOf(parseIgmp(withChecksum(c)));
    assert.match(e.detail, /^record 0 of 2 claims 1 sources and 4 aux words \(28 bytes\), 24 bytes left/);
    // More records claimed than present.
    const d = serializeIgmp(msg);
    d[7] = 3;
    assert.match(errorOf(parseIgmp(withChecksum(d))).detail, /^record 2 of 3/);
  });
  it("serializer rejects wrong family, bad addresses and bad aux data", () => {
    assert.throws(() => serializeIgmp(report("ipv6", 1, "ff05::1")), TypeError);
    assert.throws(() => serializeIgmp({ type: "leave", family: "ipv4", group: "ff05::1" }), TypeError);
    assert.throws(
      () =>
        serializeIgmp({
          type: "v3report",
          family: "ipv4",
          records: [{ recordType: 1, group: "239.1.1.1", sources: [], auxData: new Uint8Array(3) }],
        }),
      RangeError,
    );
  });
});

describe("IGMP input buffers", () => {
  it("accepts a Node Buffer and copies aux data out of it", () => {
    const msg = v3Report("ipv4", [
      { recordType: 1, group: "239.1.1.1", auxData: new Uint8Array([1, 2, 3, 4]) },
    ]);
    const buf = Buffer.from(serializeIgmp(msg));
    const m = okMessage(parseIgmp(buf));
    assert.deepEqual(m, msg);
    buf.fill(0);
    assert.deepEqual(m.type === "v3report" ? [...m.records[0]!.auxData] : [], [1, 2, 3, 4]);
  });
});
