/**
 * Start-up time and idle footprint of the daemon against the real kernel (network
 * namespaces; root), run as the service unit runs it (its NODE_OPTIONS, the heap policy),
 * with the YAML config of bench/scale.ts. For each of N runs:
 *  - start to first query: from the spawn of the daemon (`ip netns exec` included, a few ms)
 *    to the first IGMP General Query (and the first MLD Query) seen on the wire by dumpcap on
 *    the host side of dn1 (the capture's kernel timestamps; the namespaces share one clock);
 *  - idle RSS (VmRSS) 2 s after the start, split into anonymous memory and the pages of
 *    files (mostly the node binary) the process has touched.
 * Prints the median and the range of each.
 *
 * Run: `node --import tsx bench/startup.ts [RUNS]` (part of `npm run bench`). Needs a build
 * (dist/) and dumpcap + tshark (Debian tshark).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../src/lab/netns.js";
import { buildTopology, type Topology } from "../src/lab/topology.js";
import type { IpFamily } from "../src/wire/types.js";
import { startCapture, tsharkFields } from "../test/support/capture.js";
import { CLI, SCALE_CONFIG, startDaemon, testControlSocket, writeConfig } from "../test/support/daemon.js";

const IDLE_AFTER_MS = 2000;

/** The display filter of a General Query of each family (IGMP type 0x11, MLD type 130). */
const QUERY: Record<IpFamily, string> = { ipv4: "igmp.type == 0x11", ipv6: "icmpv6.type == 130" };

export interface StartupRun {
  /** ms from the spawn to the first query on dn1, per family. */
  firstQueryMs: Record<IpFamily, number>;
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

export interface StartupResults {
  runs: StartupRun[];
  median: StartupRun;
}

function status(pid: number): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS"), anon: kib("RssAnon"), file: kib("RssFile") };
}

async function once(topo: Topology, config: string): Promise<StartupRun> {
  const cap = await startCapture(topo.h1, "eth0", "igmp or ip6");
  let t0 = 0;
  let mem = { rss: 0, anon: 0, file: 0 };
  try {
    t0 = Date.now();
    const d = startDaemon(topo.rtr, ["-c", config, "-d", "2"], { asService: true });
    try {
      await new Promise((r) => setTimeout(r, IDLE_AFTER_MS));
      if (d.proc.exitCode !== null) throw new Error(`daemon exited: ${d.stderr().slice(-2000)}`);
      mem = status(d.proc.pid!);
    } finally {
      const code = await d.stop();
      if (code !== 0) process.stderr.write(`daemon exited with ${code}:\n${d.stderr().slice(-2000)}\n`);
    }
  } finally {
    await cap.stop();
  }
  try {
    const first = async (family: IpFamily) => {
      const rows = await tsharkFields(cap.file, QUERY[family], ["frame.time_epoch"]);
      const at = rows.length ? Number(rows[0]![0]) * 1000 : Number.NaN;
      return at - t0;
    };
    return {
      firstQueryMs: { ipv4: await first("ipv4"), ipv6: await first("ipv6") },
      rssKiB: mem.rss,
      anonKiB: mem.anon,
      fileKiB: mem.file,
    };
  } finally {
    rmSync(dirname(cap.file), { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function print(r: StartupResults): void {
  const mib = (k: number) => `${(k / 1024).toFixed(1)} MiB`;
  const ms = (x: number) => `${Math.round(x)} ms`;
  const range = (f: (x: StartupRun) => number, fmt: (x: number) => string) => {
    const xs = r.runs.map(f);
    return `${fmt(median(xs)).padStart(10)}  (${fmt(Math.min(...xs))} .. ${fmt(Math.max(...xs))})`;
  };
  console.log(
    `start-up and idle footprint, ${r.runs.length} runs (median, range); the service unit's NODE_OPTIONS`,
  );
  console.log(`start to first IGMP query on dn1  ${range((x) => x.firstQueryMs.ipv4, ms)}`);
  console.log(`start to first MLD query on dn1   ${range((x) => x.firstQueryMs.ipv6, ms)}`);
  console.log(`idle RSS after ${IDLE_AFTER_MS / 1000} s              ${range((x) => x.rssKiB, mib)}`);
  console.log(`  anonymous                       ${range((x) => x.anonKiB, mib)}`);
  console.log(`  file pages (node binary, ...)   ${range((x) => x.fileKiB, mib)}`);
}

/** Runs the benchmark and prints the numbers. */
export async function main(runs = 5): Promise<StartupResults> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build)`);
  for (const tool of ["dumpcap", "tshark"]) {
    const found = await run("sh", ["-c", `command -v ${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) throw new Error(`${tool} not found (Debian package tshark)`);
  }
  const socket = testControlSocket();
  const config = writeConfig("scale.yaml", `${SCALE_CONFIG}control-socket: ${socket}\n`);
  const topo = await buildTopology();
  const results: StartupRun[] = [];
  try {
    for (let i = 0; i < runs; i++) results.push(await once(topo, config));
  } finally {
    await topo.destroy();
    rmSync(dirname(config), { recursive: true, force: true });
    rmSync(dirname(socket), { recursive: true, force: true });
  }
  const r: StartupResults = {
    runs: results,
    median: {
      firstQueryMs: {
        ipv4: median(results.map((x) => x.firstQueryMs.ipv4)),
        ipv6: median(results.map((x) => x.firstQueryMs.ipv6)),
      },
      rssKiB: median(results.map((x) => x.rssKiB)),
      anonKiB: median(results.map((x) => x.anonKiB)),
      fileKiB: median(results.map((x) => x.fileKiB)),
    },
  };
  print(r);
  return r;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv[2] === undefined ? undefined : Number(process.argv[2]));
}
