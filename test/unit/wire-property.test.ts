/**
 * Property tests of the codecs (fast-check): serialize/parse round trips for every message
 * type of both families, and robustness of the parsers on random and mutated bytes (never
 * throw, only typed errors, no read outside the buffer).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bytesToIpv4, bytesToIpv6, canonicalAddress } from "../../src/wire/address.js";
import { icmpv6Checksum, internetChecksum } from "../../src/wire/checksum.js";
import { decodeCode8, decodeCode16 } from "../../src/wire/floatcode.js";
import { type PseudoHeader, parse, serialize } from "../../src/wire/index.js";
import type { IpFamily, GroupRecord, Message, ParseResult, Query } from "../../src/wire/types.js";

const REASONS = new Set(["truncated", "bad-checksum", "unknown-type", "bad-length", "bad-field"]);

// --- Arbitraries --------------------------------------------------------------------------

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => bytesToIpv4(b));
const ipv6 = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 255 }))
  .map(([b, zeroMask]) => {
    const out = new Uint8Array(b);
    for (let k = 0; k < 8; k++) if (zeroMask & (1 << k)) out[2 * k] = out[2 * k + 1] = 0;
    return bytesToIpv6(out);
  });
const address = (family: IpFamily) => (family === "ipv4" ? ipv4 : ipv6);
const linkLocal = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(b, 8);
  return bytesToIpv6(a);
});

function queryArb(family: IpFamily): fc.Arbitrary<Query> {
  const versions: Array<1 | 2 | 3> = family === "ipv4" ? [1, 2, 3] : [1, 2];
  return fc.constantFrom(...versions).chain((version) => {
    const current = version === (family === "ipv4" ? 3 : 2);
    const codeMax = family === "ipv4" ? 0xff : 0xffff;
    return fc
      .record({
        code:
          family === "ipv4" && version === 2
            ? fc.integer({ min: 1, max: 255 })
            : fc.integer({ min: 0, max: codeMax }),
        group: address(family),
        sFlag: fc.boolean(),
        qrv: fc.integer({ min: 0, max: 7 }),
        qqic: fc.integer({ min: 0, max: 255 }),
        sources: fc.array(address(family), { maxLength: 12 }),
      })
      .map(({ code, group, sFlag, qrv, qqic, sources }): Query => {
        let maxRespCode = code;
        let maxRespTimeMs: number;
        if (family === "ipv4") {
          if (version === 1) {
            maxRespCode = 0;
            maxRespTimeMs = 10_000;
          } else if (version === 2) maxRespTimeMs = code * 100;
          else maxRespTimeMs = decodeCode8(code) * 100;
        } else {
          maxRespTimeMs = version === 1 ? code : decodeCode16(code);
        }
        return {
          type: "query",
          family,
          version,
          maxRespCode,
          maxRespTimeMs,
          group,
          sFlag: current ? sFlag : false,
          qrv: current ? qrv : 0,
          qqic: current ? qqic : 0,
          qqiSeconds: current ? decodeCode8(qqic) : 0,
          sources: current ? sources : [],
        };
      });
  });
}

function recordArb(family: IpFamily): fc.Arbitrary<GroupRecord> {
  return fc
    .record({
      recordType: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 255 })),
      group: address(family),
      sources: fc.array(address(family), { maxLength: 8 }),
      auxData: fc
        .integer({ min: 0, max: 3 })
        .chain((w) => fc.uint8Array({ minLength: 4 * w, maxLength: 4 * w })),
    })
    .map(plain);
}

/** fc.record builds null-prototype objects; the parser returns plain ones. */
function plain<T extends object>(o: T): T {
  return { ...o };
}

function messageArb(family: IpFamily): fc.Arbitrary<Message> {
  const reportVersions: Array<1 | 2> = family === "ipv4" ? [1, 2] : [1];
  return fc.oneof(
    queryArb(family),
    fc
      .record({
        type: fc.constant("report" as const),
        family: fc.constant(family),
        version: fc.constantFrom(...reportVersions),
        group: address(family),
      })
      .map(plain),
    fc
      .record({ type: fc.constant("leave" as const), family: fc.constant(family), group: address(family) })
      .map(plain),
    fc
      .record({
        type: fc.constant("v3report" as const),
        family: fc.constant(family),
        records: fc.array(recordArb(family), { maxLength: 6 }),
      })
      .map(plain),
  );
}

const pseudoArb: fc.Arbitrary<PseudoHeader> = fc.record({ source: linkLocal, destination: ipv6 });

// --- Out-of-bounds detection ---------------------------------------------------------------

/**
 * A view of `bytes` that records every indexed read outside [0, length). Methods are
 * bound to the real array so slice/subarray keep working.
 */
