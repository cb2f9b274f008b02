/**
 * Router engine benchmark (virtual time, one core): 10,000 groups x 3 links x 8 sources,
 * reported by 1,000 hosts with IGMPv3 IS_IN records.
 *
 *   node --import tsx bench/engine.ts      (re-executes itself with --expose-gc)
 *
 * Prints: IGMPv3 group records per second with and without parsing from bytes, heap per
 * (link, group) with 8 sources after GC, and the time of a full general-query cycle
 * (a general query on each link, every host answering, every report parsed and handled).
 * Targets: >= 200,000 records/s, <= 2 KB per (link, group).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { VirtualScheduler } from "../src/clock/virtual.js";
import { defaultRouterConfig } from "../src/daemon/router-config.js";
import { LinkRouter } from "../src/router/link-router.js";
import { parse, serialize, v3Report } from "../src/wire/index.js";
import type { V3Report } from "../src/wire/types.js";
import { RecordType } from "../src/wire/types.js";

const GROUPS = 10_000;
const LINKS = 3;
const SOURCES = 8;
const HOSTS = 1_000;

export interface EngineBenchResult {
  recordsPerSecond: number;
  recordsPerSecondWithParse: number;
  bytesPerLinkGroup: number | null;
  generalQueryCycleMs: number;
  fillMs: number;
  groupsPerLink: number[];
}

interface Link {
  router: LinkRouter;
  /** Per host on this link: the report it sends, as bytes and as a parsed message. */
  reports: { host: string; bytes: Uint8Array; message: V3Report }[];
}

function groupAddress(g: number): string {
  return `239.${1 + (g >> 16)}.${(g >> 8) & 255}.${g & 255}`;
}

function sourceAddress(g: number, k: number): string {
  return `198.18.${k}.${1 + (g % 250)}`;
}

function buildLinks(scheduler: VirtualScheduler, fastLeave: boolean): Link[] {
  const links: Link[] = [];
  const hostsPerLink = Math.ceil(HOSTS / LINKS);
  for (let l = 0; l < LINKS; l++) {
    // The defaults are sized for a small router (max-groups 4096, max-group-sources 16384,
    // 4000 records/s per link): this load needs larger limits. The rate limiters still run
    // (their cost is measured), with rates this virtual-time replay never reaches.
    const config = {
      ...defaultRouterConfig("ipv4"),
      maxGroups: GROUPS * 2,
      maxGroupSources: GROUPS * SOURCES * 2,
      reportRateLimit: 1e9,
      hostReportRateLimit: 1e9,
      fastLeave,
    };
    const router = new LinkRouter({
      family: "ipv4",
      ifname: `dn${l + 1}`,
      config,
      scheduler,
      onEffect: () => {},
      ownAddress: `10.${11 + l}.0.1`,
      subnets: [`10.${11 + l}.0.0/16`],
    });
    const byHost: number[][] = Array.from({ length: hostsPerLink }, () => []);
    for (let g = 0; g < GROUPS; g++) byHost[g % hostsPerLink]!.push(g);
    const reports = byHost.map((groups, h) => {
      const host = `10.${11 + l}.${1 + (h >> 8)}.${h & 255}`;
      const message = v3Report(
        "ipv4",
        groups.map((g) => ({
          recordType: RecordType.MODE_IS_INCLUDE,
          group: groupAddress(g),
          sources: Array.from({ length: SOURCES }, (_, k) => sourceAddress(g, k)),
        })),
      );
      return { host, bytes: serialize("ipv4", message), message };
    });
    links.push({ router, reports });
  }
  return links;
}

const META = { destination: "224.0.0.22", ttl: 1, routerAlert: true };

function roundWithParse(links: Link[]): number {
  let records = 0;
  for (const link of links) {
    for (const r of link.reports) {
      const res = parse("ipv4", r.bytes);
      if (!res.ok || res.message.type !== "v3report") throw new Error("bench report did not parse");
      records += res.message.records.length;
      link.router.handle(res.message, { ...META, source: r.host });
    }
  }
  return records;
}

