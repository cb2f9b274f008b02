/**
 * Soak against the real kernel (network namespaces; root): join/leave cycles with reloads
 * and link flaps mixed in, looking for leaks (memory, fds, kernel state) and for harm to a
 * receiver that never leaves.
 *
 *   npm run bench:soak -- [--cycles N] [--groups G] [--family ipv4|ipv6] [--reload-every R]
 *                         [--flap-every F] [--pps P] [--fast-leave on|off]
 *
 * Lab: up --- up0 [rtr] dn1 --- h1, dn2 --- h2, dn3 --- h3 (built here: three downstreams).
 * A cycle is one group joined and left on one link. A round: h1, h2 and h3 each join G
 * (1,000) groups of their own (3 x G distinct groups) in one burst of reports, the bench
 * waits until all 3 x G are joined upstream (up0), then they all leave and it waits until
 * none is: 3 x G cycles per round. Every R rounds the daemon is reloaded (`improxy reload`,
 * the config alternating between two query intervals so the reload has something to
 * apply); every F rounds, while the groups are joined, dn2 or dn3 (in turn) is set down and
 * up on the router, and the round waits for the daemon to attach it again.
 * Meanwhile the upstream host sprays datagrams at P pps (2,000) round-robin over the 3 x G
 * groups (so the MFC gets entries that must follow the joins), and h1 holds a kernel-socket
 * receiver of a steady stream (every 5 ms, numbered) that never leaves.
 *
 * Reports are raw report bursts (test/support/flood.ts, one long-lived sender per host),
 * not kernel-socket joins: a host kernel joins at most 20 groups per socket and paces its
 * reports (unsolicited report interval, robustness retransmissions), so 1,000 groups per
 * round through kernel sockets would measure the hosts' kernels, not the daemon; the raw
 * bursts make a round take as long as the daemon needs (plus the leave's last-member
 * queries with fast leave off). The steady receiver is a kernel socket, so it answers the
 * daemon's queries like a real host.
 *
 * Printed: cycles and cycle rate (and what 1,000,000 cycles would take at that rate), RSS,
 * heap (Prometheus endpoint) and fds at start and end; at the end, after the spray stops and
 * two forwarding-idle checks (5 s here) have passed, the MFC entries other than the steady
 * stream's and the upstream memberships other than its group (both must be 0), the entries
 * that forwarded to a link while nobody was joined (before the spray stopped; must be 0),
 * the steady receiver's lost datagrams (must be 0), the load, and the daemon's drop counters.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startReceiver, startSender } from "../src/lab/hosts.js";
import type { Lab, Netns } from "../src/lab/netns.js";
import { buildLab, type LinkPlan, wire } from "../src/lab/topology.js";
import type { IpFamily } from "../src/wire/types.js";
import { ipv6ToBytes } from "../src/wire/address.js";
import { countTestGroups, waitForReportGroup } from "../test/support/burst.js";
import { CLI, type DaemonRun, startDaemon } from "../test/support/daemon.js";
import { type FloodAgent, RT, startFloodAgent } from "../test/support/flood.js";
import { type Spray, startSpray } from "../test/support/spray.js";
import {
  dropCounters,
  exitOnSignals,
  fdTargets,
  heapUsed,
  k,
  loadAvg,
  type MfcLine,
  mfcLines,
  mib,
  newFds,
  procSample,
  showStats,
  upstreamGroups,
} from "./observe.js";

const METRICS = "127.0.0.1:9465";
/** The steady stream (outside groupAt's test ranges: 239.16-31/16, ff05::/16). */
const STEADY: Record<IpFamily, string> = { ipv4: "239.1.9.9", ipv6: "ff0e::9:9" };
const STEADY_PORT = 5001;

interface SoakLab {
  lab: Lab;
  rtr: Netns;
  up: Netns;
  hosts: Netns[];
  destroy(): Promise<void>;
}

function buildSoakLab(): Promise<SoakLab> {
  return buildLab(async (lab) => {
    const rtr = await lab.addNamespace("rtr");
    const up = await lab.addNamespace("up");
    const hosts: Netns[] = [];
    /** Link `rtrIf` to `host` on 10.n.0.0/24 and fd00:n::/64. */
    const plan = (rtrIf: string, host: string, n: number): LinkPlan => ({ rtrIf, host, v4: `10.${n}.0`, v6: `fd00:${n}:` });
    await wire(lab, rtr, up, plan("up0", "up", 10));
    for (let i = 1; i <= 3; i++) {
      const h = await lab.addNamespace(`h${i}`);
      await wire(lab, rtr, h, plan(`dn${i}`, `h${i}`, 10 + i));
      hosts.push(h);
    }
    return { rtr, up, hosts };
  });
}

