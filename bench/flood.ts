/**
 * Floods against the real kernel (network namespaces; root): how the daemon holds up, and
 * whether a well-behaved host on the other downstream link still gets served (fairness).
 *
 *   npm run bench:flood -- [--scenario NAME[,NAME]] [--family ipv4|ipv6|both] [--groups N]
 *                          [--sources N] [--spoofed N] [--settle S] [--tries N] [--fast-leave on|off]
 *                          [--timeout S]   (longest wait for absorbed / drained, 120 s)
 *
 * Scenarios (h1 on dn1 floods; h2 on dn2 is the fair host; up is the upstream host):
 *  - groups:         h1 reports N (default 100,000) distinct groups, IGMPv3 / MLDv2 TO_EX {},
 *                    100 records per report, as fast as the raw socket takes them, twice;
 *                    then leaves them all (TO_IN {});
 *  - groups-spoofed: the same, the reports rotating over `--spoofed` (1,000) source
 *                    addresses (IPv4 10.11.4.0/22, which the bench adds to dn1 so they are
 *                    on-link; IPv6 link-local fe80::1:x);
 *  - sources:        N/10 (default 10,000) groups x `--sources` (64) sources, ALLOW(S)
 *                    records (5 per report IPv4, 1 per report IPv6, under the MTU); then
 *                    BLOCK(S);
 *  - data:           h1 (a downstream sender) sends one datagram to each of N distinct groups
 *                    (N distinct (S,G): NOCACHE upcalls, MFC entries);
 *  - data-up:        the same from the upstream host.
 * While a flood runs, h2 joins a stream already flowing from up (every 10 ms), `--tries`
 * (5) times (test/support/probe.ts; leave in between), and the join -> first packet times
 * are printed (p50 / max; a join without a packet in 3 s is "missed"). The same probe runs
 * once before the flood as the baseline.
 * Also printed: daemon RSS and CPU before / peak during / after a settle (`--settle`, 60 s
 * by default), open fds (/proc/PID/fd), MFC entries (ip_mr_cache / ip6_mr_cache) and
 * upstream memberships (/proc/net/igmp(6) on up0, link-local scope left out) before / peak /
 * after, the time until the flood is absorbed (all groups upstream) and drained (none) -- or,
 * when the upstream count stops moving for 10 s short of that (a limit), where it stuck -- the
 * daemon's drop / refusal / error counters (`improxy show stats --json`), whether it survived.
 *
 * Quick run (about a minute per family): --groups 10000 --settle 5
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startSender } from "../src/lab/hosts.js";
import { buildTopology, type Topology } from "../src/lab/topology.js";
import type { IpFamily } from "../src/wire/types.js";
import { waitForReportGroup } from "../test/support/burst.js";
import { CLI, type DaemonRun, startDaemon, writeConfig } from "../test/support/daemon.js";
import {
  addSpoofAddresses,
  type FloodOptions,
  RT,
  sendFlood,
  spoofAddresses,
} from "../test/support/flood.js";
import { percentile, type ProbeTry, runProbe } from "../test/support/probe.js";
import { sprayOnce } from "../test/support/spray.js";
import {
  cpuPctOver,
  dropCounters,
  exitOnSignals,
  k,
  loadAvg,
  mfcLines,
  mib,
  procSample,
  Sampler,
  showStats,
  upstreamGroups,
} from "./observe.js";

export const SCENARIOS = ["groups", "groups-spoofed", "sources", "data", "data-up"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface FloodArgs {
  scenarios: Scenario[];
  families: IpFamily[];
  groups: number;
  sources: number;
  spoofed: number;
  settleS: number;
  tries: number;
  fastLeave: boolean;
  /** Longest wait for the flood to be absorbed, and again for it to drain (s). */
  timeoutS: number;
}

/** The stream h2 joins while the flood runs (outside groupAt's numbering). */
const FAIR: Record<IpFamily, string> = { ipv4: "239.1.2.3", ipv6: "ff05::aaaa:1" };
const FAIR_PORT = 5001;
/** The upstream count has settled when it has not changed for this long. */
const PLATEAU_MS = 10_000;
const METRICS = "127.0.0.1:9464";
/** Stops what the current run started (for SIGINT / SIGTERM). */
const running = new Set<() => Promise<void>>();

interface Phase {
  rssKiB: number;
  cpuPct: number;
  fds: number;
  mfc: number;
  upstream: number;
}

/** How the upstream memberships followed the joins and then the leaves (n.a. for data floods: null). */
interface Absorption {
  what: string;
  sendMs: number;
  /** ms from the first join sent until all groups were upstream (done) or the count last changed. */
  absorbedMs: number | null;
  /** Upstream memberships then. */
  absorbedCount: number | null;
  absorbedDone: boolean;
  /** ms from the leave burst until none was upstream (done) or the count last changed. */
  drainedMs: number | null;
  drainedCount: number | null;
  drainedDone: boolean;
}

