/**
 * Join/leave latency probe for the latency tests and benchmarks: a receiver in a host
 * namespace that joins a group while a stream already flows, and times, on the host's own
 * clock (no cross-process clock comparison):
 *  - join -> first packet: from the moment `addMembership` returns to the first datagram the
 *    joined UDP socket receives;
 *  - leave -> last packet: from the moment `dropMembership` returns to the last datagram of
 *    the stream seen on the link after it. Once left, the UDP socket no longer sees the
 *    stream, so the link is watched with an AF_PACKET socket (through the native addon),
 *    which sees every frame the router still forwards onto it.
 * Between tries it waits until the link has been quiet for `quietMs` (forwarding stopped),
 * so every try starts from "stream flowing upstream, not forwarded onto this link". With
 * `flowing` the stream is forwarded onto the link whatever the host does (a static group):
 * tries are `quietMs` apart and the leave time is not measured (0).
 *
 * Like burst.ts, this file is also the child program, run with tsx inside the namespace.
 */
import { createSocket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { pathToFileURL } from "node:url";
import type { Netns } from "../../src/lab/netns.js";
import { netio } from "../../src/kernel/addon.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import { runScript } from "./child.js";

export interface ProbeOptions {
  group: string;
  /** UDP port of the stream (default 5001). */
  port?: number;
  /** Host interface (default "eth0"). */
  iface?: string;
  tries: number;
  /** The link counts as quiet after this long without a packet of the stream (default 150). */
  quietMs?: number;
  /** The stream stays on the link after a leave (a static group): no waiting for quiet. */
  flowing?: boolean;
  /** Give up on a join after this long (default 3000). */
  firstTimeoutMs?: number;
  /** Give up waiting for quiet after this long (default 10000). */
  quietTimeoutMs?: number;
}

export interface ProbeTry {
  /** ms from addMembership returning to the first datagram; null if none came in time. */
  joinMs: number | null;
  /** ms from dropMembership returning to the last datagram on the link (0: none after it). */
  leaveMs: number;
  /** The link never became quiet within quietTimeoutMs. */
  quietTimeout: boolean;
  /** Wall-clock ms (epoch, fractional) when addMembership returned. */
  joinedAt: number;
  /**
   * ms from addMembership returning to the host kernel's report leaving the link (the
   * host's own delay, RFC 9776 §5.1 state-change report timer); null if not seen.
   */
  reportMs: number | null;
  /**
   * The first datagram's send time (the lab sender writes Date.now() at byte 8) relative to
   * joinedAt, ms (integer resolution of the sender's clock); null if not a lab datagram.
   */
  firstSentMs: number | null;
  /** ms from dropMembership returning to the host's leave report on the link; null if not seen. */
  leaveReportMs: number | null;
}

/** Runs the probe inside `ns`; resolves with one entry per try. */
export async function runProbe(ns: Netns, opts: ProbeOptions): Promise<ProbeTry[]> {
  const { code, stdout: out, stderr: err } = await runScript(ns, import.meta.filename, [JSON.stringify(opts)]);
  if (code !== 0) throw new Error(`latency probe failed (exit ${code}): ${err.trim()}`);
  return out
    .trim()
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ProbeTry);
}

/** p-th percentile (0..100, nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

// ------------------------------------------------------------------ child side

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
/** htons(ETH_P_ALL) on a little-endian host. */
const ETH_P_ALL_BE = 0x0300;
const IPPROTO_UDP = 17;

/** Wall-clock ms with sub-millisecond resolution. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** Whether an IP packet (no link header) is a UDP datagram to group:port. */
function isStreamPacket(p: Uint8Array, group: Uint8Array, port: number): boolean {
  const version = (p[0] ?? 0) >> 4;
  let dst: number;
  let udp: number;
  if (version === 4 && group.length === 4) {
    if (p[9] !== IPPROTO_UDP) return false;
    dst = 16;
    udp = ((p[0] ?? 0) & 15) * 4;
  } else if (version === 6 && group.length === 16) {
    if (p[6] !== IPPROTO_UDP) return false;
    dst = 24;
    udp = 40;
  } else return false;
  if (p.length < udp + 4) return false;
  for (let i = 0; i < group.length; i++) if (p[dst + i] !== group[i]) return false;
  return ((p[udp + 2] ?? 0) << 8) + (p[udp + 3] ?? 0) === port;
}

