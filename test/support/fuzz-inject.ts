/**
 * The fuzzer's injector (bench/fuzz.ts): run inside a lab host namespace as
 * `node --import tsx test/support/fuzz-inject.ts '<json InjectOptions>'`, it sends packets
 * `start .. start+count-1` of `fuzzPacket(seed, link, i)` (test/support/fuzz-gen.ts) as
 * complete Ethernet frames through an AF_PACKET raw socket of the native addon
 * (socket(AF_PACKET, SOCK_RAW, 0) + sendmsg to a struct sockaddr_ll), so that every byte of
 * the IP header, its options and extension headers, fragments and spoofed sources is ours.
 *
 * With `'<json FrameListOptions>'` (a `framesFile` of hex frames, one per line) it sends
 * `count` packets cycling through those frames instead: hand-made packets, byte-exact, at
 * full speed (test/e2e/proxy-hostile-upstream.test.ts).
 *
 * Output, one JSON line each: {"progress":[firstIndex,lastIndex],"at":ms} per batch (to
 * find which packets were in flight when the daemon misbehaved), then the result
 * {"done":true,"packets":N,"frames":F,"bytes":B,"elapsedMs":T,"retries":R,"sendErrors":{errno:count}}.
 *
 * Imported, `startInjector(ns, opts)` runs that script in a namespace and follows it.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { netio } from "../../src/kernel/addon.js";
import type { Netns } from "../../src/lab/netns.js";
import type { IpFamily } from "../../src/wire/types.js";
import { type FuzzLink, fuzzPacket, type LinkRole } from "./fuzz-gen.js";

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface InjectOptions {
  family: IpFamily;
  role: LinkRole;
  seed: number;
  start: number;
  count: number;
  iface?: string;
  /** MACs as "aa:bb:cc:dd:ee:ff". */
  hostMac: string;
  routerMac: string;
  host: string;
  router: string;
  prefix: string;
  /** Packets per progress line (and per event-loop turn). */
  batch?: number;
}

/** Hand-made frames instead of generated ones: packet i is line `i mod lines` of the file. */
export interface FrameListOptions {
  /** Complete Ethernet frames in hex, one per line. */
  framesFile: string;
  count: number;
  iface?: string;
  batch?: number;
}

export interface InjectResult {
  done: true;
  packets: number;
  frames: number;
  bytes: number;
  elapsedMs: number;
  retries: number;
  sendErrors: Record<string, number>;
}

const AF_PACKET = 17;
const SOCK_RAW = 3;

export const macBytes = (m: string): Uint8Array =>
  Uint8Array.from(m.split(":").map((h) => Number.parseInt(h, 16)));

/** struct sockaddr_ll (20 bytes): family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]. */
export function sockaddrLl(ifindex: number, protocol: number, mac: Uint8Array): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(AF_PACKET, 0);
  b.writeUInt16BE(protocol, 2);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt16LE(1 /* ARPHRD_ETHER */, 8);
  b[10] = 0;
  b[11] = 6;
  b.set(mac.subarray(0, 6), 12);
  return b;
}

/**
 * Sends packets `start .. start+count-1` (each one or more frames, from `framesOf`) on
 * `iface`, `batch` packets per event-loop turn; a full send buffer is retried.
 */
