/**
 * Crafted IGMPv3 / MLDv2 report sender for the scale tests and benchmarks.
 *
 * A host namespace's kernel joins at most `igmp_max_memberships` (20) groups per socket and
 * paces its own reports; to put 10,000 groups in front of the proxy quickly, this module
 * writes the reports itself through a raw socket of the native addon, exactly as a host
 * would send them (RFC 9776 §4.2 / RFC 9777 §5.2):
 *  - IGMPv3: raw `IPPROTO_IGMP` socket, to 224.0.0.22, TTL 1, Router Alert (IP_OPTIONS);
 *  - MLDv2: raw `IPPROTO_ICMPV6` socket, to ff02::16, hop limit 1, hop-by-hop Router Alert
 *    (IPV6_HOPOPTS); the kernel fills the ICMPv6 checksum and picks the link-local source.
 *
 * The same file is the child program: `sendReports()` spawns
 * `node --import tsx test/support/burst.ts '<json options>'` inside the host namespace (the
 * addon has no setns), which sends everything back to back and prints one JSON result line.
 */
import { pathToFileURL } from "node:url";
import type { Netns } from "../../src/lab/netns.js";
import { netio } from "../../src/kernel/addon.js";
import {
  IP_MULTICAST_TTL,
  IP_OPTIONS,
  IPPROTO_ICMPV6,
  IPPROTO_IGMP,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV4_ROUTER_ALERT_OPTION,
  IPV6_HOPOPTS,
  IPV6_MULTICAST_HOPS,
  IPV6_ROUTER_ALERT_HOPOPTS,
  SOCK_RAW,
} from "../../src/kernel/structs/mroute.js";
import { AF_INET, AF_INET6, sockaddrFor } from "../../src/kernel/structs/sockaddr.js";
import { ALL_V3_ROUTERS, serialize, v3Report } from "../../src/wire/index.js";
import type { Address, IpFamily } from "../../src/wire/types.js";
import { runScript } from "./child.js";

/** RFC 9776 §4.2.12 / RFC 9777 §5.2.12 record types used here. */
export const MODE_IS_EXCLUDE = 2;
export const CHANGE_TO_INCLUDE = 3;
export const CHANGE_TO_EXCLUDE = 4;

/**
 * The i-th test group of a family (i < 2^20): 239.<16+i>>16>.<i>>8>.<i> (IPv4, outside
 * 239.255/16 which is ignored by default) or ff05::<1+i>>16>:<i & 0xffff> (IPv6 site-local
 * ASM, not the ff3x:: SSM range).
 */
