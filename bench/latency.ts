/**
 * Join and leave latency of the proxy against the real kernel (network namespaces; root).
 *
 * For IPv4 and IPv6, with fast leave on and off (off: the RFC timing with the defaults,
 * Last Member Query Interval 1 s and robustness 2, so forwarding should stop about 2 s after
 * the leave), a probe on a downstream host (test/support/probe.ts) joins a group whose stream
 * already flows from upstream every 10 ms, and measures on its own clock:
 *  - join -> first packet: addMembership returns -> first datagram received;
 *  - leave -> last packet: dropMembership returns -> last datagram of the stream seen on the
 *    link (an AF_PACKET socket watches it).
 * Also shown: the host kernel's own delay before its report leaves the link, which is part
 * of every join time and not the proxy's doing.
 *
 * Static groups (`static-groups`, RFC 8652 `static-group`): the same probe joins a group
 * the proxy already forwards onto the link with no host asking (IPTV channels kept on the
 * LAN). Join -> first packet is then only the wait for the stream's next packet: no
 * report, no upstream join, no forwarding change. Leave times are not measured (the stream
 * stays on the link).
 *
 * Run: `npm run bench` (all benchmarks) or `node --import tsx bench/latency.ts [tries]
 * [static]` (`static`: the static-group rows only). Needs a build (dist/) for the daemon.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startSender } from "../src/lab/hosts.js";
import { buildTopology, type Topology } from "../src/lab/topology.js";
import { CLI, startDaemon, writeConfig } from "../test/support/daemon.js";
import { percentile, type ProbeTry, runProbe } from "../test/support/probe.js";

const INTERVAL_MS = 10;
const DEFAULT_TRIES = 50;

export interface LatencyRow {
  family: "ipv4" | "ipv6";
  /** fast-leave on / off (reports drive forwarding), or a static group (forwarded all along). */
  mode: "fast-leave" | "rfc-timing" | "static";
  tries: number;
  /** Joins that got no packet within 3 s. */
  missed: number;
  join: Stats;
  leave: Stats;
  /** Host kernel's delay before its join report left the link (part of every join time). */
  hostReportDelay: Stats;
  /** Host kernel's delay before its leave report left the link (part of every leave time). */
  hostLeaveReportDelay: Stats;
}

export interface Stats {
  p50: number;
  p95: number;
  max: number;
}

function stats(values: number[]): Stats {
  if (values.length === 0) return { p50: Number.NaN, p95: Number.NaN, max: Number.NaN };
  return { p50: percentile(values, 50), p95: percentile(values, 95), max: Math.max(...values) };
}

function config(fastLeave: boolean): string {
  // Defaults: robustness 2, last member query interval 1 s (docs/improxy-compat.md).
  return (
    "igmp enable version 3\nmld enable\nupstream up0\ndownstream dn1\ndownstream dn2\n" +
    `quickleave ${fastLeave ? "enable" : "disable"}\n`
  );
}

