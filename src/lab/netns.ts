/**
 * Network-namespace primitives for the lab, the end-to-end tests and the benchmarks.
 *
 * Every namespace made here is named `imp<run>-<name>`, where `<run>` is a short id
 * unique to this process (pid + random). A run removes what it created in `destroy()`;
 * `sweepStale()` removes namespaces of earlier runs whose process is gone, so a crash
 * or `kill -9` never leaves them behind for long.
 */
import { type ChildProcess, execFile, execFileSync, spawn, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { pidAlive } from "./processes.js";

const execFileP = promisify(execFile);

export const NETNS_PREFIX = "imp";

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs a command, resolving with its output; rejects with stderr in the message on failure. */
export async function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<ExecResult> {
  try {
    const child = execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    if (opts.input !== undefined) {
      child.child.stdin?.end(opts.input);
    }
    const { stdout, stderr } = await child;
    return { stdout, stderr };
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: number };
    throw new Error(`${cmd} ${args.join(" ")} failed (${e.code ?? "?"}): ${(e.stderr ?? e.message).trim()}`);
  }
}

/** One network namespace. */
export class Netns {
  constructor(
    /** Full namespace name as `ip netns` knows it. */
    readonly name: string,
  ) {}

  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[], opts: { input?: string } = {}): Promise<ExecResult> {
    return run("ip", ["netns", "exec", this.name, cmd, ...args], opts);
  }

  /** `ip ARGS` inside the namespace. */
  ip(...args: string[]): Promise<ExecResult> {
    return run("ip", ["-n", this.name, ...args]);
  }

  /** Starts a long-running process inside the namespace. */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn("ip", ["netns", "exec", this.name, cmd, ...args], { stdio: "pipe", ...opts });
  }

  /** Sets a sysctl inside the namespace (`net.ipv4.conf.eth0.force_igmp_version`, "2"). */
  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec("sysctl", ["-q", "-w", `${key}=${value}`]);
  }

  /** Reads a file from the namespace's view of /proc (e.g. "/proc/net/igmp"). */
  async readProc(path: string): Promise<string> {
    return (await this.exec("cat", [path])).stdout;
  }

  /** Adds an address (CIDR) to an interface; IPv6 addresses are added with nodad. */
  async addAddress(ifname: string, cidr: string): Promise<void> {
    const v6 = cidr.includes(":");
    await this.ip(...(v6 ? ["-6"] : []), "addr", "add", cidr, "dev", ifname, ...(v6 ? ["nodad"] : []));
  }

  async linkUp(ifname: string): Promise<void> {
    await this.ip("link", "set", ifname, "up");
  }

  async linkDown(ifname: string): Promise<void> {
    await this.ip("link", "set", ifname, "down");
  }
}

/** Lists namespace names currently known to `ip netns`. */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.length > 0);
}

/**
 * The pid of the process that owns a run id, or a name that starts with one (a namespace
 * `imp<pidhex>x<rand>-<name>`): run ids encode it in hex. Undefined for other names.
 */
export function runOwner(name: string): number | undefined {
  const m = /^imp([0-9a-f]+)x[0-9a-f]+(-|$)/.exec(name);
  return m ? Number.parseInt(m[1]!, 16) : undefined;
}

/** True when run id `runId`'s process is gone (and it is not this process). */
export function runIsDead(runId: string): boolean {
  const pid = runOwner(runId);
  return pid !== undefined && pid !== process.pid && !pidAlive(pid);
}

/** Removes lab namespaces left by runs whose process no longer exists. */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    if (!runIsDead(name)) continue;
    await run("ip", ["netns", "del", name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/**
 * A set of namespaces and links owned by this process. Create with `Lab.create()`,
 * always `destroy()` in a finally block. A process exit hook removes leftovers too.
 */
export class Lab {
  readonly runId: string;
  private readonly namespaces: Netns[] = [];
  private static live = new Set<Lab>();
  private static hooked = false;

  private constructor() {
    this.runId = `${NETNS_PREFIX}${process.pid.toString(16)}x${randomBytes(2).toString("hex")}`;
  }

  static async create(): Promise<Lab> {
    await sweepStale().catch(() => undefined);
    const lab = new Lab();
    Lab.live.add(lab);
    if (!Lab.hooked) {
      Lab.hooked = true;
      process.on("exit", () => {
        for (const l of Lab.live) l.destroySync();
      });
    }
    return lab;
  }

  /** Creates namespace `<runId>-<name>` with loopback up. */
  async addNamespace(name: string): Promise<Netns> {
    const ns = new Netns(`${this.runId}-${name}`);
    await run("ip", ["netns", "add", ns.name]);
    this.namespaces.push(ns);
    await ns.ip("link", "set", "lo", "up");
    // Deterministic IPv6 for tests: no DAD delay, no router solicitations.
    await ns.sysctl("net.ipv6.conf.all.accept_dad", 0);
    await ns.sysctl("net.ipv6.conf.default.accept_dad", 0);
    return ns;
  }

  /** Creates a veth pair with one end in each namespace, both set up. */
  async addLink(a: Netns, ifA: string, b: Netns, ifB: string): Promise<void> {
    await run("ip", ["link", "add", ifA, "netns", a.name, "type", "veth", "peer", "name", ifB, "netns", b.name]);
    await a.linkUp(ifA);
    await b.linkUp(ifB);
  }

  /** Creates a bridge (multicast snooping off) in a namespace, set up. */
  async addBridge(ns: Netns, name: string): Promise<void> {
    await ns.ip("link", "add", name, "type", "bridge", "mcast_snooping", "0");
    await ns.linkUp(name);
  }

  /** Enslaves an interface to a bridge in the same namespace. */
  async attach(ns: Netns, ifname: string, bridge: string): Promise<void> {
    await ns.ip("link", "set", ifname, "master", bridge);
  }

  /** Deletes every namespace of this run (veths go with them). */
  async destroy(): Promise<void> {
    Lab.live.delete(this);
    for (const ns of this.namespaces.splice(0)) {
      await run("ip", ["netns", "del", ns.name]).catch(() => undefined);
    }
  }

  private destroySync(): void {
    for (const ns of this.namespaces.splice(0)) {
      try {
        // Last resort at process exit: synchronous removal.
        execFileSync("ip", ["netns", "del", ns.name], { stdio: "ignore" });
      } catch {
        /* already gone */
      }
    }
  }
}