export interface SoakArgs {
  cycles: number;
  groups: number;
  family: IpFamily;
  reloadEvery: number;
  flapEvery: number;
  pps: number;
  fastLeave: boolean;
}

function parse(argv: string[]): SoakArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      cycles: { type: "string", default: "10000" },
      groups: { type: "string", default: "1000" },
      family: { type: "string", default: "ipv4" },
      "reload-every": { type: "string", default: "2" },
      "flap-every": { type: "string", default: "3" },
      pps: { type: "string", default: "2000" },
      "fast-leave": { type: "string", default: "off" },
    },
  });
  if (values.family !== "ipv4" && values.family !== "ipv6") throw new Error("--family ipv4 or ipv6");
  return {
    cycles: Number(values.cycles),
    groups: Number(values.groups),
    family: values.family,
    reloadEvery: Number(values["reload-every"]),
    flapEvery: Number(values["flap-every"]),
    pps: Number(values.pps),
    fastLeave: values["fast-leave"] !== "off",
  };
}

function config(socket: string, fastLeave: boolean, queryInterval: number): string {
  return [
    "upstream: up0",
    "downstream: [dn1, dn2, dn3]",
    `control-socket: ${socket}`,
    `metrics: "${METRICS}"`,
    `fast-leave: ${fastLeave}`,
    "robustness-variable: 2",
    "last-member-query-interval: 1",
    "query-max-response-time: 1",
    `query-interval: ${queryInterval}`,
    "forwarding-idle-check: 5",
    // One host joins --groups (1,000) groups in one burst: above the home-router per-host
    // defaults (max-groups-per-host 512, host-report-rate-limit 512/s, report-rate-limit
    // 4000/s per link), which this bench does not measure (bench:flood does).
    "max-groups-per-host: 16384",
    "host-report-rate-limit: 100000",
    "report-rate-limit: 100000",
    "",
  ].join("\n");
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitCount(rtr: Netns, family: IpFamily, want: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await countTestGroups(rtr, family, "up0");
    if (n === want) return;
    if (Date.now() > deadline)
      throw new Error(`${n} test groups upstream, waited for ${want} (${timeoutMs} ms)`);
    await sleep(50);
  }
}

async function cli(args: string[]): Promise<void> {
  const { execFile } = await import("node:child_process");
  await new Promise<void>((res, rej) =>
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000 }, (err, _out, stderr) =>
      err ? rej(new Error(`improxy ${args.join(" ")}: ${stderr.trim() || err.message}`)) : res(),
    ),
  );
}

/** Datagrams missing between the first and the last sequence number received. */
function lost(seqs: number[]): { received: number; lost: number; first: number; last: number } {
  if (seqs.length === 0) return { received: 0, lost: 0, first: -1, last: -1 };
  const set = new Set(seqs);
  // Not Math.min(...set): a long soak receives more datagrams than a call takes arguments.
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const s of set) {
    if (s < first) first = s;
    if (s > last) last = s;
  }
  return { received: set.size, lost: last - first + 1 - set.size, first, last };
}

export interface SoakResult {
  args: SoakArgs;
  cycles: number;
  rounds: number;
  reloads: number;
  flaps: number;
  elapsedS: number;
  cyclesPerS: number;
  start: { rssKiB: number; heap: number | null; fds: number };
  end: { rssKiB: number; heap: number | null; fds: number };
  forwardingToNobody: number;
  /** Fds open at the end that were not at the start. */
  extraFds: string[];
  strayMfc: number;
  strayUpstream: number;
  steady: { received: number; lost: number };
  load: { start: string; end: string };
  /** null: the control socket did not answer (10 s). */
  drops: Record<string, number> | null;
  survived: boolean;
}

