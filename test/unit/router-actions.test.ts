/**
 * Every row of RFC 9776 §6.4.1 (current-state records) and §6.4.2 (state-change records)
 * and their RFC 9777 §7.4 twins, for both families, as querier and as non-querier:
 * resulting filter mode, source lists and timers, group timer, queries sent (with
 * retransmissions) and the state after the Last Member Query Time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Addrs,
  ALLOW,
  BLOCK,
  FAMILIES,
  Fixture,
  GMI,
  IS_EX,
  IS_IN,
  LMQI,
  LMQT,
  TO_EX,
  TO_IN,
} from "./router-harness.js";

const OLD = GMI - 100_000; // a timer set at t=0, seen at t=100 s
type T = "gmi" | "old" | "lmqt" | 0;
const ms = (t: T): number => (t === "gmi" ? GMI : t === "old" ? OLD : t === "lmqt" ? LMQT : 0);

interface Row {
  name: string;
  record: number;
  /** Report source indexes. */
  b: number[];
  mode: "include" | "exclude";
  /** Source index -> timer, as querier. */
  timers: Record<number, T>;
  groupTimer: T | null;
  /** Queries sent at once and again after LMQI: source lists (indexes), "G" = Q(G). */
  queries: (number[] | "G")[];
  /** As non-querier (no queries, no lowering): timers and group timer, when they differ. */
  nqTimers?: Record<number, T>;
  nqGroupTimer?: T | null;
  /** Forwarding state after LMQT + 1 ms (querier). */
  after: { mode: "include" | "exclude"; sources: number[] };
}

// Router state INCLUDE (A = {1,2}); records carry B = {2,3}.
const includeRows: Row[] = [
  {
    name: "INCLUDE(A) IS_IN(B) -> INCLUDE(A+B); (B)=GMI",
    record: IS_IN,
    b: [2, 3],
    mode: "include",
    timers: { 1: "old", 2: "gmi", 3: "gmi" },
    groupTimer: null,
    queries: [],
    after: { mode: "include", sources: [1, 2, 3] },
  },
  {
    name: "INCLUDE(A) ALLOW(B) -> INCLUDE(A+B); (B)=GMI",
    record: ALLOW,
    b: [2, 3],
    mode: "include",
    timers: { 1: "old", 2: "gmi", 3: "gmi" },
    groupTimer: null,
    queries: [],
    after: { mode: "include", sources: [1, 2, 3] },
  },
  {
    name: "INCLUDE(A) TO_IN(B) -> INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)",
    record: TO_IN,
    b: [2, 3],
    mode: "include",
    timers: { 1: "lmqt", 2: "gmi", 3: "gmi" },
    groupTimer: null,
    queries: [[1]],
    nqTimers: { 1: "old", 2: "gmi", 3: "gmi" },
    after: { mode: "include", sources: [2, 3] },
  },
  {
    name: "INCLUDE(A) BLOCK(B) -> INCLUDE(A); Send Q(G,A*B)",
    record: BLOCK,
    b: [2, 3],
    mode: "include",
    timers: { 1: "old", 2: "lmqt" },
    groupTimer: null,
    queries: [[2]],
    nqTimers: { 1: "old", 2: "old" },
    after: { mode: "include", sources: [1] },
  },
  {
    name: "INCLUDE(A) IS_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); GT=GMI",
    record: IS_EX,
    b: [2, 3],
    mode: "exclude",
    timers: { 2: "old", 3: 0 },
    groupTimer: "gmi",
    queries: [],
    after: { mode: "exclude", sources: [3] },
  },
  {
    name: "INCLUDE(A) TO_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); Send Q(G,A*B); GT=GMI",
    record: TO_EX,
    b: [2, 3],
    mode: "exclude",
    timers: { 2: "lmqt", 3: 0 },
    groupTimer: "gmi",
    queries: [[2]],
    nqTimers: { 2: "old", 3: 0 },
    after: { mode: "exclude", sources: [2, 3] },
  },
];

// Router state EXCLUDE (X = {1,2}, Y = {3,4}); records carry A = {2,3,5}.
const excludeRows: Row[] = [
  {
    name: "EXCLUDE(X,Y) IS_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI",
    record: IS_IN,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 1: "old", 2: "gmi", 3: "gmi", 4: 0, 5: "gmi" },
    groupTimer: "old",
    queries: [],
    after: { mode: "exclude", sources: [4] },
  },
  {
    name: "EXCLUDE(X,Y) ALLOW(A) -> EXCLUDE(X+A,Y-A); (A)=GMI",
    record: ALLOW,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 1: "old", 2: "gmi", 3: "gmi", 4: 0, 5: "gmi" },
    groupTimer: "old",
    queries: [],
    after: { mode: "exclude", sources: [4] },
  },
  {
    name: "EXCLUDE(X,Y) TO_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)",
    record: TO_IN,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 1: "lmqt", 2: "gmi", 3: "gmi", 4: 0, 5: "gmi" },
    groupTimer: "lmqt",
    queries: [[1], "G"],
    nqTimers: { 1: "old", 2: "gmi", 3: "gmi", 4: 0, 5: "gmi" },
    nqGroupTimer: "old",
    after: { mode: "include", sources: [2, 3, 5] },
  },
  {
    name: "EXCLUDE(X,Y) BLOCK(A) -> EXCLUDE(X+(A-Y),Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)",
    record: BLOCK,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 1: "old", 2: "lmqt", 3: 0, 4: 0, 5: "lmqt" },
    groupTimer: "old",
    queries: [[2, 5]],
    nqTimers: { 1: "old", 2: "old", 3: 0, 4: 0, 5: "old" },
    after: { mode: "exclude", sources: [2, 3, 4, 5] },
  },
  {
    name: "EXCLUDE(X,Y) IS_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete(X-A); Delete(Y-A); GT=GMI",
    record: IS_EX,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 2: "old", 3: 0, 5: "gmi" },
    groupTimer: "gmi",
    queries: [],
    after: { mode: "exclude", sources: [3] },
  },
  {
    name: "EXCLUDE(X,Y) TO_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=Group Timer; Delete(X-A); Delete(Y-A); Send Q(G,A-Y); GT=GMI",
    record: TO_EX,
    b: [2, 3, 5],
    mode: "exclude",
    timers: { 2: "lmqt", 3: 0, 5: "lmqt" },
    groupTimer: "gmi",
    queries: [[2, 5]],
    nqTimers: { 2: "old", 3: 0, 5: "old" },
    after: { mode: "exclude", sources: [2, 3, 5] },
  },
];

