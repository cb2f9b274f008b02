/**
 * What the flood and soak benchmarks read about the daemon and the router's kernel, from
 * outside (so it works against any build): the process (/proc/PID: RSS, CPU, open fds),
 * the kernel's MFC and upstream memberships in the router namespace, the daemon's own
 * counters (`improxy show stats --json`) and heap (Prometheus endpoint, when configured).
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { promisify } from "node:util";
import type { Netns } from "../src/lab/netns.js";
import type { IpFamily } from "../src/wire/types.js";
import { groupsOnDevice } from "../test/support/burst.js";
import { CLI } from "../test/support/daemon.js";

const execFileP = promisify(execFile);
/** USER_HZ: /proc/PID/stat times are in these. */
const CLK_TCK = 100;

export interface ProcSample {
  at: number;
  rssKiB: number;
  /** utime + stime, seconds. */
  cpuS: number;
  fds: number;
}

/** One sample of the daemon process; null when it is gone. */
export function procSample(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields after the comm: state(3) ... utime(14) stime(15) -> indexes 11, 12 here.
    const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return {
      at: Date.now(),
      rssKiB: m ? Number(m[1]) : Number.NaN,
      cpuS,
      fds: readdirSync(`/proc/${pid}/fd`).length,
    };
  } catch {
    return null;
  }
}

/** The daemon's open fds: fd number -> what it points to ("socket:[123]", a path). */
export function fdTargets(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        out.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return out;
}

const SOCKET_TABLES = [
  "tcp",
  "tcp6",
  "udp",
  "udp6",
  "raw",
  "raw6",
  "unix",
  "netlink",
  "packet",
  "icmp",
  "icmp6",
];

/**
 * What kind of socket inode `inode` is, looked up in the process's view of /proc/net
 * (e.g. "tcp 0100007F:24F9 -> 0100007F:A1B2", "raw proto 2", "unix /tmp/x.sock").
 */
export function socketKind(pid: number, inode: number): string {
  for (const table of SOCKET_TABLES) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 2) continue;
      // unix: inode is field 6 and the path field 7; netlink: field 9; packet: field 8; inet: field 9.
      const idx = table === "unix" ? 6 : table === "netlink" ? 9 : table === "packet" ? 8 : 9;
      if (Number(f[idx]) !== inode) continue;
      if (table === "unix") return `unix ${f[7] ?? "(unnamed)"}`;
      if (table === "netlink") return `netlink proto ${f[1]}`;
      if (table === "packet") return "packet";
      return `${table} ${f[1]} -> ${f[2]}${table.startsWith("raw") ? ` (proto ${Number.parseInt(f[1]!.split(":")[1] ?? "0", 16)})` : ""}`;
    }
  }
  return "socket (not found in /proc/PID/net)";
}

/** Fds open in `end` that were not open (or pointed elsewhere) in `start`, as "fd -> target". */
export function newFds(start: Map<number, string>, end: Map<number, string>, pid?: number): string[] {
  return [...end]
    .filter(([fd, t]) => start.get(fd) !== t)
    .map(([fd, t]) => {
      const m = /^socket:\[(\d+)\]$/.exec(t);
      return `${fd} -> ${t}${m && pid !== undefined ? ` ${socketKind(pid, Number(m[1]))}` : ""}`;
    });
}

/** Samples the process every `everyMs` until stopped; keeps peak RSS, fds and CPU %. */
export class Sampler {
  private timer: NodeJS.Timeout;
  private last: ProcSample | null;
  readonly first: ProcSample | null;
  peakRssKiB = 0;
  peakFds = 0;
  peakCpuPct = 0;

  constructor(
    private readonly pid: number,
    everyMs = 250,
  ) {
    this.first = this.last = procSample(pid);
    this.timer = setInterval(() => this.tick(), everyMs);
  }

  private tick(): void {
    const s = procSample(this.pid);
    if (!s) return;
    this.peakRssKiB = Math.max(this.peakRssKiB, s.rssKiB);
    this.peakFds = Math.max(this.peakFds, s.fds);
    if (this.last && s.at > this.last.at) {
      this.peakCpuPct = Math.max(
        this.peakCpuPct,
        ((s.cpuS - this.last.cpuS) / ((s.at - this.last.at) / 1000)) * 100,
      );
    }
    this.last = s;
  }

  stop(): { peakRssKiB: number; peakFds: number; peakCpuPct: number; cpuS: number } {
    this.tick();
    clearInterval(this.timer);
    return {
      peakRssKiB: this.peakRssKiB,
      peakFds: this.peakFds,
      peakCpuPct: this.peakCpuPct,
      cpuS: (this.last?.cpuS ?? 0) - (this.first?.cpuS ?? 0),
    };
  }
}

/** CPU % of the process over `ms` (sleeps that long). */
export async function cpuPctOver(pid: number, ms: number): Promise<number> {
  const a = procSample(pid);
  await new Promise((r) => setTimeout(r, ms));
  const b = procSample(pid);
  if (!a || !b) return Number.NaN;
  return ((b.cpuS - a.cpuS) / ((b.at - a.at) / 1000)) * 100;
}

