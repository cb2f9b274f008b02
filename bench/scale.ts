/**
 * Scale of the proxy against the real kernel (network namespaces; root), with the kernel's
 * default sysctls. For IPv4 (IGMPv3) and IPv6 (MLDv2):
 *  - time to join N = 1,000 / 10,000 groups upstream: crafted reports of 100 records from
 *    h1 (test/support/burst.ts); measured from the last report sent to the poll of
 *    /proc/net/igmp(6) on the router that shows all N on up0 (poll resolution ~30 ms);
 *  - daemon RSS (VmRSS) before the reports and with 10,000 groups;
 *  - burst absorption: 10,000 one-group reports back to back; reports/s from the first
 *    report sent to all groups joined upstream; drops at the daemon's raw socket;
 *  - queued throughput: the same burst sent while the daemon is stopped (SIGSTOP), then
 *    resumed: reports/s of pure processing (parse, router, merge, upstream join syscalls).
 *
 * Run: `npm run bench` or `node --import tsx bench/scale.ts`. Needs a build (dist/).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { buildTopology, type Topology } from "../src/lab/topology.js";
import type { IpFamily } from "../src/wire/types.js";
import {
  countTestGroups,
  rawSockets,
  sendReports,
  waitForReportGroup,
  waitForTestGroups,
} from "../test/support/burst.js";
import {
  CLI,
  type DaemonRun,
  SCALE_CONFIG,
  startDaemon,
  testControlSocket,
  writeConfig,
} from "../test/support/daemon.js";

const RAW: Record<IpFamily, string> = { ipv4: "/proc/net/raw", ipv6: "/proc/net/raw6" };
const PROTOCOL: Record<IpFamily, number> = { ipv4: 2, ipv6: 58 };
const BURST = 10_000;

export interface JoinResult {
  family: IpFamily;
  groups: number;
  /** ms from the last report sent to all groups seen joined upstream. */
  afterLastMs: number;
  /** ms from the first report sent to all groups joined. */
  totalMs: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
}

export interface BurstResult {
  family: IpFamily;
  reports: number;
  sendMs: number;
  /** ms from the first report sent to all groups joined upstream. */
  totalMs: number;
  reportsPerSecond: number;
  drops: number;
  /** Peak-free measure: processing of a queued burst after SIGCONT. */
  queuedMs: number;
  queuedReportsPerSecond: number;
  queuedDrops: number;
}

