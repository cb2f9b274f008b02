/**
 * `npm run fuzz -- --packets N --seed S [--family ipv4|ipv6|both]`: the daemon against hostile
 * IGMP / MLD traffic on the real kernel.
 *
 * Builds the standard lab (src/lab/topology.ts: up, rtr, h1, h2), runs the built daemon
 * (dist/) in `rtr` with a YAML config that has a control socket, and per family injects N
 * crafted packets (test/support/fuzz-gen.ts) from injector processes inside the host
 * namespaces (test/support/fuzz-inject.ts, AF_PACKET raw socket): most from the downstream
 * host h1, the rest (`--upstream-share`, default 0.2) from the upstream host `up`. Then it
 * prints packets and packets/s per family and source, the daemon's drop / parse-error
 * counters (`improxy show stats --json --socket PATH`), the daemon's RSS and CPU time before
 * and after, and checks that a real host's join on the OTHER downstream (h2) is still
 * served: a kernel socket join in h2 and a stream from `up` that must arrive.
 *
 * Exit status 1 when: the daemon died (or exited non-zero at the end), a log line at level
 * error or fatal appeared, RSS grew more than 10 MB (`--max-rss-growth-mb`; measured from
 * the end of the warm-up, or with --passes from the end of pass 1), or the final join was
 * not served. On a failure it prints the index ranges in flight at the first bad
 * log line; `--start I --packets N --role downstream|upstream` replays exactly those.
 *
 * Options: --packets N (per family, default 20000), --seed S (default 1), --family
 * ipv4|ipv6|both (default both), --start I (first packet index, default 0), --role
 * downstream|upstream|both, --upstream-share F, --batch B, --json (print the report as JSON
 * too), --max-rss-growth-mb M, --warmup W (packets per family, another seed, injected before
 * the "before" RSS is read; default 5000, 0 for none), --passes K (inject the same packets K
 * times: later passes add no protocol state, so growth between passes means a leak).
 * RSS, and the heap figures of the daemon's metrics endpoint, are printed after each pass.
 *
 * The daemon runs as the service unit runs it: its heap policy (src/cli/heap-policy.ts) and
 * NODE_OPTIONS=--max-semi-space-size=1 (contrib/improxy.service).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startReceiver, startSender } from "../src/lab/hosts.js";
import type { Netns } from "../src/lab/netns.js";
import { buildTopology, type Topology } from "../src/lab/topology.js";
import type { IpFamily } from "../src/wire/types.js";
import { type DaemonRun, type LogLine, startDaemon } from "../test/support/daemon.js";
import type { LinkRole } from "../test/support/fuzz-gen.js";
import { type MemoryFigures, memoryFigures, mib, procSample, readStats } from "./observe.js";
import { type Injection, startInjector } from "../test/support/fuzz-inject.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The fuzzed daemon's Prometheus endpoint (inside the router namespace): its heap figures. */
const METRICS = "127.0.0.1:9466";

export interface FuzzOptions {
  packets: number;
  seed: number;
  families: IpFamily[];
  start?: number;
  roles?: LinkRole[];
  upstreamShare?: number;
  batch?: number;
  maxRssGrowthMb?: number;
  /**
   * Times the same packets are injected (default 1). Later passes create no new state, so
   * RSS growth between them points at a leak rather than at protocol state.
   */
  passes?: number;
  /** Packets per family injected (with another seed) before the "before" figures; default 5000. */
  warmup?: number;
  /** Progress and results as text lines (default: stdout). */
  print?: (line: string) => void;
}

export interface InjectionFigures {
  family: IpFamily;
  role: LinkRole;
  packets: number;
  frames: number;
  elapsedMs: number;
  pps: number;
  retries: number;
  sendErrors: Record<string, number>;
}

export interface ProcFigures {
  rssKb: number;
  /** Heap used / total and external memory (bytes) from the metrics endpoint, when it answered. */
  memory?: MemoryFigures;
  cpuMs: number;
}

export interface FuzzReport {
  seed: number;
  injections: InjectionFigures[];
  /** Per family: drops by reason, parse errors by reason, as `show stats` reports them (warm-up excluded). */
  stats: Record<
    string,
    {
      drops: Record<string, number>;
      parseErrors: Record<string, number>;
      other: Record<string, unknown>;
      /** The protocol state held at the end (`status` summary: groups, sources, upstream groups, routes). */
      state: Record<string, number>;
    }
  >;
  /** At start, after the warm-up (the "before" of the growth check), at the end. */
  initial: ProcFigures;
  before: ProcFigures;
  /** After the first pass, when there were several (the base of the leak check then). */
  afterFirstPass?: ProcFigures;
  after: ProcFigures;
  daemonDied: boolean;
  exitCode: number | null;
  errorLines: LogLine[];
  finalJoin: Record<string, { received: number; ok: boolean }>;
  /** Index ranges in flight when the first error line was logged (or the daemon died). */
  suspects: Array<{ family: IpFamily; role: LinkRole; first: number; last: number }>;
  failures: string[];
}