function guarded(bytes: Uint8Array): { buf: Uint8Array; violations: string[] } {
  const violations: string[] = [];
  const buf = new Proxy(bytes, {
    get(target, prop) {
      if (typeof prop === "string" && /^-?\d+$/.test(prop)) {
        const i = Number(prop);
        if (i < 0 || i >= target.length) violations.push(`read [${i}] of ${target.length}`);
        return target[i];
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { buf, violations };
}

/** Copy of `bytes` inside a larger buffer: `fill` before and after. */
function embedded(bytes: Uint8Array, fill: number): Uint8Array {
  const big = new Uint8Array(bytes.length + 64).fill(fill);
  big.set(bytes, 32);
  return big.subarray(32, 32 + bytes.length);
}

function allAddresses(m: Message): string[] {
  switch (m.type) {
    case "query":
      return [m.group, ...m.sources];
    case "report":
    case "leave":
      return [m.group];
    case "v3report":
      return m.records.flatMap((r) => [r.group, ...r.sources]);
  }
}

/** Parses `bytes` several ways and checks the robustness properties; returns the result. */
function checkedParse(family: IpFamily, bytes: Uint8Array, pseudo?: PseudoHeader): ParseResult {
  const { buf, violations } = guarded(bytes);
  let r: ParseResult;
  try {
    r = parse(family, buf, pseudo);
  } catch (e) {
    assert.fail(`parse threw: ${String(e)}`);
  }
  assert.deepEqual(violations, [], "read outside the buffer");
  // Independent of the bytes around the message.
  assert.deepEqual(parse(family, embedded(bytes, 0x00), pseudo), r);
  assert.deepEqual(parse(family, embedded(bytes, 0xff), pseudo), r);
  if (!r.ok) {
    assert.ok(REASONS.has(r.error.reason), r.error.reason);
    assert.equal(typeof r.error.detail, "string");
    return r;
  }
  assert.equal(r.message.family, family);
  for (const a of allAddresses(r.message)) assert.equal(canonicalAddress(a, family), a);
  if (r.message.type === "query") {
    for (const n of [
      r.message.maxRespCode,
      r.message.maxRespTimeMs,
      r.message.qqic,
      r.message.qqiSeconds,
      r.message.qrv,
    ]) {
      assert.ok(Number.isInteger(n) && n >= 0, `field ${n}`);
    }
  }
  // A parsed message re-serializes to a message that parses to itself.
  const again = parse(family, serialize(family, r.message, pseudo), pseudo);
  assert.deepEqual(again, r);
  return r;
}

/** Refreshes the checksum so mutations reach the deeper parsing code. */
function fixChecksum(family: IpFamily, b: Uint8Array, pseudo: PseudoHeader): Uint8Array {
  if (b.length < 4) return b;
  b[2] = b[3] = 0;
  if (family === "ipv4") {
    const c = internetChecksum(b);
    b[2] = c >>> 8;
    b[3] = c & 0xff;
    return b;
  }
  const c = icmpv6Checksum(b, pseudo.source, pseudo.destination);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

// --- Properties --------------------------------------------------------------------------

for (const family of ["ipv4", "ipv6"] as const) {
  describe(`${family} codec properties`, () => {
    it("parse(serialize(m)) deep-equals m for every message type", () => {
      fc.assert(
        fc.property(messageArb(family), pseudoArb, (m, pseudo) => {
          const bytes = serialize(family, m, pseudo);
          const r = checkedParse(family, bytes, pseudo);
          assert.ok(r.ok, r.ok ? "" : `${r.error.reason}: ${r.error.detail}`);
          assert.deepEqual(r.message, m);
          // Byte-exact: serializing the parsed message gives the same bytes.
          assert.deepEqual(serialize(family, r.message, pseudo), bytes);
        }),
        { numRuns: 300 },
      );
    });

    it("random bytes never throw and give ok or a typed error", () => {
      const typeByte =
        family === "ipv4"
          ? fc.constantFrom(0x11, 0x12, 0x16, 0x17, 0x22, 0x13)
          : fc.constantFrom(130, 131, 132, 143, 128);
      fc.assert(
        fc.property(
          typeByte,
          fc.uint8Array({ maxLength: 200 }),
          fc.boolean(),
          pseudoArb,
          (t, body, fix, pseudo) => {
            const b = new Uint8Array(body.length + 1);
            b[0] = t;
            b.set(body, 1);
            checkedParse(family, fix ? fixChecksum(family, b, pseudo) : b, pseudo);
            checkedParse(family, b); // MLD without checksum verification
          },
        ),
        { numRuns: 400 },
      );
    });

    it("mutated valid packets (bytes flipped, truncated, extended) never throw", () => {
      const mutation = fc.record({
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        cut: fc.nat(),
        extra: fc.uint8Array({ maxLength: 40 }),
        mode: fc.constantFrom("flip", "truncate", "extend", "all"),
      });
      let ok = 0;
      let errors = 0;
      fc.assert(
        fc.property(messageArb(family), pseudoArb, mutation, (m, pseudo, mut) => {
          let b: Uint8Array = serialize(family, m, pseudo);
          if (mut.mode === "truncate" || mut.mode === "all") b = b.slice(0, mut.cut % (b.length + 1));
          if (mut.mode === "extend" || mut.mode === "all") {
            const e = new Uint8Array(b.length + mut.extra.length);
            e.set(b);
            e.set(mut.extra, b.length);
            b = e;
          }
          if ((mut.mode === "flip" || mut.mode === "all") && b.length > 0) {
            for (const [at, x] of mut.flips) {
              const i = at % b.length;
              b[i] = b[i]! ^ x;
            }
          }
          const r = checkedParse(family, fixChecksum(family, b, pseudo), pseudo);
          if (r.ok) ok++;
          else errors++;
        }),
        { numRuns: 500 },
      );
      // Both outcomes were exercised.
      assert.ok(ok > 0 && errors > 0, `ok ${ok} errors ${errors}`);
    });
  });
}