export interface ScaleResults {
  joins: JoinResult[];
  bursts: BurstResult[];
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

async function drops(topo: Topology, family: IpFamily): Promise<number> {
  const lines = rawSockets(await topo.rtr.readProc(RAW[family])).filter(
    (l) => l.protocol === PROTOCOL[family],
  );
  return lines.reduce((a, l) => a + l.drops, 0);
}

async function withProxy<T>(topo: Topology, family: IpFamily, fn: (d: DaemonRun) => Promise<T>): Promise<T> {
  // Its own control socket: never the default path another daemon on the host may hold.
  const socket = testControlSocket();
  const config = writeConfig("scale.yaml", `${SCALE_CONFIG}control-socket: ${socket}\n`);
  const d = startDaemon(topo.rtr, ["-c", config, "-d", "2"], { asService: true });
  try {
    await waitForReportGroup(topo.rtr, family, "dn1", 10_000);
    // Let the start settle (startup queries, the family's other links) before measuring.
    await new Promise((r) => setTimeout(r, 300));
    return await fn(d);
  } finally {
    const code = await d.stop();
    if (code !== 0) process.stderr.write(`daemon exited with ${code}:\n${d.stderr().slice(-2000)}\n`);
    rmSync(dirname(config), { recursive: true, force: true });
    rmSync(dirname(socket), { recursive: true, force: true });
  }
}

async function joinGroups(topo: Topology, family: IpFamily, groups: number): Promise<JoinResult> {
  return withProxy(topo, family, async (d) => {
    const pid = d.proc.pid!;
    const rssBeforeKiB = rssKiB(pid);
    const sent = await sendReports(topo.h1, { family, count: groups, recordsPerReport: 100 });
    const doneAt = await waitForTestGroups(topo.rtr, family, "up0", groups, 60_000);
    // RSS once the groups are in (after a moment for lazy work to finish).
    await new Promise((r) => setTimeout(r, 200));
    return {
      family,
      groups,
      afterLastMs: doneAt - sent.lastSentAt,
      totalMs: doneAt - (sent.lastSentAt - sent.elapsedMs),
      rssBeforeKiB,
      rssAfterKiB: rssKiB(pid),
    };
  });
}

async function burst(topo: Topology, family: IpFamily): Promise<BurstResult> {
  const live = await withProxy(topo, family, async () => {
    const sent = await sendReports(topo.h1, { family, count: BURST, recordsPerReport: 1 });
    const doneAt = await waitForTestGroups(topo.rtr, family, "up0", BURST, 60_000);
    return { sent, doneAt, drops: await drops(topo, family) };
  });
  const queued = await withProxy(topo, family, async (d) => {
    d.proc.kill("SIGSTOP");
    try {
      await sendReports(topo.h1, { family, count: BURST, recordsPerReport: 1 });
    } finally {
      d.proc.kill("SIGCONT");
    }
    const resumedAt = Date.now();
    const doneAt = await waitForTestGroups(topo.rtr, family, "up0", BURST, 60_000);
    return { ms: doneAt - resumedAt, drops: await drops(topo, family) };
  });
  const totalMs = live.doneAt - (live.sent.lastSentAt - live.sent.elapsedMs);
  return {
    family,
    reports: BURST,
    sendMs: live.sent.elapsedMs,
    totalMs,
    reportsPerSecond: BURST / (totalMs / 1000),
    drops: live.drops,
    queuedMs: queued.ms,
    queuedReportsPerSecond: BURST / (queued.ms / 1000),
    queuedDrops: queued.drops,
  };
}

function print(r: ScaleResults): void {
  const k = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log("time to join N groups upstream (reports of 100 records; poll resolution ~30 ms)");
  console.log("family  groups   after last report  from first report  daemon RSS before -> after");
  for (const j of r.joins) {
    console.log(
      `${j.family.padEnd(8)}${k(j.groups).padStart(6)}   ${`${k(j.afterLastMs)} ms`.padStart(17)}  ${`${k(
        j.totalMs,
      )} ms`.padStart(
        17,
      )}  ${(j.rssBeforeKiB / 1024).toFixed(1)} MiB -> ${(j.rssAfterKiB / 1024).toFixed(1)} MiB`,
    );
  }
  console.log(`\nburst of ${k(BURST)} one-group reports, back to back`);
  console.log(
    "family  sent in   all joined after   reports/s   drops | queued (daemon stopped): processed in   reports/s   drops",
  );
  for (const b of r.bursts) {
    console.log(
      `${b.family.padEnd(8)}${`${k(b.sendMs)} ms`.padStart(7)}   ${`${k(b.totalMs)} ms`.padStart(16)}   ${k(
        b.reportsPerSecond,
      ).padStart(9)}   ${String(b.drops).padStart(5)} | ${`${k(b.queuedMs)} ms`.padStart(36)}   ${k(
        b.queuedReportsPerSecond,
      ).padStart(9)}   ${String(b.queuedDrops).padStart(5)}`,
    );
  }
}

/** Runs the benchmark and prints the numbers. */
export async function main(): Promise<ScaleResults> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build)`);
  const topo = await buildTopology();
  const results: ScaleResults = { joins: [], bursts: [] };
  try {
    for (const family of ["ipv4", "ipv6"] as const) {
      for (const n of [1_000, 10_000]) results.joins.push(await joinGroups(topo, family, n));
      results.bursts.push(await burst(topo, family));
      if ((await countTestGroups(topo.rtr, family, "up0")) !== 0) throw new Error("groups left upstream");
    }
  } finally {
    await topo.destroy();
  }
  print(results);
  return results;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