/** Whether an IP packet is an IGMPv3 report (0x22) or an MLDv2 report (143) after a Hop-by-Hop header. */
function isV3Report(p: Uint8Array): boolean {
  const version = (p[0] ?? 0) >> 4;
  if (version === 4) return p[9] === 2 && p[((p[0] ?? 0) & 15) * 4] === 0x22;
  if (version !== 6) return false;
  if (p[6] === 58) return p[40] === 143;
  if (p[6] !== 0 || p.length < 48) return false;
  const hbhLen = ((p[41] ?? 0) + 1) * 8;
  return p[40] === 58 && p[40 + hbhLen] === 143;
}

async function runChild(opts: ProbeOptions): Promise<void> {
  const v6 = opts.group.includes(":");
  const iface = opts.iface ?? "eth0";
  const port = opts.port ?? 5001;
  const quietMs = opts.quietMs ?? 150;
  const groupBytes = v6 ? ipv6ToBytes(opts.group) : ipv4ToBytes(opts.group);
  const ifaddr = v6
    ? `::%${iface}`
    : (networkInterfaces()[iface]?.find((a) => a.family === "IPv4")?.address ?? "0.0.0.0");

  // Link watcher: last time a packet of the stream was seen on the wire.
  let lastSeen = 0;
  let lastReport = 0;
  const pfd = netio.socket(AF_PACKET, SOCK_DGRAM, ETH_P_ALL_BE);
  const rx = Buffer.alloc(2048);
  netio.pollStart(pfd, () => {
    for (;;) {
      const r = netio.recvmsg(pfd, rx);
      if (r === null) return;
      const p = rx.subarray(0, r.bytes);
      if (isStreamPacket(p, groupBytes, port)) lastSeen = now();
      else if (lastReport === 0 && isV3Report(p)) lastReport = now();
    }
  });

  // The receiver proper.
  const sock = createSocket({ type: v6 ? "udp6" : "udp4", reuseAddr: true });
  let onFirst: ((t: number) => void) | null = null;
  let firstSent: number | null = null;
  sock.on("message", (m: Buffer) => {
    const t = now();
    const cb = onFirst;
    if (cb === null) return;
    onFirst = null;
    firstSent = m.length >= 16 && m.toString("latin1", 0, 4) === "IMPX" ? m.readDoubleBE(8) : null;
    cb(t);
  });
  await new Promise<void>((res) => sock.bind(port, res));

  const waitQuiet = async (since: number): Promise<boolean> => {
    const deadline = since + (opts.quietTimeoutMs ?? 10_000);
    for (;;) {
      const t = now();
      if (t - Math.max(since, lastSeen) >= quietMs) return true;
      if (t > deadline) return false;
      await sleep(5);
    }
  };

  /** Between tries: the link quiet again, or (a flowing stream) a fixed pause. */
  const settle = async (since: number): Promise<boolean> => {
    if (!opts.flowing) return waitQuiet(since);
    await sleep(quietMs);
    return true;
  };

  await settle(now());
  for (let i = 0; i < opts.tries; i++) {
    const first = new Promise<number | null>((res) => {
      const timer = setTimeout(() => {
        onFirst = null;
        res(null);
      }, opts.firstTimeoutMs ?? 3000);
      onFirst = (t) => {
        clearTimeout(timer);
        res(t);
      };
    });
    lastReport = 0;
    firstSent = null;
    sock.addMembership(opts.group, ifaddr);
    const joinedAt = now();
    const firstAt = await first;
    const joinReport = lastReport;
    lastReport = 0;
    sock.dropMembership(opts.group, ifaddr);
    const leftAt = now();
    const quiet = await settle(leftAt);
    const result: ProbeTry = {
      joinMs: firstAt === null ? null : firstAt - joinedAt,
      leaveMs: !opts.flowing && lastSeen > leftAt ? lastSeen - leftAt : 0,
      quietTimeout: !quiet,
      joinedAt,
      reportMs: joinReport > joinedAt ? joinReport - joinedAt : null,
      firstSentMs: firstSent === null ? null : firstSent - joinedAt,
      leaveReportMs: lastReport > leftAt ? lastReport - leftAt : null,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  sock.close();
  netio.close(pfd);
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  runChild(JSON.parse(process.argv[2] ?? "{}") as ProbeOptions).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