function roundParsed(links: Link[]): number {
  let records = 0;
  for (const link of links) {
    for (const r of link.reports) {
      records += r.message.records.length;
      link.router.handle(r.message, { ...META, source: r.host });
    }
  }
  return records;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function run(fastLeave: boolean): EngineBenchResult {
  const scheduler = new VirtualScheduler();
  const links = buildLinks(scheduler, fastLeave);
  // Memory: drop the pre-parsed messages' influence by measuring around the fill only.
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  let t = performance.now();
  for (const l of links) l.router.start();
  roundWithParse(links);
  const fillMs = performance.now() - t;
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const hasGc = typeof (globalThis as { gc?: unknown }).gc === "function";
  const groupsPerLink = links.map((l) => l.router.groupCount);
  const pairs = groupsPerLink.reduce((x, y) => x + y, 0);

  // Steady state: refreshes of existing state, as after every general query.
  const rounds = 5;
  let records = 0;
  t = performance.now();
  for (let i = 0; i < rounds; i++) {
    scheduler.advance(1_000);
    records += roundParsed(links);
  }
  const parsedMs = performance.now() - t;
  const recordsPerSecond = records / (parsedMs / 1000);

  records = 0;
  t = performance.now();
  for (let i = 0; i < rounds; i++) {
    scheduler.advance(1_000);
    records += roundWithParse(links);
  }
  const withParseMs = performance.now() - t;
  const recordsPerSecondWithParse = records / (withParseMs / 1000);

  // A full general-query cycle: the next general query goes out on each link (the
  // scheduler fires it), every host answers, and every answer is parsed and handled.
  const next = scheduler.nextDeadline();
  t = performance.now();
  if (next !== null) scheduler.advanceTo(next);
  roundWithParse(links);
  const generalQueryCycleMs = performance.now() - t;

  return {
    recordsPerSecond,
    recordsPerSecondWithParse,
    bytesPerLinkGroup: hasGc ? (heap1 - heap0) / pairs : null,
    generalQueryCycleMs,
    fillMs,
    groupsPerLink,
  };
}

function print(r: EngineBenchResult, fastLeave: boolean): void {
  const k = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(
    `engine: ${GROUPS} groups x ${LINKS} links x ${SOURCES} sources, ${HOSTS} hosts (IGMPv3 IS_IN), fast leave ${fastLeave ? "on (explicit tracking)" : "off"}`,
  );
  console.log(`  groups per link                  ${r.groupsPerLink.join(" / ")}`);
  console.log(`  initial fill (parse + handle)    ${r.fillMs.toFixed(0)} ms`);
  console.log(`  group records/s, pre-parsed      ${k(r.recordsPerSecond)}   (target >= 200,000)`);
  console.log(`  group records/s, parse + handle  ${k(r.recordsPerSecondWithParse)}`);
  console.log(
    `  heap per (link, group), 8 src    ${r.bytesPerLinkGroup === null ? "n/a (run with --expose-gc)" : `${k(r.bytesPerLinkGroup)} B`}   (target <= 2,048 B)`,
  );
  console.log(
    `  full general-query cycle         ${r.generalQueryCycleMs.toFixed(0)} ms (${k(GROUPS * LINKS)} records)`,
  );
}

/** Runs the benchmark and prints the numbers; re-executes with --expose-gc when needed. */
export async function main(): Promise<EngineBenchResult[] | null> {
  if (typeof (globalThis as { gc?: unknown }).gc !== "function" && process.env.IMPROXY_BENCH_CHILD !== "1") {
    const self = fileURLToPath(import.meta.url);
    const res = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", self], {
      stdio: "inherit",
      env: { ...process.env, IMPROXY_BENCH_CHILD: "1" },
    });
    if (res.status !== 0) throw new Error(`engine benchmark failed (exit ${res.status})`);
    return null;
  }
  const results: EngineBenchResult[] = [];
  for (const fastLeave of [false, true]) {
    const r = run(fastLeave);
    print(r, fastLeave);
    results.push(r);
    gc();
  }
  return results;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