export function groupAt(family: IpFamily, i: number, base = 0): Address {
  const n = base + i;
  if (family === "ipv4") return `239.${16 + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
  return `ff05::${(1 + (n >>> 16)).toString(16)}:${(n & 0xffff).toString(16)}`;
}

export interface BurstOptions {
  family: IpFamily;
  /** Interface of the host the reports leave from (default "eth0"). */
  iface?: string;
  /** Number of groups (default 1). */
  count: number;
  /** Offset of the first group in `groupAt` numbering (default 0). */
  base?: number;
  /** Group records per report (default 1: one report per group). Keep under the MTU. */
  recordsPerReport?: number;
  /** Record type (default CHANGE_TO_EXCLUDE {} = join; CHANGE_TO_INCLUDE {} = leave). */
  recordType?: number;
  /** Pause in ms between reports (default 0: back to back). */
  gapMs?: number;
}

export interface BurstResult {
  /** Reports (datagrams) sent. */
  reports: number;
  /** Group records sent. */
  records: number;
  /** Wall-clock ms from the first to the last send. */
  elapsedMs: number;
  /** Date.now() after the last send (host clock; namespaces share it). */
  lastSentAt: number;
  /** Sends retried after EAGAIN / ENOBUFS. */
  retries: number;
}

/** Sends the reports from inside `ns` (a child process); resolves when all are sent. */
export async function sendReports(ns: Netns, opts: BurstOptions): Promise<BurstResult> {
  const { code, stdout: out, stderr: err } = await runScript(ns, import.meta.filename, [JSON.stringify(opts)]);
  if (code !== 0) throw new Error(`burst sender failed (exit ${code}): ${err.trim() || out.trim()}`);
  const last = out.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as BurstResult;
}

/** Builds every report of a burst (serialized, checksummed for IGMP). */
export function buildReports(opts: BurstOptions): Uint8Array[] {
  const per = Math.max(1, opts.recordsPerReport ?? 1);
  const recordType = opts.recordType ?? CHANGE_TO_EXCLUDE;
  const out: Uint8Array[] = [];
  for (let i = 0; i < opts.count; i += per) {
    const records = [];
    for (let j = i; j < Math.min(opts.count, i + per); j++) {
      records.push({ recordType, group: groupAt(opts.family, j, opts.base ?? 0) });
    }
    out.push(serialize(opts.family, v3Report(opts.family, records)));
  }
  return out;
}

/** One raw socket line of /proc/net/raw or /proc/net/raw6. */
export interface RawSocketLine {
  /** IP protocol (the "port" of local_address): 2 IGMP, 58 ICMPv6. */
  protocol: number;
  /** Bytes queued for reading (rx_queue). */
  rxQueue: number;
  /** Datagrams the kernel dropped at this socket (receive buffer full). */
  drops: number;
  inode: number;
}

/** Parses /proc/net/raw or /proc/net/raw6. */
export function rawSockets(proc: string): RawSocketLine[] {
  const out: RawSocketLine[] = [];
  for (const line of proc.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = f[1]!.split(":")[1] ?? "0";
    const rx = f[4]!.split(":")[1] ?? "0";
    out.push({
      protocol: Number.parseInt(port, 16),
      rxQueue: Number.parseInt(rx, 16),
      drops: Number(f[f.length - 1]),
      inode: Number(f[9]),
    });
  }
  return out;
}

/**
 * Groups joined on `dev` in /proc/net/igmp (IPv4, dotted) or /proc/net/igmp6 (IPv6, as the
 * file prints them: 32 hex digits, e.g. "ff050000000000000000000000010002").
 */
export function groupsOnDevice(family: IpFamily, proc: string, dev: string): string[] {
  const out: string[] = [];
  if (family === "ipv6") {
    for (const line of proc.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f[1] === dev && f[2] !== undefined) out.push(f[2]);
    }
    return out;
  }
  let inDev = false;
  for (const line of proc.split("\n").slice(1)) {
    const m = /^\d+\s+(\S+)\s*:/.exec(line);
    if (m) {
      inDev = m[1] === dev;
      continue;
    }
    const g = /^\s+([0-9A-F]{8})\s/.exec(line);
    if (inDev && g) {
      // Printed in host byte order (little-endian here).
      const n = Number.parseInt(g[1]!, 16);
      out.push([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join("."));
    }
  }
  return out;
}

/** Whether a group printed by `groupsOnDevice` is one of `groupAt`'s test groups. */
export function isTestGroup(family: IpFamily, printed: string): boolean {
  if (family === "ipv6") return printed.startsWith("ff05");
  const [a, b] = printed.split(".").map(Number);
  return a === 239 && b !== undefined && b >= 16 && b < 32;
}

const IGMP_PROC: Record<IpFamily, string> = { ipv4: "/proc/net/igmp", ipv6: "/proc/net/igmp6" };

/** Number of `groupAt` test groups joined on `dev` in the namespace's kernel. */
export async function countTestGroups(ns: Netns, family: IpFamily, dev: string): Promise<number> {
  const groups = groupsOnDevice(family, await ns.readProc(IGMP_PROC[family]), dev);
  return groups.filter((g) => isTestGroup(family, g)).length;
}

/**
 * Polls until at least `count` test groups are joined on `dev`; resolves with Date.now()
 * at the poll that saw them (host clock). Rejects after `timeoutMs`, naming how many were.
 */
export async function waitForTestGroups(
  ns: Netns,
  family: IpFamily,
  dev: string,
  count: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await countTestGroups(ns, family, dev);
    const t = Date.now();
    if (n >= count) return t;
    if (t > deadline) throw new Error(`only ${n} of ${count} groups joined on ${dev} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** All-routers report groups a router joins to hear IGMPv3 / MLDv2 reports, as groupsOnDevice prints them. */
const REPORT_GROUP: Record<IpFamily, string> = { ipv4: "224.0.0.22", ipv6: "ff020000000000000000000000000016" };

/**
 * Waits until the namespace's kernel shows the IGMPv3 / MLDv2 report group joined on `dev`:
 * the proxy is listening for reports there. Rejects after `timeoutMs`.
 */
export async function waitForReportGroup(
  ns: Netns,
  family: IpFamily,
  dev: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!groupsOnDevice(family, await ns.readProc(IGMP_PROC[family]), dev).includes(REPORT_GROUP[family])) {
    if (Date.now() > deadline)
      throw new Error(`${REPORT_GROUP[family]} not joined on ${dev} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Child side: opens the raw socket in the current namespace and sends the burst. */
/** A raw report socket of the host: TTL / hop limit 1 and Router Alert, as a host sends. */
export interface ReportSocket {
  fd: number;
  ifindex: number;
}

/** Opens a raw IGMP / ICMPv6 socket on `iface` set up as hosts send reports (module comment). */
export function openReportSocket(family: IpFamily, iface: string): ReportSocket {
  const v4 = family === "ipv4";
  const ifindex = netio.ifNameToIndex(iface);
  if (ifindex === 0) throw new Error(`no interface ${iface}`);
  const fd = netio.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, v4 ? IPPROTO_IGMP : IPPROTO_ICMPV6);
  try {
    if (v4) {
      netio.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, 1);
      netio.setsockopt(fd, IPPROTO_IP, IP_OPTIONS, IPV4_ROUTER_ALERT_OPTION);
    } else {
      netio.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
      netio.setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, IPV6_ROUTER_ALERT_HOPOPTS);
    }
  } catch (err) {
    netio.close(fd);
    throw err;
  }
  return { fd, ifindex };
}

/**
 * Sends one datagram, waiting a turn of the event loop while the socket's send buffer is
 * full (EAGAIN / ENOBUFS); returns how many times it had to wait.
 */
export async function sendWhenWritable(
  fd: number,
  data: Uint8Array,
  to: Uint8Array,
  ctl: { ifindex: number; hopLimit: number; src?: Uint8Array },
): Promise<number> {
  for (let retries = 0; ; retries++) {
    try {
      netio.sendmsg(fd, data, to, ctl);
      return retries;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EAGAIN" && code !== "ENOBUFS") throw err;
      await new Promise((res) => setImmediate(res));
    }
  }
}

async function runChild(opts: BurstOptions): Promise<BurstResult> {
  const sock = openReportSocket(opts.family, opts.iface ?? "eth0");
  try {
    const to = sockaddrFor(
      opts.family,
      ALL_V3_ROUTERS[opts.family],
      opts.family === "ipv4" ? {} : { scopeId: sock.ifindex },
    );
    const ctl = { ifindex: sock.ifindex, hopLimit: 1 };
    const reports = buildReports(opts);
    let retries = 0;
    const start = performance.now();
    for (const r of reports) {
      retries += await sendWhenWritable(sock.fd, r, to, ctl);
      if (opts.gapMs) await new Promise((res) => setTimeout(res, opts.gapMs));
    }
    const elapsedMs = performance.now() - start;
    return { reports: reports.length, records: opts.count, elapsedMs, lastSentAt: Date.now(), retries };
  } finally {
    netio.close(sock.fd);
  }
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  const opts = JSON.parse(process.argv[2] ?? "{}") as BurstOptions;
  runChild(opts).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
