/**
 * Report floods for the flood and soak benchmarks (bench/flood.ts, bench/soak.ts): like
 * burst.ts (raw IGMP / ICMPv6 socket, Router Alert, TTL / hop limit 1, to 224.0.0.22 /
 * ff02::16), plus what burst.ts has not:
 *  - records with sources (`sourcesPerRecord`, sources 10.200.x.y / fd00:200::x:y);
 *  - spoofed senders: `spoof` host addresses the reports rotate through (IP_PKTINFO /
 *    IPV6_PKTINFO source; the addresses must be on the host's interface, see
 *    `addSpoofAddresses`);
 *  - a serving mode: `startFloodAgent()` keeps one child per host namespace and takes one
 *    burst per request, so a soak does not pay a node + tsx start per burst.
 *
 * This file is the child program: `node --import tsx test/support/flood.ts '<json>'` sends
 * one burst and prints one JSON line; with `--serve` it reads one JSON burst per stdin line
 * and answers each with one JSON line.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { netio } from "../../src/kernel/addon.js";
import { sockaddrFor } from "../../src/kernel/structs/sockaddr.js";
import type { Netns } from "../../src/lab/netns.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import { ALL_V3_ROUTERS, serialize, v3Report } from "../../src/wire/index.js";
import type { Address, IpFamily } from "../../src/wire/types.js";
import {
  type BurstOptions,
  type BurstResult,
  groupAt,
  openReportSocket,
  type ReportSocket,
  sendWhenWritable,
} from "./burst.js";
import { runScript } from "./child.js";

/** RFC 9776 §4.2.12 / RFC 9777 §5.2.12 record types. */
export const RT = {
  IS_IN: 1,
  IS_EX: 2,
  TO_IN: 3,
  TO_EX: 4,
  ALLOW: 5,
  BLOCK: 6,
} as const;

/** burst.ts's report options (but pacing), with sources and spoofed senders. */
export interface FloodOptions extends Omit<BurstOptions, "gapMs" | "recordsPerReport"> {
  /** Records per report (default 100 without sources; keep reports under the MTU). */
  recordsPerReport?: number;
  /** Sources in every record (default 0), the same list for every group. */
  sourcesPerRecord?: number;
  /** Source addresses to rotate through, one per report (default: the kernel's choice). */
  spoof?: Address[];
}

export type FloodResult = BurstResult;

/** The k-th record source: 10.200.<k>>8>.<k> / fd00:200::<k>. */
export function sourceAt(family: IpFamily, k: number): Address {
  return family === "ipv4" ? `10.200.${(k >>> 8) & 255}.${k & 255}` : `fd00:200::${(k + 1).toString(16)}`;
}

/**
 * `n` spoofed host addresses for `family`: IPv4 10.11.4.2 .. within 10.11.4.0/22 (the bench
 * adds 10.11.4.1/22 to the router's dn1 so they are on-link), IPv6 link-local fe80::1:<i>.
 */
export function spoofAddresses(family: IpFamily, n: number): Address[] {
  const out: Address[] = [];
  for (let i = 0; i < n; i++) {
    const k = i + 2;
    out.push(family === "ipv4" ? `10.11.${4 + (k >>> 8)}.${k & 255}` : `fe80::1:${(i + 1).toString(16)}`);
  }
  return out;
}

/**
 * Lets `ns` send from the spoofed addresses. IPv4: puts them on `iface` (/32, one
 * `ip -batch`; IP_PKTINFO needs a local source). IPv6: net.ipv6.ip_nonlocal_bind = 1 instead,
 * which lets IPV6_PKTINFO name any source: adding 1,000 addresses would make the host
 * kernel join (and keep reporting) 1,000 solicited-node groups of its own.
 */