async function waitForEntry(topo: Topology, v6: boolean, source: string, group: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { stdout } = await topo.rtr.ip(...(v6 ? ["-6"] : []), "mroute", "show");
    if (stdout.includes(`(${source},${group})`) || stdout.includes(`(${source}, ${group})`)) return;
    if (Date.now() > deadline) throw new Error(`no forwarding entry for (${source},${group})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function row(family: "ipv4" | "ipv6", mode: LatencyRow["mode"], tries: ProbeTry[]): LatencyRow {
  const joined = tries.filter((t) => t.joinMs !== null);
  return {
    family,
    mode,
    tries: tries.length,
    missed: tries.length - joined.length,
    join: stats(joined.map((t) => t.joinMs!)),
    leave: stats(tries.map((t) => t.leaveMs)),
    hostReportDelay: stats(tries.flatMap((t) => (t.reportMs === null ? [] : [t.reportMs]))),
    hostLeaveReportDelay: stats(tries.flatMap((t) => (t.leaveReportMs === null ? [] : [t.leaveReportMs]))),
  };
}

/** One daemon run (fast leave on or off): IPv4 on h1 and IPv6 on h2, measured in parallel. */
async function measure(topo: Topology, fastLeave: boolean, tries: number): Promise<LatencyRow[]> {
  const d = startDaemon(topo.rtr, ["-c", writeConfig("latency.conf", config(fastLeave)), "-d", "2"], { asService: true });
  const s4 = startSender(topo.up, "239.1.2.3", { intervalMs: INTERVAL_MS, port: 5001 });
  const s6 = startSender(topo.up, "ff05::1:2", { intervalMs: INTERVAL_MS, port: 5002 });
  try {
    // The startup query makes the proxy the querier at once; the first packet's NOCACHE
    // upcall installs each (S,G) with no outgoing link.
    await waitForEntry(topo, false, topo.addr.up.v4, "239.1.2.3");
    await waitForEntry(topo, true, topo.addr.up.v6, "ff05::1:2");
    // Fast leave off: forwarding stops ~2 s after the leave; wait until quiet for 400 ms.
    const quietMs = fastLeave ? 150 : 400;
    const [r4, r6] = await Promise.all([
      runProbe(topo.h1, { group: "239.1.2.3", port: 5001, tries, quietMs }),
      runProbe(topo.h2, { group: "ff05::1:2", port: 5002, tries, quietMs }),
    ]);
    const mode = fastLeave ? "fast-leave" : "rfc-timing";
    return [row("ipv4", mode, r4), row("ipv6", mode, r6)];
  } finally {
    await s4.stop();
    await s6.stop();
    const code = await d.stop();
    if (code !== 0) process.stderr.write(`daemon exited with ${code}:\n${d.stderr().slice(-2000)}\n`);
  }
}

/** The groups measured, each a static group of the link its probe joins on. */
const STATIC_CONFIG = [
  "upstream: up0",
  "downstream:",
  "  - name: dn1",
  "    static-groups: [239.1.2.3]",
  "  - name: dn2",
  "    static-groups: ['ff05::1:2']",
  "",
].join("\n");

/** Static groups: IPv4 on h1, IPv6 on h2, already forwarded onto their links. */
async function measureStatic(topo: Topology, tries: number): Promise<LatencyRow[]> {
  const d = startDaemon(topo.rtr, ["-c", writeConfig("latency-static.yaml", STATIC_CONFIG), "-d", "2"], {
    asService: true,
  });
  const s4 = startSender(topo.up, "239.1.2.3", { intervalMs: INTERVAL_MS, port: 5001 });
  const s6 = startSender(topo.up, "ff05::1:2", { intervalMs: INTERVAL_MS, port: 5002 });
  try {
    await waitForEntry(topo, false, topo.addr.up.v4, "239.1.2.3");
    await waitForEntry(topo, true, topo.addr.up.v6, "ff05::1:2");
    const [r4, r6] = await Promise.all([
      runProbe(topo.h1, { group: "239.1.2.3", port: 5001, tries, quietMs: 100, flowing: true }),
      runProbe(topo.h2, { group: "ff05::1:2", port: 5002, tries, quietMs: 100, flowing: true }),
    ]);
    return [row("ipv4", "static", r4), row("ipv6", "static", r6)];
  } finally {
    await s4.stop();
    await s6.stop();
    const code = await d.stop();
    if (code !== 0) process.stderr.write(`daemon exited with ${code}:\n${d.stderr().slice(-2000)}\n`);
  }
}

function print(rows: LatencyRow[]): void {
  const W = 26;
  const f = (s: Stats) => `${s.p50.toFixed(1)} / ${s.p95.toFixed(1)} / ${s.max.toFixed(1)}`.padEnd(W);
  const na = "- (stays on the link)".padEnd(W);
  console.log(`stream every ${INTERVAL_MS} ms; times in ms as p50 / p95 / max`);
  console.log(
    "family mode        tries " +
      [
        "join -> first packet",
        "(host join report delay)",
        "leave -> last packet",
        "(host leave report delay)",
      ]
        .map((h) => h.padEnd(W))
        .join("") +
      "missed",
  );
  for (const r of rows) {
    console.log(
      `${r.family.padEnd(7)}${r.mode.padEnd(12)}${String(r.tries).padEnd(6)}` +
        f(r.join) +
        f(r.hostReportDelay) +
        (r.mode === "static" ? na + na : f(r.leave) + f(r.hostLeaveReportDelay)) +
        String(r.missed),
    );
  }
}

/**
 * Runs the benchmark (>= 50 tries per row by default) and prints the table; `staticOnly`:
 * the static-group rows alone.
 */
export async function main(tries = DEFAULT_TRIES, staticOnly = false): Promise<LatencyRow[]> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build)`);
  const topo = await buildTopology();
  const rows: LatencyRow[] = [];
  try {
    if (!staticOnly) for (const fastLeave of [true, false]) rows.push(...(await measure(topo, fastLeave, tries)));
    rows.push(...(await measureStatic(topo, tries)));
  } finally {
    await topo.destroy();
  }
  print(rows);
  return rows;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv[2] ? Number(process.argv[2]) : DEFAULT_TRIES, process.argv[3] === "static");
}