/**
 * Polls `count` until `done` holds or it has not changed for PLATEAU_MS (a limit reached, or
 * the daemon stuck) or `timeoutMs` passed; resolves with when it last changed (or was done)
 * and the count then.
 */
async function settleCount(
  count: () => Promise<number>,
  done: (n: number) => boolean,
  timeoutMs: number,
): Promise<{ at: number; count: number; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let changedAt = Date.now();
  for (;;) {
    const n = await count();
    const now = Date.now();
    if (done(n)) return { at: now, count: n, done: true };
    if (n !== last) {
      last = n;
      changedAt = now;
    }
    if (now - changedAt >= PLATEAU_MS || now > deadline) return { at: changedAt, count: n, done: false };
    await sleep(250);
  }
}

export interface FloodResult extends Absorption {
  scenario: Scenario;
  family: IpFamily;
  load: { start: string; end: string };
  baseline: ProbeTry[];
  during: ProbeTry[];
  /** Date.now() when the flood and the fair joins started. */
  floodStart: number;
  before: Phase;
  peak: Phase & { cpuS: number };
  after: Phase;
  settleS: number;
  /** null: the control socket did not answer (10 s). */
  drops: Record<string, number> | null;
  survived: boolean;
  exitCode: number | null;
}

function parse(argv: string[]): FloodArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: "string", default: SCENARIOS.join(",") },
      family: { type: "string", default: "both" },
      groups: { type: "string", default: "100000" },
      sources: { type: "string", default: "64" },
      spoofed: { type: "string", default: "1000" },
      settle: { type: "string", default: "60" },
      tries: { type: "string", default: "5" },
      "fast-leave": { type: "string", default: "on" },
      timeout: { type: "string", default: "120" },
    },
  });
  const scenarios = values.scenario.split(",").map((s) => s.trim()) as Scenario[];
  for (const s of scenarios)
    if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(", ")})`);
  const families: IpFamily[] = values.family === "both" ? ["ipv4", "ipv6"] : [values.family as IpFamily];
  for (const f of families) if (f !== "ipv4" && f !== "ipv6") throw new Error(`--family ipv4, ipv6 or both`);
  return {
    scenarios,
    families,
    groups: Number(values.groups),
    sources: Number(values.sources),
    spoofed: Number(values.spoofed),
    settleS: Number(values.settle),
    tries: Number(values.tries),
    fastLeave: values["fast-leave"] !== "off",
    timeoutS: Number(values.timeout),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(
  pred: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return Date.now();
    if (Date.now() > deadline) return null;
    await sleep(everyMs);
  }
}

async function kernelCounts(topo: Topology, family: IpFamily): Promise<{ mfc: number; upstream: number }> {
  const [m, u] = await Promise.all([mfcLines(topo.rtr, family), upstreamGroups(topo.rtr, family)]);
  return { mfc: m.length, upstream: u.length };
}

async function phase(topo: Topology, family: IpFamily, pid: number): Promise<Phase> {
  const cpuPct = await cpuPctOver(pid, 1000);
  const s = procSample(pid);
  const c = await kernelCounts(topo, family);
  return { rssKiB: s?.rssKiB ?? Number.NaN, fds: s?.fds ?? Number.NaN, cpuPct, ...c };
}

function config(socket: string, fastLeave: boolean): string {
  return [
    "upstream: up0",
    "downstream: [dn1, dn2]",
    `control-socket: ${socket}`,
    `metrics: "${METRICS}"`,
    `fast-leave: ${fastLeave}`,
    "query-max-response-time: 1",
    "",
  ].join("\n");
}

/** The flood itself; returns what it measured of absorption and draining. */
async function flood(
  topo: Topology,
  family: IpFamily,
  scenario: Scenario,
  a: FloodArgs,
): Promise<Absorption> {
  const upCount = async () => (await upstreamGroups(topo.rtr, family)).length;
  const timeout = a.timeoutS * 1000;
  if (scenario === "data" || scenario === "data-up") {
    const from = scenario === "data" ? topo.h1 : topo.up;
    const r = await sprayOnce(from, { family, count: a.groups, port: 5900 });
    return {
      what: `${k(a.groups)} distinct (S,G) from ${scenario === "data" ? "h1 (downstream)" : "up (upstream)"}, ${r.errors} send errors`,
      sendMs: r.elapsedMs,
      absorbedMs: null,
      absorbedCount: null,
      absorbedDone: false,
      drainedMs: null,
      drainedCount: null,
      drainedDone: false,
    };
  }
  let base: Omit<FloodOptions, "recordType">;
  let join: number;
  let leave: number;
  let what: string;
  let expect: number;
  if (scenario === "sources") {
    const groups = Math.max(1, Math.round(a.groups / 10));
    base = {
      family,
      count: groups,
      sourcesPerRecord: a.sources,
      recordsPerReport: family === "ipv4" ? 5 : 1,
    };
    join = RT.ALLOW;
    leave = RT.BLOCK;
    expect = groups;
    what = `${k(groups)} groups x ${a.sources} sources, ALLOW then BLOCK, ${base.recordsPerReport} record(s) per report, twice`;
  } else {
    const spoof = scenario === "groups-spoofed" ? spoofAddresses(family, a.spoofed) : undefined;
    base = { family, count: a.groups, recordsPerReport: 100, ...(spoof ? { spoof } : {}) };
    join = RT.TO_EX;
    leave = RT.TO_IN;
    expect = a.groups;
    what = `${k(a.groups)} groups, TO_EX {} then TO_IN {}, 100 records per report, twice${spoof ? `, from ${k(spoof.length)} spoofed sources` : ""}`;
  }
  const t0 = Date.now();
  const r1 = await sendFlood(topo.h1, { ...base, recordType: join });
  const r2 = await sendFlood(topo.h1, { ...base, recordType: join });
  const sendMs = r1.elapsedMs + r2.elapsedMs;
  const absorbed = await settleCount(upCount, (n) => n >= expect, timeout);
  const t1 = Date.now();
  await sendFlood(topo.h1, { ...base, recordType: leave });
  const drained = await settleCount(upCount, (n) => n === 0, timeout);
  return {
    what,
    sendMs,
    absorbedMs: absorbed.at - t0,
    absorbedCount: absorbed.count,
    absorbedDone: absorbed.done,
    drainedMs: drained.at - t1,
    drainedCount: drained.count,
    drainedDone: drained.done,
  };
}

async function runOne(
  topo: Topology,
  family: IpFamily,
  scenario: Scenario,
  a: FloodArgs,
): Promise<FloodResult> {
  const load0 = loadAvg();
  const socket = join(mkdtempSync(join(tmpdir(), "improxy-flood-")), "improxy.sock");
  const conf = writeConfig("flood.yaml", config(socket, a.fastLeave));
  const d: DaemonRun = startDaemon(topo.rtr, ["-c", conf, "-d", "2"], { asService: true });
  const stopAll = async () => {
    await sender.stop();
    await d.stop();
  };
  running.add(stopAll);
  const sender = startSender(topo.up, FAIR[family], {
    intervalMs: 10,
    port: FAIR_PORT,
    bind: topo.addr.up[family === "ipv4" ? "v4" : "v6"],
  });
  try {
    await waitForReportGroup(topo.rtr, family, "dn2", 15_000);
    const fairUp = await waitFor(async () => (await mfcLines(topo.rtr, family)).length > 0, 10_000);
    if (fairUp === null) process.stderr.write("warning: no MFC entry for the fair stream yet\n");
    await sleep(500);
    const pid = d.proc.pid!;
    const probe = (tries: number) =>
      runProbe(topo.h2, { group: FAIR[family], port: FAIR_PORT, tries, quietMs: a.fastLeave ? 150 : 400 });
    const baseline = await probe(a.tries);
    const before = await phase(topo, family, pid);

    // The flood, with the fair host's joins and a poll of the kernel's counts alongside.
    const sampler = new Sampler(pid);
    let peakMfc = before.mfc;
    let peakUp = before.upstream;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const c = await kernelCounts(topo, family).catch(() => null);
        if (c) {
          peakMfc = Math.max(peakMfc, c.mfc);
          peakUp = Math.max(peakUp, c.upstream);
        }
        await sleep(500);
      }
    })();
    const floodStart = Date.now();
    const [during, f] = await Promise.all([probe(a.tries), flood(topo, family, scenario, a)]);
    polling = false;
    await poller;
    const peakProc = sampler.stop();
    const peak = {
      rssKiB: peakProc.peakRssKiB,
      cpuPct: peakProc.peakCpuPct,
      fds: peakProc.peakFds,
      mfc: peakMfc,
      upstream: peakUp,
      cpuS: peakProc.cpuS,
    };

    await sleep(Math.max(0, a.settleS * 1000 - 1000));
    const alive = d.proc.exitCode === null && d.proc.signalCode === null;
    const after = alive
      ? await phase(topo, family, pid)
      : { rssKiB: Number.NaN, cpuPct: Number.NaN, fds: Number.NaN, ...(await kernelCounts(topo, family)) };
    const stats = await showStats(socket);
    const drops = stats === null ? null : dropCounters(stats);
    return {
      scenario,
      family,
      load: { start: load0, end: loadAvg() },
      ...f,
      baseline,
      during,
      floodStart,
      before,
      peak,
      after,
      settleS: a.settleS,
      drops,
      survived: alive,
      exitCode: d.proc.exitCode,
    };
  } finally {
    running.delete(stopAll);
    await sender.stop();
    const code = await d.stop();
    if (code !== 0 && code !== null)
      process.stderr.write(`daemon exited with ${code}:\n${d.stderr().slice(-2000)}\n`);
  }
}

function joinStats(tries: ProbeTry[]): string {
  const ms = tries.flatMap((t) => (t.joinMs === null ? [] : [t.joinMs]));
  const missed = tries.length - ms.length;
  if (ms.length === 0) return `all ${missed} missed`;
  return `p50 ${percentile(ms, 50).toFixed(1)} / max ${Math.max(...ms).toFixed(1)} ms${missed ? `, ${missed} missed` : ""} [${tries
    .map((t) => (t.joinMs === null ? "miss" : t.joinMs.toFixed(0)))
    .join(", ")}]`;
}

export function print(r: FloodResult): void {
  const ph = (p: Phase) =>
    `RSS ${mib(p.rssKiB).padStart(10)}  CPU ${`${p.cpuPct.toFixed(0)}%`.padStart(5)}  fds ${String(p.fds).padStart(4)}  MFC ${k(p.mfc).padStart(7)}  upstream ${k(p.upstream).padStart(7)}`;
  console.log(`\n--- ${r.scenario} ${r.family}: ${r.what}`);
  console.log(`  load (1/5/15 min)   start ${r.load.start}, end ${r.load.end}`);
  console.log(`  sent in             ${k(r.sendMs)} ms`);
  const settled = (t: number | null, n: number | null, done: boolean, goal: string) =>
    t === null
      ? "n/a"
      : done
        ? `${goal} after ${k(t)} ms`
        : `NOT ${goal}: stuck at ${k(n ?? 0)} upstream from ${k(t)} ms on`;
  console.log(
    `  joins              ${settled(r.absorbedMs, r.absorbedCount, r.absorbedDone, "all upstream")}`,
  );
  console.log(`  leaves             ${settled(r.drainedMs, r.drainedCount, r.drainedDone, "none upstream")}`);
  console.log(`  fair join, quiet    ${joinStats(r.baseline)}`);
  console.log(`  fair join, flood    ${joinStats(r.during)}`);
  console.log(
    `    joins at (ms after the flood's start) ${r.during.map((t) => k(t.joinedAt - r.floodStart)).join(", ")}`,
  );
  console.log(`  before              ${ph(r.before)}`);
  console.log(`  peak                ${ph(r.peak)}  (CPU time during the flood ${r.peak.cpuS.toFixed(1)} s)`);
  console.log(`  after ${`${r.settleS} s`.padEnd(13)} ${ph(r.after)}`);
  const drops = r.drops === null ? null : Object.entries(r.drops);
  console.log(
    `  drops/refusals      ${
      drops === null
        ? "n/a: the control socket did not answer within 10 s"
        : drops.length === 0
          ? "none counted"
          : drops.map(([p, v]) => `${p}=${k(v)}`).join(", ")
    }`,
  );
  console.log(`  survived            ${r.survived ? "yes" : `NO (exit ${r.exitCode})`}`);
}

export async function main(argv: string[] = []): Promise<FloodResult[]> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build)`);
  const a = parse(argv);
  const topo = await buildTopology();
  const results: FloodResult[] = [];
  const unhook = exitOnSignals(async () => {
    for (const stop of running) await stop();
    await topo.destroy();
  });
  try {
    if (a.scenarios.includes("groups-spoofed")) {
      // On-link addresses for the spoofed IPv4 senders: the router gets 10.11.4.1/22 on dn1.
      await topo.rtr.addAddress("dn1", "10.11.4.1/22");
      for (const f of a.families) await addSpoofAddresses(topo.h1, f, spoofAddresses(f, a.spoofed));
    }
    console.log(
      `flood bench: groups ${k(a.groups)}, settle ${a.settleS} s, fair-join tries ${a.tries}, fast leave ${a.fastLeave ? "on" : "off"}; load ${loadAvg()}`,
    );
    for (const family of a.families) {
      for (const scenario of a.scenarios) {
        const r = await runOne(topo, family, scenario, a);
        print(r);
        results.push(r);
      }
    }
  } finally {
    unhook();
    await topo.destroy();
  }
  return results;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