function setup(a: Addrs, initial: "include" | "exclude", querier: boolean): Fixture {
  const f = new Fixture(a);
  if (!querier) f.query({ source: a.lowerRouter });
  if (initial === "include") {
    f.record(IS_IN, a.group, [a.s[1]!, a.s[2]!]);
  } else {
    f.record(IS_EX, a.group, [a.s[3]!, a.s[4]!]);
    f.record(IS_IN, a.group, [a.s[1]!, a.s[2]!]);
  }
  f.advance(100_000); // no general query is due between 31.25 s and 156.25 s
  f.takeQueries();
  assert.equal(f.router.isQuerier, querier);
  return f;
}

function expectTimers(a: Addrs, f: Fixture, expected: Record<number, T>): void {
  const want: Record<string, number> = {};
  for (const [i, t] of Object.entries(expected)) want[a.s[Number(i)]!] = ms(t);
  assert.deepEqual(f.timers(), want);
}

function queryKeys(a: Addrs, f: Fixture): string[] {
  return f
    .takeQueries()
    .map((q) => {
      assert.equal(q.group, a.group);
      assert.equal(q.destination, a.group);
      if (q.sources.length === 0) return `G${q.sFlag ? "+S" : ""}`;
      return (
        q.sources
          .map((s) => a.s.indexOf(s))
          .sort()
          .join(",") + (q.sFlag ? "+S" : "")
      );
    })
    .sort();
}

function expectForwardingMatches(f: Fixture): void {
  const g = f.group();
  const last = f.lastForwarding();
  assert.ok(last, "a forwarding effect was emitted");
  assert.ok(g, "group exists");
  assert.equal(last.filterMode, g.filterMode);
  const want = g.sources
    .filter((s) => (g.filterMode === "include" ? s.forwarded : !s.forwarded))
    .map((s) => s.source);
  assert.deepEqual([...last.sources].sort(), want.sort());
}

for (const a of FAMILIES) {
  describe(`action tables, ${a.family} (RFC ${a.family === "ipv4" ? "9776 §6.4" : "9777 §7.4"})`, () => {
    for (const [initial, rows] of [
      ["include", includeRows],
      ["exclude", excludeRows],
    ] as const) {
      for (const row of rows) {
        test(`querier: ${row.name}`, () => {
          const f = setup(a, initial, true);
          f.record(
            row.record,
            a.group,
            row.b.map((i) => a.s[i]!),
          );
          const g = f.group();
          assert.ok(g);
          assert.equal(g.filterMode, row.mode);
          expectTimers(a, f, row.timers);
          assert.equal(g.expiresMs, row.groupTimer === null ? null : ms(row.groupTimer));
          expectForwardingMatches(f);
          const expectedQueries = row.queries.map((q) => (q === "G" ? "G" : q.join(","))).sort();
          assert.deepEqual(queryKeys(a, f), expectedQueries, "queries sent at once");
          f.advance(LMQI);
          assert.deepEqual(queryKeys(a, f), expectedQueries, "one retransmission after LMQI (LMQC = 2)");
          f.advance(LMQT - LMQI + 1);
          assert.deepEqual(queryKeys(a, f), [], "no third transmission");
          const last = f.lastForwarding();
          assert.ok(last);
          assert.equal(last.filterMode, row.after.mode, "mode after LMQT");
          assert.deepEqual(
            [...last.sources].sort(),
            row.after.sources.map((i) => a.s[i]!).sort(),
            "forwarding after LMQT",
          );
          assert.equal(f.group()?.filterMode, row.after.mode);
        });

        test(`non-querier: ${row.name}`, () => {
          const f = setup(a, initial, false);
          f.record(
            row.record,
            a.group,
            row.b.map((i) => a.s[i]!),
          );
          const g = f.group();
          assert.ok(g);
          assert.equal(g.filterMode, row.mode);
          expectTimers(a, f, row.nqTimers ?? row.timers);
          const gt = row.nqGroupTimer !== undefined ? row.nqGroupTimer : row.groupTimer;
          assert.equal(g.expiresMs, gt === null ? null : ms(gt));
          assert.deepEqual(f.takeQueries(), [], "a non-querier sends no queries");
          expectForwardingMatches(f);
        });
      }
    }
  });
}