export async function main(argv: string[] = []): Promise<SoakResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: build first (npm run build)`);
  const a = parse(argv);
  const fam = a.family;
  const lab = await buildSoakLab();
  const dir = mkdtempSync(join(tmpdir(), "improxy-soak-"));
  const socket = join(dir, "improxy.sock");
  const conf = join(dir, "soak.yaml");
  writeFileSync(conf, config(socket, a.fastLeave, 125));
  const stops: Array<() => Promise<void>> = [];
  const unhook = exitOnSignals(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await lab.destroy();
  });
  const load0 = loadAvg();
  let d: DaemonRun | undefined;
  let spray: Spray | undefined;
  const agents: FloodAgent[] = [];
  try {
    d = startDaemon(lab.rtr, ["-c", conf, "-d", "3"], { asService: true });
    const daemon = d;
    stops.push(async () => {
      await daemon.stop();
    });
    for (const i of [1, 2, 3]) await waitForReportGroup(lab.rtr, fam, `dn${i}`, 15_000);
    await daemon.waitFor((l) => l.msg === "control socket listening", 10_000, "control socket");
    const pid = daemon.proc.pid!;

    // The steady receiver on h1 (dn1 is never flapped) and its stream from up.
    const steadySender = startSender(lab.up, STEADY[fam], {
      intervalMs: 5,
      port: STEADY_PORT,
      bind: fam === "ipv4" ? "10.10.0.2" : "fd00:10::2",
    });
    stops.push(() => steadySender.stop());
    const steady = startReceiver(lab.hosts[0]!, STEADY[fam], { port: STEADY_PORT });
    stops.push(() => steady.stop());
    await steady.joined;
    const t = Date.now();
    while (steady.packets.length < 10) {
      if (Date.now() - t > 10_000) throw new Error("steady stream does not reach h1");
      await sleep(50);
    }
    // The steady stream's MFC entry, as the kernel prints its group (the only entry so far).
    const first = await mfcLines(lab.rtr, fam);
    if (first.length !== 1)
      throw new Error(`expected only the steady stream's MFC entry, found ${first.length}`);
    const steadyMfcGroup = first[0]!.group;
    spray = startSpray(lab.up, { family: fam, count: 3 * a.groups, pps: a.pps, port: 5900 });
    const sp = spray;
    stops.push(() => sp.stop());
    for (const h of lab.hosts) agents.push(startFloodAgent(h));
    stops.push(async () => {
      for (const ag of agents) await ag.stop();
    });

    await sleep(1000);
    const s0 = procSample(pid)!;
    const fds0 = fdTargets(pid);
    const start = { rssKiB: s0.rssKiB, heap: await heapUsed(lab.rtr, METRICS), fds: s0.fds };
    console.log(
      `soak ${fam}: ${k(a.cycles)} cycles wanted, ${k(a.groups)} groups per link x 3 links per round, reload every ${a.reloadEvery} rounds, flap every ${a.flapEvery} rounds, spray ${k(a.pps)} pps, fast leave ${a.fastLeave ? "on" : "off"}; load ${load0}`,
    );

    const perRound = 3 * a.groups;
    const rounds = Math.max(1, Math.ceil(a.cycles / perRound));
    let reloads = 0;
    let flaps = 0;
    let forwardingToNobody = 0;
    const t0 = performance.now();
    const timeout = 30_000 + a.groups * 20;
    /** Each host reports its own `a.groups` groups with one record type (join or leave). */
    const everyHostSends = (recordType: number) =>
      Promise.all(
        agents.map((ag, i) =>
          ag.send({ family: fam, count: a.groups, base: i * a.groups, recordType, recordsPerReport: 100 }),
        ),
      );
    for (let r = 1; r <= rounds; r++) {
      await everyHostSends(RT.TO_EX);
      await waitCount(lab.rtr, fam, perRound, timeout);
      if (a.flapEvery > 0 && r % a.flapEvery === 0) {
        const ifname = flaps % 2 === 0 ? "dn2" : "dn3";
        const mark = daemon.lines.length;
        await lab.rtr.linkDown(ifname);
        await sleep(200);
        await lab.rtr.linkUp(ifname);
        await daemon.waitFor(
          (l) =>
            l.msg === "interface attached" &&
            l.interface === ifname &&
            l.family === fam &&
            daemon.lines.indexOf(l) >= mark,
          15_000,
          `${ifname} attached again`,
        );
        flaps++;
      }
      await everyHostSends(RT.TO_IN);
      await waitCount(lab.rtr, fam, 0, timeout);
      if (a.reloadEvery > 0 && r % a.reloadEvery === 0) {
        writeFileSync(conf, config(socket, a.fastLeave, reloads % 2 === 0 ? 124 : 125));
        await cli(["reload", "--socket", socket]);
        reloads++;
      }
      if (r % 5 === 0 || r === rounds) {
        const s = procSample(pid);
        const h = await heapUsed(lab.rtr, METRICS);
        process.stdout.write(
          `  round ${r}/${rounds}: ${k(r * perRound)} cycles, ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${s ? mib(s.rssKiB) : "gone"}, heap ${h === null ? "n/a" : mib(h / 1024)}, fds ${s?.fds ?? "-"}\n`,
        );
      }
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const cycles = rounds * perRound;

    // Everyone but the steady receiver has left: no entry may forward a test group anywhere.
    await sleep(500);
    const notSteady = (l: MfcLine) => l.group !== steadyMfcGroup;
    forwardingToNobody = (await mfcLines(lab.rtr, fam)).filter(
      (l) => notSteady(l) && l.oifs.length > 0,
    ).length;

    // Spray off; after two idle checks (5 s each) only the steady stream's entry may be left.
    await sp.stop();
    await sleep(2 * 5000 + 3000);
    const strayMfc = (await mfcLines(lab.rtr, fam)).filter(notSteady).length;
    const steadyProc = fam === "ipv4" ? STEADY.ipv4 : Buffer.from(ipv6ToBytes(STEADY.ipv6)).toString("hex");
    const strayUpstream = (await upstreamGroups(lab.rtr, fam)).filter((g) => g !== steadyProc).length;

    await sleep(1000);
    const s1 = procSample(pid);
    const extraFds = newFds(fds0, fdTargets(pid), pid);
    const end = {
      rssKiB: s1?.rssKiB ?? Number.NaN,
      heap: await heapUsed(lab.rtr, METRICS),
      fds: s1?.fds ?? Number.NaN,
    };
    const stats = await showStats(socket);
    const drops = stats === null ? null : dropCounters(stats);
    await steadySender.stop();
    await sleep(300);
    const st = lost(steady.packets.filter((p) => p.seq >= 0).map((p) => p.seq));
    const survived = daemon.proc.exitCode === null && daemon.proc.signalCode === null;
    const res: SoakResult = {
      args: a,
      cycles,
      rounds,
      reloads,
      flaps,
      elapsedS,
      cyclesPerS: cycles / elapsedS,
      start,
      end,
      forwardingToNobody,
      strayMfc,
      strayUpstream,
      extraFds,
      steady: { received: st.received, lost: st.lost },
      load: { start: load0, end: loadAvg() },
      drops,
      survived,
    };
    print(res);
    return res;
  } finally {
    unhook();
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await lab.destroy();
  }
}

