/**
 * Shared pieces of the proxy end-to-end scenarios (test/e2e/proxy-*.test.ts): the lab with
 * two upstream sources, per-family addresses and groups, config texts in both formats,
 * starting the daemon until it is querier on every downstream, and readers of the
 * kernel's view (MFC, upstream memberships and source filters, captured data packets).
 */
import assert from "node:assert/strict";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import type { Netns } from "../../src/lab/netns.js";
import type { Address, IpFamily } from "../../src/wire/types.js";
import { startCapture, tsharkFields, type Capture } from "./capture.js";
import { type DaemonRun, type LogLine, startDaemon, writeConfig } from "./daemon.js";

/** Both families, in the order the daemon is awaited (test/support/family.ts describes each). */
const BOTH: readonly IpFamily[] = ["ipv4", "ipv6"];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 50 ms until it holds; fails with `what` once `timeoutMs` have gone by. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 >= timeoutMs) assert.fail(typeof what === "string" ? what : what());
    await sleep(50);
  }
}

/** Addresses of one family in the proxy lab. */
export interface FamilyPlan {
  family: IpFamily;
  /** Upstream sources: S1 is `up`'s first address, S2 the second one added by `buildProxyLab`. */
  s1: Address;
  s2: Address;
  /** Hosts' own addresses (senders on the downstream links). */
  h1: Address;
  h2: Address;
  /** Any-source group number `n` (239.0.n.1 / ff05::n:1). */
  asm(n: number): Address;
  /** Source-specific group number `n` (232.0.n.1 / ff35::n:1). */
  ssm(n: number): Address;
}

export function plan(family: IpFamily): FamilyPlan {
  const v4 = family === "ipv4";
  return {
    family,
    s1: v4 ? "10.10.0.2" : "fd00:10::2",
    s2: v4 ? "10.10.0.3" : "fd00:10::3",
    h1: v4 ? "10.11.0.2" : "fd00:11::2",
    h2: v4 ? "10.12.0.2" : "fd00:12::2",
    asm: (n) => (v4 ? `239.0.${n}.1` : `ff05::${n.toString(16)}:1`),
    ssm: (n) => (v4 ? `232.0.${n}.1` : `ff35::${n.toString(16)}:1`),
  };
}

/** The standard topology plus a second address on `up` (10.10.0.3, fd00:10::3): the second source S2. */
export async function buildProxyLab(): Promise<Topology> {
  const topo = await buildTopology();
  try {
    await topo.up.addAddress("eth0", "10.10.0.3/24");
    await topo.up.addAddress("eth0", "fd00:10::3/64");
    return topo;
  } catch (err) {
    await topo.destroy();
    throw err;
  }
}

export interface LegacyOptions {
  quickleave?: boolean;
  downToUp?: boolean;
}

/** An IMProxy-format config (the original's syntax) for the standard lab. */
export function legacyConfig(o: LegacyOptions = {}): string {
  return [
    "# improxy e2e: IMProxy line format",
    "igmp enable version 3",
    "mld enable",
    "upstream up0",
    "downstream dn1",
    "downstream dn2",
    ...(o.quickleave ? ["quickleave enable"] : []),
    ...(o.downToUp ? ["down_to_up enable"] : []),
    "",
  ].join("\n");
}

export interface YamlOptions {
  fastLeave?: boolean;
  downToUp?: boolean;
  lastMemberQueryInterval?: number;
  robustness?: number;
  queryInterval?: number;
  queryMaxResponseTime?: number;
}

/** The equivalent YAML config, with short timers where a test wants speed. */
export function yamlConfig(o: YamlOptions = {}): string {
  return [
    "# improxy e2e: YAML format",
    "upstream: up0",
    "downstream: [dn1, dn2]",
    `robustness-variable: ${o.robustness ?? 2}`,
    `query-interval: ${o.queryInterval ?? 20}`,
    `query-max-response-time: ${o.queryMaxResponseTime ?? 2}`,
    `last-member-query-interval: ${o.lastMemberQueryInterval ?? 1}`,
    `fast-leave: ${o.fastLeave ?? false}`,
    `down-to-up: ${o.downToUp ?? false}`,
    "igmp:",
    "  version: 3",
    "mld:",
    "  version: 2",
    "",
  ].join("\n");
}

export interface ConfigFormat {
  /** What test names say: "IMProxy format" / "YAML". */
  name: string;
  format: "improxy" | "yaml";
  /** The standard lab's config (LMQI 1 s, robustness 2), optionally with fast leave. */
  config(o?: { fastLeave?: boolean }): string;
}