/** RSS (kB, /proc/PID/status VmRSS) and CPU time (ms, utime+stime of /proc/PID/stat). */
export function procFigures(pid: number): ProcFigures {
  const s = procSample(pid);
  if (s === null) throw new Error(`daemon pid ${pid} is gone`);
  return { rssKb: s.rssKiB, cpuMs: s.cpuS * 1000 };
}

/** ", heap U of T MiB, external E MiB" when the metrics endpoint answered. */
function memoryText(p: ProcFigures): string {
  const m = p.memory;
  if (!m) return "";
  return `, heap ${mib(m.heapUsed / 1024)} of ${mib(m.heapTotal / 1024)}, external ${mib(m.external / 1024)}`;
}

async function macOf(ns: Netns, ifname: string): Promise<string> {
  const { stdout } = await ns.ip("-j", "link", "show", ifname);
  const a = (JSON.parse(stdout) as Array<{ address: string }>)[0]?.address;
  if (!a) throw new Error(`no MAC for ${ifname} in ${ns.name}`);
  return a;
}

function fuzzConfig(socket: string): string {
  return [
    "# improxy fuzzer (bench/fuzz.ts)",
    "upstream: up0",
    "downstream: [dn1, dn2]",
    "robustness-variable: 2",
    "query-interval: 20",
    "query-max-response-time: 2",
    "last-member-query-interval: 1",
    `control-socket: ${socket}`,
    `metrics: "${METRICS}"`,
    "igmp:",
    "  version: 3",
    "mld:",
    "  version: 2",
    "",
  ].join("\n");
}

async function showStats(socket: string): Promise<Record<string, unknown>> {
  return (await readStats(socket)) as Record<string, unknown>;
}

/** Per family: parse errors, router drops summed over the links, and the scalar counters (`show stats --json`). */
function summarizeStats(doc: Record<string, unknown>): FuzzReport["stats"] {
  const out: FuzzReport["stats"] = {};
  const add = (into: Record<string, number>, from: unknown) => {
    if (from && typeof from === "object")
      for (const [k, v] of Object.entries(from as Record<string, unknown>))
        if (typeof v === "number") into[k] = (into[k] ?? 0) + v;
  };
  const families = (doc.families ?? []) as Array<{
    family: string;
    stats?: Record<string, unknown>;
    summary?: Record<string, unknown>;
  }>;
  for (const f of families) {
    const st = f.stats ?? {};
    const acc = { drops: {}, parseErrors: {}, other: {}, state: {} } as FuzzReport["stats"][string];
    for (const k of ["groups", "sources", "upstreamGroups", "routes"])
      if (typeof f.summary?.[k] === "number") acc.state[k] = f.summary[k] as number;
    add(acc.parseErrors, st.parseErrors);
    const refusals: Record<string, number> = {};
    const received: Record<string, number> = {};
    for (const l of (st.interfaces ?? []) as Array<Record<string, unknown>>) {
      add(acc.drops, l.drops);
      add(refusals, l.refusals);
      add(received, l.received);
    }
    for (const [k, v] of Object.entries(st)) if (typeof v === "number") acc.other[k] = v;
    acc.other.upcalls = st.upcalls;
    acc.other.refusals = refusals;
    acc.other.routerReceived = received;
    out[f.family] = acc;
  }
  return out;
}

