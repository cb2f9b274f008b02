/**
 * Property tests: random valid message sequences with random time advances keep the
 * engine's invariants (RFC 9776 §6.2.1, §6.5): INCLUDE groups have no group timer and no
 * empty INCLUDE group survives; no running timer lies in the past; the last
 * `forwarding` effect of every group matches the snapshot (forwarded and blocked lists
 * disjoint by construction of the effect).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { RouterEffect } from "../../src/router/types.js";
import { type Addrs, FAMILIES, Fixture } from "./router-harness.js";

type Op =
  | { kind: "record"; recordType: number; group: number; sources: number[]; host: number }
  | { kind: "report"; version: 1 | 2; group: number; host: number }
  | { kind: "leave"; group: number; host: number }
  | { kind: "query"; group: number; sources: number[]; sFlag: boolean; lower: boolean }
  | { kind: "advance"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("record" as const),
      recordType: fc.integer({ min: 1, max: 6 }),
      group: fc.integer({ min: 0, max: 2 }),
      sources: fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { maxLength: 4 }),
      host: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("report" as const),
      version: fc.constantFrom(1 as const, 2 as const),
      group: fc.integer({ min: 0, max: 2 }),
      host: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("leave" as const),
      group: fc.integer({ min: 0, max: 2 }),
      host: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("query" as const),
      group: fc.integer({ min: -1, max: 2 }),
      sources: fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { maxLength: 3 }),
      sFlag: fc.boolean(),
      lower: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 300_000 })),
    }),
  },
);

function groupsOf(a: Addrs): string[] {
  return [a.group, a.group2, a.ssmGroup];
}

function apply(f: Fixture, a: Addrs, op: Op): void {
  const hosts = [a.host1, a.host2, a.host3];
  const groups = groupsOf(a);
  switch (op.kind) {
    case "record":
      f.record(
        op.recordType,
        groups[op.group]!,
        op.sources.map((i) => a.s[i]!),
        hosts[op.host],
      );
      break;
    case "report":
      f.report(a.family === "ipv6" ? 2 : op.version, groups[op.group]!, hosts[op.host]);
      break;
    case "leave":
      f.leave(groups[op.group]!, hosts[op.host]);
      break;
    case "query":
      f.query({
        source: op.lower ? a.lowerRouter : a.higherRouter,
        group: op.group < 0 ? a.unspecified : groups[op.group]!,
        sources: op.group < 0 ? [] : op.sources.map((i) => a.s[i]!),
        sFlag: op.sFlag,
      });
      break;
    case "advance":
      f.advance(op.ms);
      break;
  }
}

function checkInvariants(f: Fixture): void {
  const snap = f.router.snapshot();
  const last = new Map<string, Extract<RouterEffect, { type: "forwarding" }>>();
  for (const e of f.forwardingLog) last.set(e.group, e);
  for (const g of snap.groups) {
    if (g.filterMode === "include") {
      assert.equal(g.expiresMs, null, `INCLUDE group ${g.group} has no group timer`);
      assert.ok(g.sources.length > 0, `no empty INCLUDE group (${g.group})`);
      for (const s of g.sources) assert.ok(s.forwarded && s.expiresMs > 0, "INCLUDE sources all run");
    } else {
      assert.ok(
        g.expiresMs !== null && g.expiresMs > 0,
        `EXCLUDE group timer in the future (${g.expiresMs})`,
      );
    }
    for (const s of g.sources) {
      assert.ok(s.expiresMs >= 0, "no source deadline in the past");
      if (s.forwarded) assert.ok(s.expiresMs > 0);
    }
    const e = last.get(g.group);
    assert.ok(e, `forwarding effect for ${g.group}`);
    assert.equal(e.filterMode, g.filterMode);
    const forwarded = g.sources.filter((s) => s.forwarded).map((s) => s.source);
    const blocked = g.sources.filter((s) => !s.forwarded).map((s) => s.source);
    assert.deepEqual([...e.sources].sort(), (g.filterMode === "include" ? forwarded : blocked).sort());
    if (g.filterMode === "exclude")
      for (const s of e.sources) assert.ok(!forwarded.includes(s), "forwarded and blocked disjoint");
    if (g.filterMode === "include")
      assert.ok(!snap.groups.some((x) => x.group === g.group && x.sources.length === 0));
  }
  for (const [group, e] of last) {
    if (!snap.groups.some((g) => g.group === group)) {
      assert.deepEqual([e.filterMode, e.sources], ["include", []], `group ${group} gone: nothing forwarded`);
    }
  }
}

for (const a of FAMILIES) {
  describe(`router invariants, ${a.family}`, () => {
    test("random message sequences with time advances keep the invariants", () => {
      fc.assert(
        fc.property(
          fc.array(opArb, { minLength: 1, maxLength: 60 }),
          fc.boolean(),
          fc.constantFrom(...(a.family === "ipv4" ? [1, 2, 3] : [1, 2])),
          (ops, fastLeave, version) => {
            const f = new Fixture(a, { fastLeave, version });
            for (const op of ops) {
              apply(f, a, op);
              checkInvariants(f);
            }
            f.router.stop();
            assert.equal(f.scheduler.pending, 0, "stop() leaves no timer");
            const lastByGroup = new Map<string, Extract<RouterEffect, { type: "forwarding" }>>();
            for (const e of f.forwardingLog) lastByGroup.set(e.group, e);
            for (const e of lastByGroup.values())
              assert.deepEqual([e.filterMode, e.sources], ["include", []]);
          },
        ),
        { numRuns: 300 },
      );
    });
  });
}
