/**
 * The upstream host side (src/daemon/upstream.ts): warnings and refusals reach the log;
 * changes are rate-limited, coalesced and joins go first; the group limit; descriptors.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualScheduler } from "../../src/clock/index.js";
import { LIMIT_LOG_MS, UpstreamHost, type UpstreamLimits } from "../../src/daemon/upstream.js";
import type { SourceFilterSocketsOptions } from "../../src/kernel/source-filters.js";
import { MCAST_MSFILTER } from "../../src/kernel/structs/membership.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls } from "./fake-syscalls.js";
import { captureLogger } from "./log-capture.js";

/** Syscalls that accept every membership call; `failNext` makes the next setsockopt fail. */
function kernel() {
  let fd = 10;
  const k = {
    failNext: null as string | null,
    filters: 0,
    socket: () => fd++,
    close: () => {},
    setsockopt: (_fd: number, _level: number, name: number) => {
      if (k.failNext !== null) {
        const code = k.failNext;
        k.failNext = null;
        throw Object.assign(new Error(`setsockopt: ${code}`), { code, errno: 105, syscall: "setsockopt" });
      }
      if (name === MCAST_MSFILTER) k.filters++;
    },
    getsockopt: () => 0,
  };
  return k;
}

const G = "239.1.1.1";
const exc = (...sources: string[]) => ({ filterMode: "exclude" as const, sources });
const inc = (...sources: string[]) => ({ filterMode: "include" as const, sources });
const v4group = (i: number) => `239.2.${i >> 8}.${i & 255}`;
const v6group = (i: number) => `ff05::2:${i.toString(16)}`;

function host(family: IpFamily, sockets: SourceFilterSocketsOptions, limits: Partial<UpstreamLimits> = {}) {
  const { log, lines } = captureLogger();
  const scheduler = new VirtualScheduler();
  const lim: UpstreamLimits = { maxGroups: 1_000_000, changesPerSecond: 1_000_000, ...limits };
  let limited = 0;
  const up = new UpstreamHost({
    family,
    log,
    scheduler,
    limits: () => lim,
    onLimit: () => limited++,
    sockets,
  });
  return { up, lines, scheduler, lim, limited: () => limited };
}