const CACHE: Record<IpFamily, string> = { ipv4: "/proc/net/ip_mr_cache", ipv6: "/proc/net/ip6_mr_cache" };

export interface MfcLine {
  group: string;
  origin: string;
  /** Outgoing vifs ("vif:ttl" fields); empty for entries that forward nowhere. */
  oifs: string[];
}

/** The MFC of the router namespace (ip_mr_cache / ip6_mr_cache lines). */
export async function mfcLines(ns: Netns, family: IpFamily): Promise<MfcLine[]> {
  const text = await ns.readProc(CACHE[family]);
  const out: MfcLine[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    out.push({ group: f[0]!, origin: f[1]!, oifs: f.slice(6).filter((x) => x.includes(":")) });
  }
  return out;
}

/** Whether a group as /proc/net/igmp(6) prints it is link-local scope (always joined, not managed). */
function linkLocal(family: IpFamily, printed: string): boolean {
  return family === "ipv4" ? printed.startsWith("224.0.0.") : /^ff0[12]/.test(printed);
}

/** Non-link-local groups the router's kernel has joined on `dev` (its upstream memberships). */
export async function upstreamGroups(ns: Netns, family: IpFamily, dev = "up0"): Promise<string[]> {
  const proc = await ns.readProc(family === "ipv4" ? "/proc/net/igmp" : "/proc/net/igmp6");
  return groupsOnDevice(family, proc, dev).filter((g) => !linkLocal(family, g));
}

/** `improxy show stats --json --socket PATH`; throws when the daemon does not answer. */
export async function readStats(socket: string): Promise<unknown> {
  const { stdout } = await execFileP(process.execPath, [CLI, "show", "stats", "--json", "--socket", socket], {
    timeout: 10_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as unknown;
}

/** `readStats`, null when the daemon does not answer. */
export async function showStats(socket: string): Promise<unknown> {
  try {
    return await readStats(socket);
  } catch {
    return null;
  }
}

/**
 * The non-zero counters of a stats document whose path names a drop, refusal or error
 * (e.g. "ipv4.interfaces.dn1.drops.rate-limited": 12), summed over nothing: one per leaf.
 */
export function dropCounters(doc: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (v: unknown, path: string[]) => {
    if (typeof v === "number") {
      const p = path.join(".");
      if (v !== 0 && /drop|refus|error|limit|overflow|reject/i.test(p)) out[p] = v;
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        const o = x as { name?: unknown; family?: unknown } | null;
        const name = o?.name ?? o?.family;
        walk(x, [...path, typeof name === "string" ? name : String(i)]);
      });
      return;
    }
    if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(doc, []);
  return out;
}

/** Where a daemon's memory is, in bytes, from its Prometheus endpoint (prom-client's default metrics). */
export interface MemoryFigures {
  heapUsed: number;
  heapTotal: number;
  /** Memory of C++ objects bound to JS ones (Buffers, ArrayBuffers), outside the V8 heap. */
  external: number;
}

/** The daemon's memory breakdown from its Prometheus endpoint inside `ns`; null without one. */
export async function memoryFigures(ns: Netns, listen: string | null): Promise<MemoryFigures | null> {
  if (!listen) return null;
  try {
    const { stdout } = await ns.exec("curl", ["-s", "--max-time", "5", `http://${listen}/metrics`]);
    const metric = (name: string) => {
      const m = new RegExp(`^${name}\\s+(\\S+)`, "m").exec(stdout);
      return m ? Number(m[1]) : Number.NaN;
    };
    const out = {
      heapUsed: metric("nodejs_heap_size_used_bytes"),
      heapTotal: metric("nodejs_heap_size_total_bytes"),
      external: metric("nodejs_external_memory_bytes"),
    };
    return Number.isNaN(out.heapUsed) ? null : out;
  } catch {
    return null;
  }
}

/** Heap used (bytes) from the daemon's Prometheus endpoint inside `ns`; null without one. */
export async function heapUsed(ns: Netns, listen: string | null): Promise<number | null> {
  return (await memoryFigures(ns, listen))?.heapUsed ?? null;
}

/** System load, for the record next to every figure (the machine is shared). */
export function loadAvg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
export const k = (n: number) => Math.round(n).toLocaleString("en-US");

/**
 * On SIGINT / SIGTERM: runs `cleanup` (stop what the bench started: daemon, senders, hosts;
 * at most 15 s), then exits; the Lab's exit hook removes the namespaces. Returns the remover.
 */
export function exitOnSignals(cleanup: () => Promise<void>): () => void {
  const onSig = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping what the bench started, removing the lab\n`);
    const t = setTimeout(() => process.exit(130), 15_000);
    cleanup().finally(() => {
      clearTimeout(t);
      process.exit(130);
    });
  };
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  return () => {
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
  };
}