/** The scenarios that run from both config formats run from these two equivalent configs. */
export const FORMATS: readonly ConfigFormat[] = [
  { name: "IMProxy format", format: "improxy", config: (o = {}) => legacyConfig({ quickleave: o.fastLeave }) },
  {
    name: "YAML",
    format: "yaml",
    config: (o = {}) => yamlConfig({ lastMemberQueryInterval: 1, robustness: 2, fastLeave: o.fastLeave }),
  },
];

/**
 * Starts the daemon in `rtr` with `configText` (file name decides the format: `.conf` for
 * IMProxy, `.yaml` for YAML) at debug level and waits until both families are querier on
 * the downstream links (forwarding needs that, RFC 4605 §4.2) and the upstreams are attached.
 */
export async function startProxy(
  topo: Pick<Topology, "rtr">,
  configText: string,
  format: "improxy" | "yaml" = "improxy",
  downstreams: readonly string[] = ["dn1", "dn2"],
  upstreams: readonly string[] = ["up0"],
): Promise<DaemonRun> {
  const conf = writeConfig(format === "yaml" ? "improxy.yaml" : "improxy.conf", configText);
  const d = startDaemon(topo.rtr, ["-c", conf, "-d", "4"]);
  try {
    for (const family of BOTH) {
      for (const ifname of downstreams) {
        await d.waitFor(
          (l) =>
            l.msg === "querier status" && l.family === family && l.interface === ifname && l.querier === true,
          15_000,
          `${family} querier on ${ifname}`,
        );
      }
      for (const ifname of upstreams) {
        await d.waitFor(
          (l) => l.msg === "interface attached" && l.family === family && l.interface === ifname,
          15_000,
          `${family} ${ifname} attached`,
        );
      }
    }
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

/** Stops the daemon and insists it exits cleanly (code 0, no fatal or error lines). */
export async function stopProxy(d: DaemonRun): Promise<void> {
  const code = await d.stop();
  const bad = d.lines.filter((l) => l.level >= 50);
  if (code !== 0 || bad.length > 0) {
    throw new Error(
      `daemon exit ${code}; error lines: ${JSON.stringify(bad)}\nstderr:\n${d.stderr().slice(-3000)}`,
    );
  }
}

/** Log lines for a family, optionally a message. */
export function linesOf(d: DaemonRun, family: IpFamily, msg?: string): LogLine[] {
  return d.lines.filter((l) => l.family === family && (msg === undefined || l.msg === msg));
}

/** The last "upstream membership" line for `group` (the merged state the daemon applied upstream). */
export function lastUpstreamLine(d: DaemonRun, family: IpFamily, group: Address): LogLine | undefined {
  return linesOf(d, family, "upstream membership")
    .filter((l) => l.group === group)
    .at(-1);
}

/**
 * Waits for a `msg` log line of `family` about `group` in `mode` with exactly `sources`,
 * logged at `since` or later, on `ifname` when given.
 */
function waitState(
  d: DaemonRun,
  msg: "upstream membership" | "link state",
  family: IpFamily,
  ifname: string | undefined,
  group: Address,
  mode: "include" | "exclude",
  sources: Address[],
  timeoutMs: number,
  since: number,
): Promise<LogLine> {
  const want = JSON.stringify([...sources].sort());
  return d.waitFor(
    (l) =>
      l.msg === msg &&
      l.family === family &&
      (ifname === undefined || l.interface === ifname) &&
      l.group === group &&
      l.mode === mode &&
      JSON.stringify(l.sources) === want &&
      Date.parse(String(l.time)) >= since,
    timeoutMs,
    `${ifname === undefined ? "upstream" : ifname} ${mode} ${JSON.stringify(sources)} for ${group}`,
  );
}

/** Waits until the daemon applies `mode`/`sources` upstream for `group`. */
export function waitUpstream(
  d: DaemonRun,
  family: IpFamily,
  group: Address,
  mode: "include" | "exclude",
  sources: Address[],
  timeoutMs = 5000,
  since = 0,
): Promise<LogLine> {
  return waitState(d, "upstream membership", family, undefined, group, mode, sources, timeoutMs, since);
}

/** Waits until a downstream link's state for `group` is reported (the router learned a report). */
export function waitLinkState(
  d: DaemonRun,
  family: IpFamily,
  ifname: string,
  group: Address,
  mode: "include" | "exclude",
  sources: Address[],
  timeoutMs = 5000,
  since = 0,
): Promise<LogLine> {
  return waitState(d, "link state", family, ifname, group, mode, sources, timeoutMs, since);
}

// ------------------------------------------------------------------ kernel read-back

export interface MfcEntry {
  source: Address;
  group: Address;
  iif: string;
  oifs: string[];
}

/** The kernel's multicast forwarding cache (`ip -j mroute show` / `ip -6 -j mroute show`). */
export async function mfc(ns: Netns, family: IpFamily): Promise<MfcEntry[]> {
  const { stdout } = await ns.exec("ip", [...(family === "ipv6" ? ["-6"] : []), "-j", "mroute", "show"]);
  const rows = JSON.parse(stdout.trim() || "[]") as Array<{
    src: string;
    dst: string;
    iif?: string;
    multipath?: Array<{ oif: string }>;
  }>;
  return rows.map((r) => ({
    source: r.src,
    group: r.dst,
    iif: r.iif ?? "",
    oifs: (r.multipath ?? []).map((m) => m.oif).sort(),
  }));
}

export async function mfcEntry(
  ns: Netns,
  family: IpFamily,
  source: Address,
  group: Address,
): Promise<MfcEntry | undefined> {
  return (await mfc(ns, family)).find((e) => e.source === source && e.group === group);
}

/** 32-hex-digit form of an IPv6 address, as /proc/net/igmp6 and mcfilter6 print it. */
export function hex6(address: Address): string {
  const halves = address.split("::");
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(":") : [];
  const fill = Array(8 - head.length - tail.length).fill("0");
  return [...head, ...(halves.length > 1 ? fill : []), ...tail]
    .map((h) => h.padStart(4, "0"))
    .join("")
    .toLowerCase();
}

/** The dotted form of a /proc/net/igmp group (hex in host byte order, little-endian). */
function igmpHexToDotted(h: string): string {
  const n = Number.parseInt(h, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join(".");
}

/** Interface names with a VIF (ipv4, /proc/net/ip_mr_vif) or MIF (ipv6, /proc/net/ip6_mr_vif), sorted. */
export async function vifNames(ns: Netns, family: IpFamily): Promise<string[]> {
  const proc = await ns.readProc(family === "ipv4" ? "/proc/net/ip_mr_vif" : "/proc/net/ip6_mr_vif");
  return proc
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((n): n is string => n !== undefined && n.length > 0)
    .sort();
}

/** Groups the kernel's host part holds per interface (/proc/net/igmp or /proc/net/igmp6). */
export async function memberships(ns: Netns, family: IpFamily): Promise<Map<string, Address[]>> {
  const out = new Map<string, Address[]>();
  if (family === "ipv4") {
    let dev = "";
    for (const line of (await ns.readProc("/proc/net/igmp")).split("\n").slice(1)) {
      const m = /^\d+\s+(\S+)\s*:/.exec(line);
      if (m) {
        dev = m[1]!;
        out.set(dev, []);
        continue;
      }
      const g = /^\s+([0-9A-F]{8})\s/.exec(line);
      if (g && dev) out.get(dev)!.push(igmpHexToDotted(g[1]!));
    }
  } else {
    for (const line of (await ns.readProc("/proc/net/igmp6")).split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length < 3) continue;
      const list = out.get(f[1]!) ?? [];
      list.push(f[2]!);
      out.set(f[1]!, list);
    }
  }
  return out;
}

/** Whether `ifname` holds a membership of `group` in the kernel (/proc/net/igmp, igmp6). */
export async function isMember(ns: Netns, family: IpFamily, ifname: string, group: Address): Promise<boolean> {
  const list = (await memberships(ns, family)).get(ifname) ?? [];
  return list.includes(family === "ipv4" ? group : hex6(group));
}

export interface SourceFilterRow {
  ifname: string;
  /** Group in the /proc form (dotted IPv4, 32 hex digits IPv6). */
  group: string;
  source: string;
  include: number;
  exclude: number;
}

/**
 * /proc/net/mcfilter or mcfilter6: one row per (interface, group, source) with the number of
 * sockets including / excluding it. Beware the kernel quirk: an interface whose most
 * recently joined group has no sources shows no rows at all; read this only where the
 * newest group of the interface has sources.
 */
export async function sourceFilters(ns: Netns, family: IpFamily): Promise<SourceFilterRow[]> {
  const text = await ns.readProc(family === "ipv4" ? "/proc/net/mcfilter" : "/proc/net/mcfilter6");
  const rows: SourceFilterRow[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const dotted = (h: string) => {
      const n = Number.parseInt(h, 16);
      return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
    };
    rows.push({
      ifname: f[1]!,
      group: family === "ipv4" ? dotted(f[2]!) : f[2]!,
      source: family === "ipv4" ? dotted(f[3]!) : f[3]!,
      include: Number(f[4]),
      exclude: Number(f[5]),
    });
  }
  return rows;
}

/** The mcfilter rows of `group` on `ifname`, sources in the family's text form. */
export async function upstreamSourceRows(
  ns: Netns,
  family: IpFamily,
  ifname: string,
  group: Address,
): Promise<SourceFilterRow[]> {
  const g = family === "ipv4" ? group : hex6(group);
  return (await sourceFilters(ns, family)).filter((r) => r.ifname === ifname && r.group === g);
}

/** `source` in the form mcfilter prints. */
export function procSource(family: IpFamily, source: Address): string {
  return family === "ipv4" ? source : hex6(source);
}

// ------------------------------------------------------------------ captured data packets

export interface WirePacket {
  /** Capture time, ms since the epoch. */
  at: number;
  source: Address;
  group: Address;
}

/** Starts a capture of UDP datagrams on `ifname` in `ns`. */
export function captureData(ns: Netns, ifname: string): Promise<Capture> {
  return startCapture(ns, ifname, "udp");
}

/** UDP datagrams to `port` in a stopped capture, in order. */
export async function dataPackets(file: string, family: IpFamily, port: number): Promise<WirePacket[]> {
  const ip = family === "ipv4" ? "ip" : "ipv6";
  const rows = await tsharkFields(file, `udp.dstport == ${port} && ${ip}`, [
    "frame.time_epoch",
    `${ip}.src`,
    `${ip}.dst`,
  ]);
  return rows.map(([t, s, g]) => ({ at: Number(t) * 1000, source: s ?? "", group: g ?? "" }));
}

/** The sequence numbers missing from `seqs` between its first expected and last values. */
export function gaps(seqs: number[], first = 0): number[] {
  const have = new Set(seqs);
  const last = Math.max(first, ...seqs);
  const missing: number[] = [];
  for (let i = first; i <= last; i++) if (!have.has(i)) missing.push(i);
  return missing;
}

// ------------------------------------------------------------------ captured reports

/** Record type names (RFC 9776 §4.2.12, RFC 9777 §5.2.12). */
export const RECORD_TYPES: Record<number, string> = {
  1: "IS_IN",
  2: "IS_EX",
  3: "TO_IN",
  4: "TO_EX",
  5: "ALLOW",
  6: "BLOCK",
};

export interface CapturedRecord {
  at: number;
  /** Sender of the report. */
  from: Address;
  type: string;
  group: Address;
  sources: Address[];
}

/** The IGMPv3 / MLDv2 report records in a stopped capture (taken by `captureControl`), in order. */
export async function reportRecords(file: string, family: IpFamily): Promise<CapturedRecord[]> {
  const v4 = family === "ipv4";
  const fields = v4
    ? ["frame.time_epoch", "ip.src", "igmp.record_type", "igmp.maddr", "igmp.num_src", "igmp.saddr"]
    : [
        "frame.time_epoch",
        "ipv6.src",
        "icmpv6.mldr.mar.record_type",
        "icmpv6.mldr.mar.multicast_address",
        "icmpv6.mldr.mar.nb_sources",
        "icmpv6.mldr.mar.source_address",
      ];
  const rows = await tsharkFields(file, v4 ? "igmp.type == 0x22" : "icmpv6.type == 143", fields);
  const out: CapturedRecord[] = [];
  for (const [t, from, types, groups, counts, sources] of rows) {
    const ty = (types ?? "").split(",");
    const gr = (groups ?? "").split(",");
    const ns = (counts ?? "").split(",").map(Number);
    const src = (sources ?? "").split(",").filter((s) => s.length > 0);
    let k = 0;
    ty.forEach((rt, i) => {
      const n = ns[i] ?? 0;
      out.push({
        at: Number(t) * 1000,
        from: from ?? "",
        type: RECORD_TYPES[Number(rt)] ?? rt,
        group: gr[i] ?? "",
        sources: src.slice(k, k + n),
      });
      k += n;
    });
  }
  return out;
}

/** Captures IGMP and MLD (the whole of IPv6) on `ifname` in `ns`. */
export function captureControl(ns: Netns, ifname: string): Promise<Capture> {
  return startCapture(ns, ifname, "igmp or (ip6 and not udp)");
}

/**
 * Runs `check` (an async function with assertions) until it passes or `timeoutMs` has
 * gone by; then rethrows its last failure. For kernel read-backs that may trail the
 * daemon's log line by a scheduling slice on a loaded machine.
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 2000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(everyMs);
    }
  }
}
