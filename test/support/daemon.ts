/**
 * Runs the built daemon (dist/) inside a lab namespace and follows its JSON log lines.
 */
import type { ChildProcess } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Netns } from "../../src/lab/netns.js";
import { levelNumber } from "../../src/util/log.js";
import { tempDir } from "./temp.js";

export const CLI = resolve(import.meta.dirname, "../../dist/src/cli/main.js");

/**
 * The NODE_OPTIONS the service unit runs the daemon with (its `Environment=NODE_OPTIONS=`
 * line, read from contrib/improxy.service): the benchmarks measure the daemon as it is run.
 */
export const SERVICE_NODE_OPTIONS: string = (() => {
  const unit = readFileSync(resolve(import.meta.dirname, "../../contrib/improxy.service"), "utf8");
  const m = /^Environment=NODE_OPTIONS=(.+)$/m.exec(unit);
  if (!m) throw new Error("contrib/improxy.service sets no NODE_OPTIONS");
  return m[1]!.trim();
})();

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `improxy ARGS` (the built CLI) inside `ns`; resolves with exit code and output (never rejects). */
export function runCli(ns: Netns, args: string[]): Promise<CliResult> {
  const p = ns.spawn("node", [CLI, ...args]);
  let stdout = "";
  let stderr = "";
  p.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  p.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  return new Promise((res) => p.once("close", (code) => res({ code, stdout, stderr })));
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface DaemonRun {
  proc: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  /** Resolves with the first log line (past or future) matching; rejects after timeoutMs. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Writes a config file into a fresh temporary directory; returns its path. */
export function writeConfig(name: string, text: string): string {
  const dir = tempDir("improxy-test-");
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/**
 * A private /run/improxy for a daemon whose config cannot name its control socket
 * (igmpproxy and IMProxy files), so that it never meets another lab's daemon at the default
 * path: `prefix` (for `startDaemon`) runs it in a mount namespace of its own where
 * /run/improxy is a fresh temporary directory; `socket` is its control socket seen from outside.
 */
export function privateRunDir(): { prefix: string[]; socket: string } {
  const runDir = tempDir("improxy-run-");
  chmodSync(runDir, 0o755);
  return {
    prefix: [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mkdir -p /run/improxy && mount --bind "$0" /run/improxy && exec "$@"',
      runDir,
    ],
    socket: join(runDir, "improxy.sock"),
  };
}

/**
 * Starts `node dist/src/cli/main.js --log-format json ARGS` in `ns`; `opts.prefix` runs it
 * through a wrapper that execs it (e.g. setpriv), so the pid stays the daemon's;
 * `opts.asService` gives it the service unit's NODE_OPTIONS (the benchmarks); `opts.script`
 * runs another path to the CLI (a symlink named igmpproxy).
 */
export function startDaemon(
  ns: Netns,
  args: string[],
  opts: { prefix?: string[]; asService?: boolean; script?: string } = {},
): DaemonRun {
  const argv = [opts.script ?? CLI, "--log-format", "json", ...args];
  const prefix = [
    ...(opts.asService ? ["env", `NODE_OPTIONS=${SERVICE_NODE_OPTIONS}`] : []),
    ...(opts.prefix ?? []),
  ];
  const proc = prefix.length ? ns.spawn(prefix[0]!, [...prefix.slice(1), "node", ...argv]) : ns.spawn("node", argv);
  const lines: LogLine[] = [];
  let err = "";
  let buf = "";
  const waiters = new Set<() => void>();
  proc.stderr!.setEncoding("utf8");
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    err += d;
  });
  proc.stderr!.on("data", (d: string) => {
    err += d;
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
      try {
        const l = JSON.parse(line) as LogLine & { level: string | number };
        // The daemon writes the level as a word; tests compare pino's numbers (warn = 40).
        const level = typeof l.level === "number" ? l.level : levelNumber(l.level, 0);
        lines.push({ ...l, level, levelName: l.level });
      } catch {
        // not a JSON log line (e.g. a one-line CLI error)
      }
      for (const w of waiters) w();
    }
  });
  const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
  const run: DaemonRun = {
    proc,
    lines,
    stderr: () => err,
    exited,
    waitFor(pred, timeoutMs = 5000, what = "log line") {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        const check = () => {
          const l = lines.find(pred);
          if (l) {
            clearTimeout(t);
            waiters.delete(check);
            res(l);
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${err.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (waiters.has(check)) {
            clearTimeout(t);
            waiters.delete(check);
            rej(new Error(`daemon exited while waiting for ${what}; stderr:\n${err.slice(-3000)}`));
          }
        });
      });
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      // `ip netns exec` execs node, so the pid is the daemon's.
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return run;
}

/**
 * The YAML config of the 10,000-group tests and benches (test/e2e/scale-groups.test.ts,
 * bench/scale.ts): both families on up0 -> dn1, dn2, with the home-router limits
 * (max-groups 4096, max-groups-per-host 512, report-rate-limit 4000/s,
 * host-report-rate-limit 512/s, max-upstream-groups 4096, upstream-changes-per-second 5000)
 * raised far enough for one host to join 10,000 groups at once: they measure report intake
 * and membership spreading at that size, not those bounds (their own tests do).
 */
export const SCALE_CONFIG = [
  "igmp: { version: 3 }",
  "mld: { version: 2 }",
  "max-groups: 16384",
  "max-groups-per-host: 16384",
  "max-group-sources: 65536",
  "report-rate-limit: 100000",
  "host-report-rate-limit: 100000",
  "max-upstream-groups: 20000",
  "upstream-changes-per-second: 100000",
  "upstream: up0",
  "downstream: [dn1, dn2]",
  "",
].join("\n");

/** A control socket path in a fresh temporary directory (a test daemon's own). */
export function testControlSocket(): string {
  return join(tempDir("improxy-ctl-"), "improxy.sock");
}