export async function addSpoofAddresses(ns: Netns, family: IpFamily, addrs: Address[], iface = "eth0"): Promise<void> {
  if (family === "ipv6") {
    await ns.sysctl("net.ipv6.ip_nonlocal_bind", 1);
    return;
  }
  const lines = addrs.map((a) => `addr add ${a}/32 dev ${iface}`);
  await ns.exec("ip", ["-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** Sends one burst from inside `ns` (a child process). */
export async function sendFlood(ns: Netns, opts: FloodOptions): Promise<FloodResult> {
  const { code, stdout, stderr } = await runScript(ns, import.meta.filename, [JSON.stringify(opts)]);
  if (code !== 0) throw new Error(`flood sender failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "") as FloodResult;
}

/** A long-lived sender in a host namespace: one burst per `send`, in order. */
export interface FloodAgent {
  send(opts: FloodOptions): Promise<FloodResult>;
  stop(): Promise<void>;
}

export function startFloodAgent(ns: Netns): FloodAgent {
  const proc: ChildProcess = ns.spawn("node", ["--import", "tsx", import.meta.filename, "--serve"]);
  const waiting: Array<{ res: (r: FloodResult) => void; rej: (e: Error) => void }> = [];
  let err = "";
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => {
    err += d;
  });
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const w = waiting.shift();
    if (!w) return;
    const o = JSON.parse(line) as FloodResult & { error?: string };
    if (o.error) w.rej(new Error(`flood agent: ${o.error}`));
    else w.res(o);
  });
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  void exited.then(() => {
    for (const w of waiting.splice(0)) w.rej(new Error(`flood agent exited: ${err.trim()}`));
  });
  return {
    send(opts) {
      return new Promise((res, rej) => {
        waiting.push({ res, rej });
        proc.stdin!.write(`${JSON.stringify(opts)}\n`);
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.end();
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Every report of a burst, serialized. */
export function buildFlood(opts: FloodOptions): Uint8Array[] {
  const nsrc = opts.sourcesPerRecord ?? 0;
  const per = Math.max(1, opts.recordsPerReport ?? (nsrc === 0 ? 100 : 1));
  const recordType = opts.recordType ?? RT.TO_EX;
  const sources = Array.from({ length: nsrc }, (_, k) => sourceAt(opts.family, k));
  const out: Uint8Array[] = [];
  for (let i = 0; i < opts.count; i += per) {
    const records = [];
    for (let j = i; j < Math.min(opts.count, i + per); j++) {
      records.push({ recordType, group: groupAt(opts.family, j, opts.base ?? 0), sources });
    }
    out.push(serialize(opts.family, v3Report(opts.family, records)));
  }
  return out;
}

// ------------------------------------------------------------------ child side

async function sendBurst(sock: ReportSocket, opts: FloodOptions): Promise<FloodResult> {
  const to = sockaddrFor(
    opts.family,
    ALL_V3_ROUTERS[opts.family],
    opts.family === "ipv4" ? {} : { scopeId: sock.ifindex },
  );
  const srcs = (opts.spoof ?? []).map((a) => (opts.family === "ipv4" ? ipv4ToBytes(a) : ipv6ToBytes(a)));
  const reports = buildFlood(opts);
  let retries = 0;
  const start = performance.now();
  for (let i = 0; i < reports.length; i++) {
    const ctl = srcs.length
      ? { ifindex: sock.ifindex, hopLimit: 1, src: srcs[i % srcs.length]! }
      : { ifindex: sock.ifindex, hopLimit: 1 };
    retries += await sendWhenWritable(sock.fd, reports[i]!, to, ctl);
  }
  return {
    reports: reports.length,
    records: opts.count,
    elapsedMs: performance.now() - start,
    lastSentAt: Date.now(),
    retries,
  };
}

async function serve(): Promise<void> {
  const socks = new Map<string, ReportSocket>();
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === "") continue;
    try {
      const opts = JSON.parse(line) as FloodOptions;
      const key = `${opts.family}/${opts.iface ?? "eth0"}`;
      let s = socks.get(key);
      if (!s) {
        s = openReportSocket(opts.family, opts.iface ?? "eth0");
        socks.set(key, s);
      }
      process.stdout.write(`${JSON.stringify(await sendBurst(s, opts))}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ error: String((err as Error).message ?? err) })}\n`);
    }
  }
  for (const s of socks.values()) netio.close(s.fd);
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  const fail = (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  };
  if (process.argv[2] === "--serve") serve().then(() => process.exit(0), fail);
  else {
    const opts = JSON.parse(process.argv[2] ?? "{}") as FloodOptions;
    const sock = openReportSocket(opts.family, opts.iface ?? "eth0");
    sendBurst(sock, opts).then((r) => {
      netio.close(sock.fd);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }, fail);
  }
}