describe("UpstreamHost", () => {
  it("an EXCLUDE list beyond the kernel's source limit is warned once per group, again after it cleared, at most once a minute", () => {
    const sys = kernel();
    const { up, lines, scheduler } = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 2 });
    up.attach(5);
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"));
    const warnings = () => lines.filter((l) => l.level === 40);
    assert.equal(warnings().length, 1);
    assert.equal(warnings()[0]!.limit, "net.ipv4.igmp_max_msf");
    assert.equal(warnings()[0]!.requested, 3);
    assert.equal(warnings()[0]!.applied, 2);
    assert.match(warnings()[0]!.msg, /only the first 2 are excluded/);
    up.setFilter(G, exc("10.0.0.1"));
    up.setFilter(G, exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    up.setFilter("239.1.1.2", exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    assert.equal(warnings().length, 1, "hosts choose the groups: one line per interval");
    scheduler.advance(LIMIT_LOG_MS);
    up.setFilter("239.1.1.3", exc("10.0.0.1", "10.0.0.2", "10.0.0.3"));
    assert.equal(warnings().length, 2);
    assert.equal(warnings()[1]!.group, "239.1.1.3");
    assert.equal(warnings()[1]!.otherGroupsSinceLastLine, 2, "the two approximations not logged are counted");
    assert.equal(up.errors, 0);
  });

  it("a kernel refusal is logged at error and counted; nothing is thrown", () => {
    const sys = kernel();
    const { up, lines } = host("ipv6", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 64 });
    up.attach(5);
    sys.failNext = "ENOBUFS";
    up.setFilter("ff05::1", exc());
    assert.equal(up.errors, 1);
    const err = lines.find((l) => l.level === 50);
    assert.equal(err?.msg, "cannot apply the upstream membership");
    assert.match(String(err?.err), /ENOBUFS/);
  });

  it("without an upstream interface nothing is applied", () => {
    const sys = kernel();
    const { up } = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 });
    up.setFilter(G, exc());
    assert.equal(up.changes, 0);
  });

  it("changes reach the kernel at upstream-changes-per-second, in batches on the scheduler", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 }, { changesPerSecond: 1000 });
    t.up.attach(5);
    for (let i = 0; i < 100; i++) t.up.setFilter(v4group(i), exc());
    const joins = () => sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").length;
    assert.equal(joins(), 10, "one batch (10 ms at 1000/s) at once");
    assert.deepEqual(t.up.stats().queued, 90);
    t.scheduler.advance(50);
    assert.equal(joins(), 60);
    t.scheduler.advance(40);
    assert.equal(joins(), 100);
    assert.equal(t.scheduler.nextDeadline(), null, "no timer once drained");
  });

  it("first joins are taken round-robin per origin link: a flood from dn1 delays dn2's join by one join", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 }, { changesPerSecond: 1000 });
    t.up.attach(5);
    for (let i = 0; i < 1000; i++) t.up.setFilter(v4group(i), exc(), "dn1");
    const fair = "239.9.9.9";
    t.up.setFilter(fair, exc(), "dn2");
    // struct group_req: the IPv4 group is at offset 12 (after gr_interface and padding,
    // sin_family and sin_port).
    const joined = () =>
      sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").map((c) => [...c.bytes!.subarray(12, 16)].join("."));
    assert.equal(joined().length, 10, "the first batch (at the first report) went to dn1's flood");
    t.scheduler.advance(10);
    assert.equal(joined().indexOf(fair), 11, "dn2's join came second in the next batch, not after 1,000");
    t.scheduler.advance(2000);
    assert.equal(t.up.stats().held, 1001);
    assert.equal(new Set(joined()).size, 1001);
  });

  it("a group that changes while queued is applied once, with its latest filter", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 }, { changesPerSecond: 1000 });
    t.up.attach(5);
    for (let i = 0; i < 10; i++) t.up.setFilter(v4group(i), exc()); // the bucket is empty now
    for (let n = 1; n <= 5; n++) t.up.setFilter(G, inc(`10.0.0.${n}`));
    t.scheduler.advance(10);
    assert.equal(t.up.changes, 11);
    const forG = sys.callsOf("setsockopt", "MCAST_JOIN_SOURCE_GROUP");
    assert.equal(forG.length, 1);
    assert.equal(forG[0]!.bytes!.subarray(136 + 4, 136 + 8).join("."), "10.0.0.5");
  });

  it("first joins go before changes of groups already joined", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 }, { changesPerSecond: 100 });
    t.up.attach(5);
    t.up.setFilter(G, exc()); // joined at once; the bucket (1) is empty
    t.up.setFilter(G, exc("10.0.0.9")); // a change of a joined group: queued
    t.up.setFilter("239.9.9.9", exc()); // a new join, queued after it
    t.scheduler.advance(10);
    const order = sys
      .callsOf("setsockopt")
      .filter((c) => c.option === "MCAST_JOIN_GROUP" || c.option === "MCAST_MSFILTER")
      .map((c) => c.option);
    assert.deepEqual(order, ["MCAST_JOIN_GROUP", "MCAST_JOIN_GROUP"], "the new join first");
    t.scheduler.advance(10);
    assert.equal(sys.callsOf("setsockopt", "MCAST_MSFILTER").length, 1, "then the change");
  });

  it("beyond max-upstream-groups joins wait (counted, logged once) and go in as soon as room frees up", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 }, { maxGroups: 5 });
    t.up.attach(5);
    for (let i = 0; i < 8; i++) t.up.setFilter(v4group(i), exc());
    assert.deepEqual(t.up.stats(), { held: 5, queued: 0, waiting: 3, sockets: 1 });
    assert.equal(t.limited(), 3);
    const warn = t.lines.filter((l) => l.level === 40);
    assert.equal(warn.length, 1);
    assert.match(warn[0]!.msg, /max-upstream-groups/);
    for (let i = 8; i < 12; i++) t.up.setFilter(v4group(i), exc());
    assert.equal(t.lines.filter((l) => l.level === 40).length, 1, "one line per interval, not per group");
    // Two leave: the two oldest waiting groups take their place.
    t.up.setFilter(v4group(0), inc());
    t.up.setFilter(v4group(1), inc());
    t.scheduler.advance(0);
    const joined = sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").map((c) => c.bytes!.subarray(8 + 4, 8 + 8).join("."));
    assert.deepEqual(joined.slice(5), [v4group(5), v4group(6)]);
    // A waiting group that is no longer wanted is dropped from the queue.
    t.up.setFilter(v4group(7), inc());
    assert.equal(t.up.stats().waiting, 4);
    t.lim.maxGroups = 100;
    t.up.kick();
    assert.deepEqual(t.up.stats(), { held: 9, queued: 0, waiting: 0, sockets: 1 });
  });

  it("1,000 groups joined then left: membership sockets are closed, open fds back to the baseline", () => {
    const sys = new FakeSyscalls();
    const t = host("ipv4", { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 });
    const baseline = sys.openFds().length;
    t.up.attach(5);
    for (let i = 0; i < 1000; i++) t.up.setFilter(v4group(i), exc());
    t.scheduler.runUntilIdle();
    assert.equal(sys.openFds().length, baseline + 50);
    for (let i = 0; i < 1000; i++) t.up.setFilter(v4group(i), inc());
    t.scheduler.runUntilIdle();
    assert.equal(t.up.stats().held, 0);
    assert.equal(sys.openFds().length, baseline);
    // And again: sockets are reused, not leaked.
    for (let i = 0; i < 1000; i++) t.up.setFilter(v4group(i), exc());
    for (let i = 0; i < 500; i++) t.up.setFilter(v4group(i), inc());
    t.scheduler.runUntilIdle();
    assert.ok(sys.openFds().length <= baseline + 26, `${sys.openFds().length} fds for 500 groups`);
    t.up.close();
    assert.equal(sys.openFds().length, baseline);
  });

  it("65,536 MLD joins at the default rate: drained in batches of at most 10 ms of the rate", (t) => {
    const sys = kernel(); // no call recording: the figures are the daemon's work
    const h = host("ipv6", { syscalls: sys, maxGroupsPerSocket: 64, maxSourcesPerFilter: 64 }, { changesPerSecond: 5000, maxGroups: 65536 });
    h.up.attach(5);
    const wall = performance.now();
    let longestSetFilter = 0;
    for (let i = 0; i < 65536; i++) {
      const t0 = performance.now();
      h.up.setFilter(v6group(i), exc());
      longestSetFilter = Math.max(longestSetFilter, performance.now() - t0);
    }
    const start = h.scheduler.now();
    let last = start;
    let largest = 0;
    while (h.up.stats().queued > 0) {
      const before = h.up.changes;
      h.scheduler.advance(10);
      largest = Math.max(largest, h.up.changes - before);
      last = h.scheduler.now();
    }
    const ms = performance.now() - wall;
    t.diagnostic(
      `65,536 joins: ${(last - start) / 1000} s of scheduler time at 5000/s, ${ms.toFixed(0)} ms of CPU over stub syscalls; ` +
        `longest batch ${h.up.longestBatchMs.toFixed(2)} ms (${largest} changes), longest setFilter ${longestSetFilter.toFixed(2)} ms`,
    );
    assert.equal(h.up.stats().held, 65536);
    assert.equal(h.up.stats().sockets, 1024);
    assert.ok(last - start <= 13_200, "rate-bound: 65,536 / 5000 per second");
    assert.ok(largest <= 50, `at most 50 changes per batch, got ${largest}`);
  });
});