async function sendPackets(
  o: { iface?: string; start: number; count: number; batch?: number },
  framesOf: (index: number) => Uint8Array[],
): Promise<InjectResult> {
  const ifindex = netio.ifNameToIndex(o.iface ?? "eth0");
  if (ifindex === 0) throw new Error(`no interface ${o.iface ?? "eth0"}`);
  const fd = netio.socket(AF_PACKET, SOCK_RAW, 0);
  const batch = o.batch ?? 500;
  const sendErrors: Record<string, number> = {};
  let frames = 0;
  let bytes = 0;
  let retries = 0;
  const t0 = performance.now();
  try {
    for (let i = o.start; i < o.start + o.count; i += batch) {
      const end = Math.min(o.start + o.count, i + batch);
      for (let k = i; k < end; k++) {
        for (const f of framesOf(k)) {
          const to = sockaddrLl(ifindex, (f[12]! << 8) | f[13]!, f.subarray(0, 6));
          for (let attempt = 0; ; attempt++) {
            try {
              netio.sendmsg(fd, f, to);
              frames++;
              bytes += f.length;
              break;
            } catch (err) {
              const code = (err as { code?: string }).code ?? "?";
              if ((code === "EAGAIN" || code === "ENOBUFS") && attempt < 100) {
                retries++;
                await new Promise((res) => setImmediate(res));
                continue;
              }
              sendErrors[code] = (sendErrors[code] ?? 0) + 1;
              break;
            }
          }
        }
      }
      process.stdout.write(`${JSON.stringify({ progress: [i, end - 1], at: Date.now() })}\n`);
      await new Promise((res) => setImmediate(res));
    }
  } finally {
    netio.close(fd);
  }
  return {
    done: true,
    packets: o.count,
    frames,
    bytes,
    elapsedMs: performance.now() - t0,
    retries,
    sendErrors,
  };
}

function runChild(o: InjectOptions): Promise<InjectResult> {
  const link: FuzzLink = {
    family: o.family,
    role: o.role,
    hostMac: macBytes(o.hostMac),
    routerMac: macBytes(o.routerMac),
    host: o.host,
    router: o.router,
    prefix: o.prefix,
  };
  return sendPackets(o, (k) => fuzzPacket(o.seed, link, k).frames);
}

function runFrameList(o: FrameListOptions): Promise<InjectResult> {
  const list = readFileSync(o.framesFile, "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l) => Uint8Array.from(Buffer.from(l.trim(), "hex")));
  if (list.length === 0) throw new Error(`no frames in ${o.framesFile}`);
  return sendPackets({ ...o, start: 0 }, (k) => [list[k % list.length]!]);
}

/** A running injector: its options, progress lines so far, and its result. */
export interface Injection<O extends InjectOptions | FrameListOptions = InjectOptions> {
  opts: O;
  progress: Array<{ first: number; last: number; at: number }>;
  result: Promise<InjectResult>;
  startedAt: number;
}

/** Runs the injector script in `ns` with `opts`; `result` rejects when it fails. */
export function startInjector<O extends InjectOptions | FrameListOptions>(ns: Netns, opts: O): Injection<O> {
  const proc = ns.spawn("node", ["--import", "tsx", SCRIPT, JSON.stringify(opts)], { cwd: ROOT });
  const progress: Injection<O>["progress"] = [];
  let result: InjectResult | undefined;
  let err = "";
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => {
    err += d;
  });
  const rl = createInterface({ input: proc.stdout! });
  rl.on("line", (line) => {
    const o = JSON.parse(line) as { progress?: [number, number]; at?: number } & Partial<InjectResult>;
    if (o.progress) progress.push({ first: o.progress[0], last: o.progress[1], at: o.at ?? Date.now() });
    else if (o.done) result = o as InjectResult;
  });
  const what = "framesFile" in opts ? `frames of ${opts.framesFile}` : `${opts.family}/${opts.role}`;
  const done = new Promise<InjectResult>((res, rej) => {
    proc.once("exit", (code) => {
      // Let readline deliver the last lines.
      setImmediate(() => {
        if (code === 0 && result) res(result);
        else rej(new Error(`injector ${what} in ${ns.name} exited ${code}: ${err.slice(-2000)}`));
      });
    });
  });
  return { opts, progress, result: done, startedAt: Date.now() };
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  const opts = JSON.parse(process.argv[2] ?? "{}") as InjectOptions | FrameListOptions;
  ("framesFile" in opts ? runFrameList(opts) : runChild(opts)).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
