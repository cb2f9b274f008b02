/**
 * Data spray for the flood and soak benchmarks: one UDP socket in a host namespace sends
 * "IMPX" datagrams (the lab sender's format: seq at byte 4, Date.now() at byte 8) to many
 * groups (`groupAt` numbering), so every group is a distinct (S,G) at the router:
 *  - `once`: each group once, as fast as the socket takes them, then exits with one JSON
 *    line (sprayOnce);
 *  - otherwise: round-robin over the groups at `pps` until SIGTERM (startSpray).
 *
 * This file is the child program: `node --import tsx test/support/spray.ts '<json>'`.
 */
import type { ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { pathToFileURL } from "node:url";
import type { Netns } from "../../src/lab/netns.js";
import type { IpFamily } from "../../src/wire/types.js";
import { groupAt } from "./burst.js";
import { runScript } from "./child.js";

export interface SprayOptions {
  family: IpFamily;
  count: number;
  base?: number;
  port?: number;
  /** Send each group once as fast as possible, then exit. */
  once?: boolean;
  /** Datagrams per second in loop mode (default 1000). */
  pps?: number;
  ttl?: number;
}

export interface SprayResult {
  sent: number;
  elapsedMs: number;
  lastSentAt: number;
  errors: number;
}

export async function sprayOnce(ns: Netns, opts: Omit<SprayOptions, "once">): Promise<SprayResult> {
  const { code, stdout, stderr } = await runScript(ns, import.meta.filename, [
    JSON.stringify({ ...opts, once: true }),
  ]);
  if (code !== 0) throw new Error(`spray failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "") as SprayResult;
}

export interface Spray {
  proc: ChildProcess;
  stop(): Promise<void>;
}

export function startSpray(ns: Netns, opts: Omit<SprayOptions, "once">): Spray {
  const proc = ns.spawn("node", ["--import", "tsx", import.meta.filename, JSON.stringify(opts)]);
  proc.stdout!.resume();
  proc.stderr!.resume();
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  return {
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

async function runChild(opts: SprayOptions): Promise<SprayResult> {
  const v6 = opts.family === "ipv6";
  const sock = createSocket({ type: v6 ? "udp6" : "udp4" });
  await new Promise<void>((res) => sock.bind(0, res));
  sock.setMulticastTTL(opts.ttl ?? 8);
  const port = opts.port ?? 5900;
  const groups = Array.from({ length: opts.count }, (_, i) => groupAt(opts.family, i, opts.base ?? 0));
  let seq = 0;
  let errors = 0;
  const send = (g: string) =>
    new Promise<void>((res) => {
      const b = Buffer.alloc(16);
      b.write("IMPX", 0, "latin1");
      b.writeUInt32BE(seq++ >>> 0, 4);
      b.writeDoubleBE(Date.now(), 8);
      sock.send(b, port, g, (err) => {
        if (err) errors++;
        res();
      });
    });
  const start = performance.now();
  if (opts.once) {
    const batch = 256;
    for (let i = 0; i < groups.length; i += batch) await Promise.all(groups.slice(i, i + batch).map(send));
    const r = { sent: groups.length, elapsedMs: performance.now() - start, lastSentAt: Date.now(), errors };
    sock.close();
    return r;
  }
  const pps = opts.pps ?? 1000;
  let next = 0;
  let stop = false;
  process.on("SIGTERM", () => {
    stop = true;
  });
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((pps * tickMs) / 1000));
  while (!stop) {
    const t = performance.now();
    const jobs = [];
    for (let k = 0; k < perTick; k++) {
      jobs.push(send(groups[next]!));
      next = (next + 1) % groups.length;
    }
    await Promise.all(jobs);
    const wait = tickMs - (performance.now() - t);
    await new Promise((res) => setTimeout(res, Math.max(0, wait)));
  }
  sock.close();
  return { sent: seq, elapsedMs: performance.now() - start, lastSentAt: Date.now(), errors };
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  runChild(JSON.parse(process.argv[2] ?? "{}") as SprayOptions).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
