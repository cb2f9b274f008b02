/**
 * `improxy lab` cleans up whatever ends it: a reader of its output that goes away (EPIPE),
 * SIGTERM, SIGHUP, SIGINT mid-run; and what a run killed with SIGKILL leaves (its daemon,
 * running on in a namespace whose name is gone, the namespaces, the run directory) is
 * removed by the next run. The lab runs from dist/ as `improxy lab --duration 1`; "of that
 * run" is what carries its run id (imp<pid hex>x...): namespaces, `$TMPDIR/improxy-lab-<run id>-*`,
 * and every process found in its namespaces (`ip netns pids`) while it ran.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { signalExitCode } from "../../src/lab/exit-paths.js";
import { listNamespaces, run } from "../../src/lab/netns.js";
import { pidAlive, processesWithArgument, stopPid } from "../../src/lab/processes.js";
import { CLI } from "../support/daemon.js";
import { until } from "../support/scenario.js";

interface LabRun {
  proc: ChildProcess;
  /** Namespaces, run directories and nothing else of this run start with it. */
  runPrefix: string;
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: LabRun[] = [];

function startLab(): LabRun {
  const proc = spawn(process.execPath, [CLI, "lab", "--duration", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let err = "";
  let partial = "";
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    partial += d;
    const parts = partial.split("\n");
    partial = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once("exit", (code, signal) => res({ code, signal })),
  );
  const r = { proc, runPrefix: `imp${proc.pid!.toString(16)}x`, lines, stderr: () => err, exited };
  started.push(r);
  return r;
}

async function namespacesOf(r: LabRun): Promise<string[]> {
  return (await listNamespaces()).filter((n) => n.startsWith(r.runPrefix));
}

function runDirsOf(r: LabRun): string[] {
  return readdirSync(tmpdir())
    .filter((n) => n.startsWith(`improxy-lab-${r.runPrefix}`))
    .map((n) => join(tmpdir(), n));
}

/** Every process in the run's namespaces now: its daemon and its host programs. */
async function processesOf(r: LabRun): Promise<number[]> {
  const pids: number[] = [];
  for (const ns of await namespacesOf(r)) {
    const { stdout } = await run("ip", ["netns", "pids", ns]);
    pids.push(...stdout.split("\n").filter(Boolean).map(Number));
  }
  return pids;
}

/** The daemon's pid, from the pid file it writes (`improxy -c FILE -p PIDFILE`) in the run directory. */
async function daemonPid(r: LabRun): Promise<number> {
  let pid = 0;
  await until(
    () => {
      const file = runDirsOf(r)
        .map((d) => join(d, "improxy.pid"))
        .find((f) => existsSync(f));
      pid = file ? Number(readFileSync(file, "utf8").trim()) : 0;
      return pid > 0;
    },
    20_000,
    () => `no improxy.pid of ${r.runPrefix}; output: ${r.lines.join("\n")}`,
  );
  return pid;
}

/** Waits for a line of the lab's output matching `re`. */
function waitLine(r: LabRun, re: RegExp): Promise<void> {
  return until(
    () => r.lines.some((l) => re.test(l)),
    30_000,
    () => `no line ${re}; output:\n${r.lines.join("\n")}`,
  );
}

/** Nothing of the run is left: no namespace, no run directory, none of `pids` alive. */
async function assertNothingLeft(r: LabRun, pids: number[]): Promise<void> {
  assert.deepEqual(await namespacesOf(r), [], "no namespace of the run");
  assert.deepEqual(runDirsOf(r), [], "no run directory");
  assert.deepEqual(
    pids.filter((p) => pidAlive(p)),
    [],
    "no process of the run",
  );
}

/** A lab's own stderr stays empty: no stack trace, no message (the daemon's log goes to stdout). */
function assertQuiet(r: LabRun): void {
  assert.equal(r.stderr(), "", "nothing on stderr");
}

describe("improxy lab: every exit path cleans up", () => {
  after(async () => {
    // A failed test may leave its lab running or its leftovers: end and remove them.
    for (const r of started)
      if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill("SIGKILL");
    for (const r of started) {
      await r.exited;
      for (const dir of runDirsOf(r)) {
        for (const pid of processesWithArgument(join(dir, "improxy.yaml"))) await stopPid(pid);
        rmSync(dir, { recursive: true, force: true });
      }
      for (const ns of await namespacesOf(r)) await run("ip", ["netns", "del", ns]).catch(() => undefined);
    }
  });

  test("its output closed after 3 lines (EPIPE): exit 141 quietly, nothing left", async () => {
    const r = startLab();
    await until(() => r.lines.length >= 3, 20_000, "3 lines");
    const daemon = await daemonPid(r);
    const pids = await processesOf(r);
    assert.ok(pids.includes(daemon), `the daemon ${daemon} runs in the router namespace (${pids})`);
    // The reader goes away, as `improxy lab | head -3` does.
    r.proc.stdout!.destroy();
    const { code, signal } = await r.exited;
    assert.deepEqual([code, signal], [signalExitCode("SIGPIPE"), null]);
    assertQuiet(r);
    await assertNothingLeft(r, pids);
  });

  for (const sig of ["SIGTERM", "SIGHUP", "SIGINT"] as const) {
    test(`${sig} mid-run: exit 128 + n, the teardown runs, nothing left`, async () => {
      const r = startLab();
      await waitLine(r, /^received in 1 s/);
      const daemon = await daemonPid(r);
      const pids = await processesOf(r);
      assert.ok(pids.length >= 8, `the daemon and the host programs run (${pids})`);
      r.proc.kill(sig);
      const { code, signal } = await r.exited;
      assert.deepEqual([code, signal], [signalExitCode(sig), null]);
      assertQuiet(r);
      assert.ok(r.lines.includes(`${sig}: stopping the lab`), r.lines.join("\n"));
      assert.ok(r.lines.includes("improxy exited with code 0"), "the daemon stopped cleanly");
      assert.ok(!pidAlive(daemon));
      await assertNothingLeft(r, pids);
    });
  }

  test("SIGKILL: the daemon, namespaces and directory it leaves are removed by the next run", async () => {
    const killed = startLab();
    await waitLine(killed, /^received in 1 s/);
    const daemon = await daemonPid(killed);
    const pids = await processesOf(killed);
    const hosts = pids.filter((p) => p !== daemon);
    const [dir] = runDirsOf(killed);
    killed.proc.kill("SIGKILL");
    await killed.exited;
    // The host programs end with their lab (their stdin closes); the daemon does not.
    await until(() => hosts.every((p) => !pidAlive(p)), 5000, "the host programs end by themselves");
    assert.equal(pidAlive(daemon), true, "the orphaned daemon runs on");
    assert.equal((await namespacesOf(killed)).length, 4, "its namespaces are still there");
    assert.ok(dir !== undefined && existsSync(dir), "its run directory is still there");

    const next = startLab();
    const { code } = await next.exited;
    assert.equal(code, 0, `${next.stderr()}\n${next.lines.join("\n")}`);
    assertQuiet(next);
    assert.ok(
      next.lines.includes(`removed what a killed lab run left: ${dir}, stopped its improxy (pid ${daemon})`),
      next.lines.slice(0, 3).join("\n"),
    );
    await assertNothingLeft(killed, pids);
    await assertNothingLeft(next, []);

    // The next run is the whole demo: h1 receives nothing once it left, and joins nothing else.
    assert.ok(
      next.lines.some((l) => /^ {2}h1 after leave: 0 datagrams/.test(l)),
      next.lines.join("\n"),
    );
    // The counter that says 0 counted h1's stream before the leave (10 datagrams/s for 1 s).
    const before = next.lines.map((l) => /before the leave the counter saw (\d+);/.exec(l)).find(Boolean);
    assert.ok(before && Number(before[1]) >= 5, next.lines.join("\n"));
    assert.ok(!next.lines.some((l) => l.includes("239.1.1.9")), "no unexplained group");
    assert.ok(next.lines.includes("improxy exited with code 0"));
  });
});