function print(r: SoakResult): void {
  const heap = (h: number | null) => (h === null ? "n/a" : mib(h / 1024));
  const million = 1_000_000 / r.cyclesPerS;
  console.log(`\nsoak ${r.args.family} results`);
  console.log(`  load (1/5/15 min)      start ${r.load.start}, end ${r.load.end}`);
  console.log(
    `  cycles                 ${k(r.cycles)} in ${r.rounds} rounds, ${r.elapsedS.toFixed(1)} s: ${k(r.cyclesPerS)} cycles/s (${r.reloads} reloads, ${r.flaps} link flaps)`,
  );
  console.log(`  1,000,000 cycles would take ${(million / 60).toFixed(1)} min at this rate`);
  console.log(`  RSS start -> end       ${mib(r.start.rssKiB)} -> ${mib(r.end.rssKiB)}`);
  console.log(`  heap used start -> end ${heap(r.start.heap)} -> ${heap(r.end.heap)}`);
  console.log(
    `  fds start -> end       ${r.start.fds} -> ${r.end.fds}${r.extraFds.length ? `  (new: ${r.extraFds.join(", ")})` : ""}`,
  );
  console.log(`  MFC entries forwarding a left group (spray on)    ${r.forwardingToNobody}   (must be 0)`);
  console.log(`  stray MFC entries (spray off, 2 idle checks)      ${r.strayMfc}   (must be 0)`);
  console.log(`  stray upstream memberships                        ${r.strayUpstream}   (must be 0)`);
  console.log(`  steady receiver: received ${k(r.steady.received)}, lost ${r.steady.lost}   (must be 0)`);
  const drops =
    r.drops === null
      ? [["(control socket did not answer within 10 s)", Number.NaN] as const]
      : Object.entries(r.drops);
  console.log(
    `  drops/refusals         ${drops.length === 0 ? "none counted" : drops.map(([p, x]) => `${p}=${k(x)}`).join(", ")}`,
  );
  console.log(`  survived               ${r.survived ? "yes" : "NO"}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