/** `now - then` for every numeric counter (the warm-up's counts taken out). */
function statsDelta(now: FuzzReport["stats"], then: FuzzReport["stats"]): FuzzReport["stats"] {
  const sub = (a: unknown, b: unknown): unknown => {
    if (typeof a === "number") return a - (typeof b === "number" ? b : 0);
    if (a && typeof a === "object") {
      const o: Record<string, unknown> = {};
      const bo = (b && typeof b === "object" ? b : {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(a as Record<string, unknown>)) o[k] = sub(v, bo[k]);
      return o;
    }
    return a;
  };
  return sub(now, then) as FuzzReport["stats"];
}

/** A real host on h2 joins `group`; `up` sends to it for 2 s; returns how many datagrams h2 got. */
async function finalJoin(topo: Topology, d: DaemonRun, family: IpFamily): Promise<number> {
  const v4 = family === "ipv4";
  const group = v4 ? "239.88.0.1" : "ff05::88:1";
  const source = v4 ? topo.addr.up.v4 : topo.addr.up.v6;
  const port = v4 ? 7441 : 7442;
  const rx = startReceiver(topo.h2, group, { port });
  try {
    await rx.joined;
    await d
      .waitFor(
        (l) => l.msg === "upstream membership" && l.family === family && l.group === group,
        10_000,
        `upstream membership for ${group}`,
      )
      .catch(() => undefined);
    const tx = startSender(topo.up, group, { port, intervalMs: 10, bind: source });
    await sleep(2000);
    await tx.stop();
    await sleep(200);
    return rx.packets.filter((p) => p.from === source).length;
  } finally {
    await rx.stop();
  }
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const print = o.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const roles = o.roles ?? ["downstream", "upstream"];
  const share = o.upstreamShare ?? 0.2;
  const start = o.start ?? 0;
  const failures: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "improxy-fuzz-"));
  const socket = join(dir, "control.sock");
  const conf = join(dir, "improxy.yaml");
  writeFileSync(conf, fuzzConfig(socket));
  const topo = await buildTopology();
  let d: DaemonRun | undefined;
  try {
    // The young generation is capped as the service unit caps it: V8 grows its semi-spaces
    // (up to 16 MiB each) under allocation pressure, which moves RSS by 10-20 MiB with the
    // injection rate alone (docs/architecture.md "Memory").
    d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"], { asService: true });
    const daemon = d;
    for (const family of ["ipv4", "ipv6"] as const)
      for (const ifname of ["dn1", "dn2"])
        await daemon.waitFor(
          (l) =>
            l.msg === "querier status" && l.family === family && l.interface === ifname && l.querier === true,
          15_000,
          `${family} querier on ${ifname}`,
        );
    const pid = daemon.proc.pid!;

    const macs = {
      h1: await macOf(topo.h1, "eth0"),
      up: await macOf(topo.up, "eth0"),
      dn1: await macOf(topo.rtr, "dn1"),
      up0: await macOf(topo.rtr, "up0"),
    };
    const dead = () => daemon.proc.exitCode !== null || daemon.proc.signalCode !== null;
    /** Injects `packets` per family from `roles` (seed `seed`, from index `first`); waits for the injectors. */
    const phase = async (
      seed: number,
      first: number,
      packets: number,
      phaseRoles: LinkRole[],
      all: Injection[],
    ) => {
      const figures: InjectionFigures[] = [];
      for (const family of o.families) {
        const v4 = family === "ipv4";
        const running: Injection[] = [];
        for (const role of phaseRoles) {
          const up = Math.floor(packets * share);
          const count = phaseRoles.length === 1 ? packets : role === "upstream" ? up : packets - up;
          if (count <= 0) continue;
          const down = role === "downstream";
          const plan = down
            ? { ns: topo.h1, host: topo.addr.h1, rtr: topo.rtrAddr.dn1, prefix: v4 ? "10.11.0" : "fd00:11:" }
            : { ns: topo.up, host: topo.addr.up, rtr: topo.rtrAddr.up0, prefix: v4 ? "10.10.0" : "fd00:10:" };
          const inj = startInjector(plan.ns, {
            family,
            role,
            seed,
            start: first,
            count,
            hostMac: down ? macs.h1 : macs.up,
            routerMac: down ? macs.dn1 : macs.up0,
            host: v4 ? plan.host.v4 : plan.host.v6,
            router: v4 ? plan.rtr.v4 : plan.rtr.v6,
            prefix: plan.prefix,
            batch: o.batch ?? 500,
          });
          running.push(inj);
          all.push(inj);
        }
        for (const inj of running) {
          const r = await inj.result;
          figures.push({
            family,
            role: inj.opts.role,
            packets: r.packets,
            frames: r.frames,
            elapsedMs: Math.round(r.elapsedMs),
            pps: Math.round((r.packets * 1000) / Math.max(1, r.elapsedMs)),
            retries: r.retries,
            sendErrors: r.sendErrors,
          });
        }
        if (dead()) break;
      }
      return figures;
    };

    // Warm-up (another seed): the heap and the bounded protocol state reach their working
    // size, so that the RSS comparison afterwards shows leaks, not a young heap growing.
    const warmup = Math.min(o.warmup ?? 5000, o.packets);
    /** RSS and CPU, with the heap figures of the metrics endpoint. */
    const sample = async (): Promise<ProcFigures> => ({
      ...procFigures(pid),
      memory: (await memoryFigures(topo.rtr, METRICS)) ?? undefined,
    });
    const initial = await sample();
    if (warmup > 0) {
      await phase((o.seed + 0x5eed) >>> 0, 0, warmup, roles, []);
      await sleep(1000);
    }
    const before = await sample();
    let statsBefore: FuzzReport["stats"] = {};
    try {
      statsBefore = summarizeStats(await showStats(socket));
    } catch (err) {
      failures.push(`show stats failed after the warm-up: ${(err as Error).message}`);
    }
    print(
      `daemon pid ${pid}: RSS ${initial.rssKb} kB at start, ${before.rssKb} kB after a warm-up of ${warmup} packets per family; CPU ${before.cpuMs} ms`,
    );

    const all: Injection[] = [];
    const injections: InjectionFigures[] = [];
    const passes = Math.max(1, o.passes ?? 1);
    let afterFirstPass: ProcFigures | undefined;
    for (let pass = 1; pass <= passes; pass++) {
      injections.push(...(await phase(o.seed, start, o.packets, roles, all)));
      if (passes > 1) {
        const p = await sample();
        print(`pass ${pass} of ${passes}: RSS ${p.rssKb} kB${memoryText(p)}, CPU ${p.cpuMs} ms`);
        if (pass === 1) afterFirstPass = p;
      }
      if (dead()) break;
    }
    for (const fig of injections)
      print(
        `${fig.family} ${fig.role}: ${fig.packets} packets (${fig.frames} frames) in ${fig.elapsedMs} ms = ${fig.pps} packets/s` +
          `${fig.retries ? `, ${fig.retries} send retries` : ""}${Object.keys(fig.sendErrors).length ? `, send errors ${JSON.stringify(fig.sendErrors)}` : ""}`,
      );
    // Let the daemon drain its socket.
    await sleep(1500);
    const daemonDied = dead();
    let after: ProcFigures = { rssKb: Number.NaN, cpuMs: Number.NaN };
    let stats: FuzzReport["stats"] = {};
    const finalJoinRes: FuzzReport["finalJoin"] = {};
    if (daemonDied)
      failures.push(`the daemon died (exit ${daemon.proc.exitCode}, signal ${daemon.proc.signalCode})`);
    else {
      after = await sample();
      try {
        const now = summarizeStats(await showStats(socket));
        stats = statsDelta(now, statsBefore);
        for (const [fam, x] of Object.entries(now)) if (stats[fam]) stats[fam].state = x.state;
      } catch (err) {
        failures.push(`show stats failed: ${(err as Error).message}`);
      }
      for (const family of o.families) {
        const received = await finalJoin(topo, daemon, family);
        const ok = received >= 50;
        finalJoinRes[family] = { received, ok };
        if (!ok) failures.push(`${family}: the final join on h2 was not served (${received} datagrams)`);
      }
    }
    // The leak check: with one pass, from the end of the warm-up (so the growth includes the
    // protocol state the packets created, up to the configured caps); with several, from the
    // end of the first pass, which created all the state these packets can create.
    const base = afterFirstPass ?? before;
    const growthKb = after.rssKb - base.rssKb;
    if (growthKb > (o.maxRssGrowthMb ?? 10) * 1024)
      failures.push(`RSS grew ${growthKb} kB since ${afterFirstPass ? "the end of pass 1" : "the warm-up"}`);
    const linesBeforeStop = daemon.lines.length;
    const exitCode = await daemon.stop();
    d = undefined;
    if (!daemonDied && exitCode !== 0) failures.push(`the daemon exited ${exitCode} on SIGTERM`);
    const errorLines = daemon.lines.filter((l) => l.level >= 50);
    if (errorLines.length > 0) failures.push(`${errorLines.length} log line(s) at error or fatal`);

    // What was in flight at the first error line (or at the death).
    const suspects: FuzzReport["suspects"] = [];
    const badAt = errorLines[0]
      ? Date.parse(String(errorLines[0].time))
      : daemonDied
        ? Date.now()
        : undefined;
    if (badAt !== undefined) {
      for (const inj of all) {
        const window = inj.progress.filter((p) => p.at >= badAt - 1000 && p.at <= badAt + 1000);
        const firstAfter = inj.progress.find((p) => p.at >= badAt);
        const pick = window.length > 0 ? window : firstAfter ? [firstAfter] : inj.progress.slice(-1);
        if (pick.length > 0)
          suspects.push({
            family: inj.opts.family,
            role: inj.opts.role,
            first: pick[0]!.first,
            last: pick.at(-1)!.last,
          });
      }
    }

    const signed = (kb: number) => `${kb >= 0 ? "+" : ""}${kb} kB`;
    print(
      `daemon RSS ${before.rssKb} kB -> ${after.rssKb} kB (${signed(after.rssKb - before.rssKb)})` +
        (afterFirstPass ? `; since the end of pass 1 ${signed(growthKb)} (the leak check)` : " (the leak check)"),
    );
    print(`daemon memory after the warm-up${memoryText(before)}; at the end${memoryText(after)}`);
    print(`daemon CPU ${before.cpuMs} ms -> ${after.cpuMs} ms (+${after.cpuMs - before.cpuMs} ms)`);
    for (const [fam, s] of Object.entries(stats)) {
      print(`${fam} drops: ${JSON.stringify(s.drops)}`);
      print(`${fam} parse errors: ${JSON.stringify(s.parseErrors)}`);
      print(`${fam} counters: ${JSON.stringify(s.other)}`);
      print(
        `${fam} state after the warm-up ${JSON.stringify(statsBefore[fam]?.state ?? {})}, at the end ${JSON.stringify(s.state)}`,
      );
    }
    for (const [fam, j] of Object.entries(finalJoinRes))
      print(`${fam} final join on h2: ${j.received} datagrams received (${j.ok ? "served" : "NOT served"})`);
    const warnings = new Map<string, number>();
    for (const [i, l] of daemon.lines.entries()) {
      if (l.level !== 40) continue;
      // One key per kind of warning: addresses and numbers in the message blanked out.
      const key = `${l.msg}${typeof l.why === "string" ? ` (${l.why})` : ""}`.replace(
        /[0-9a-f]*:[0-9a-f:.]*[0-9a-f]|\d+(\.\d+){3}|\d+/gi,
        "#",
      );
      const k = `${i >= linesBeforeStop ? "at shutdown: " : ""}${key}`;
      warnings.set(k, (warnings.get(k) ?? 0) + 1);
    }
    if (warnings.size > 0) print(`warning lines: ${JSON.stringify(Object.fromEntries(warnings))}`);
    for (const l of errorLines.slice(0, 20)) print(`error line: ${JSON.stringify(l)}`);
    for (const s of suspects)
      print(
        `in flight: ${s.family} ${s.role} packets ${s.first}..${s.last}: replay with ` +
          `npm run fuzz -- --seed ${o.seed} --family ${s.family} --role ${s.role} --start ${s.first} --packets ${s.last - s.first + 1}`,
      );
    print(failures.length === 0 ? "fuzz: OK" : `fuzz: FAILED: ${failures.join("; ")}`);
    return {
      seed: o.seed,
      injections,
      stats,
      initial,
      before,
      ...(afterFirstPass ? { afterFirstPass } : {}),
      after,
      daemonDied,
      exitCode,
      errorLines,
      finalJoin: finalJoinRes,
      suspects,
      failures,
    };
  } finally {
    if (d) await d.stop();
    await topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): FuzzOptions & { json: boolean } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
    return n;
  };
  const fam = get("family") ?? "both";
  if (!["ipv4", "ipv6", "both"].includes(fam)) throw new Error(`--family: ipv4, ipv6 or both, not ${fam}`);
  const role = get("role") ?? "both";
  if (!["downstream", "upstream", "both"].includes(role))
    throw new Error(`--role: downstream, upstream or both, not ${role}`);
  return {
    packets: Math.floor(num("packets", 20_000)),
    seed: Math.floor(num("seed", 1)),
    families: fam === "both" ? ["ipv4", "ipv6"] : [fam as IpFamily],
    start: Math.floor(num("start", 0)),
    roles: role === "both" ? ["downstream", "upstream"] : [role as LinkRole],
    upstreamShare: num("upstream-share", 0.2),
    batch: Math.max(1, Math.floor(num("batch", 500))),
    maxRssGrowthMb: num("max-rss-growth-mb", 10),
    warmup: Math.floor(num("warmup", 5000)),
    passes: Math.floor(num("passes", 1)),
    json: argv.includes("--json"),
  };
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const o = parseArgs(argv);
  if (process.getuid?.() !== 0) {
    process.stderr.write("fuzz: needs root (network namespaces)\n");
    return 2;
  }
  const report = await runFuzz(o);
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  return report.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`fuzz: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(2);
    },
  );
}
