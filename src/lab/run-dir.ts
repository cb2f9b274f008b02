/**
 * The demo's run directory, `$TMPDIR/improxy-lab-<runId>-XXXXXX`: the daemon's config, its
 * pid file and its control socket. Named by the run id (which encodes the owner's pid,
 * netns.ts), so that the next run can tell a killed run's directory and remove it, after
 * stopping that run's daemon: a daemon whose lab was killed keeps running (in a namespace
 * whose name is gone) with no parent but init.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runIsDead } from "./netns.js";
import { processesWithArgument, stopPid } from "./processes.js";

const PREFIX = "improxy-lab-";

export interface RunDir {
  path: string;
  /** The daemon's config file: its `-c` argument, which identifies it in /proc. */
  config: string;
  /** The daemon's pid file (`-p`). */
  pidFile: string;
  controlSocket: string;
}

function runDir(path: string): RunDir {
  return {
    path,
    config: join(path, "improxy.yaml"),
    pidFile: join(path, "improxy.pid"),
    controlSocket: join(path, "improxy.sock"),
  };
}

/** Creates the run directory of run `runId`. */
export function createRunDir(runId: string): RunDir {
  return runDir(mkdtempSync(join(tmpdir(), `${PREFIX}${runId}-`)));
}

/** What the sweep removed of one dead run. */
export interface SweptRun {
  dir: string;
  /** Pids of that run's daemon stopped (normally one; none when it had not started). */
  daemons: number[];
}

/**
 * Removes the run directories of dead runs (their owner's pid is gone), first stopping
 * the daemons they started: a process is that run's daemon only when its command line has
 * that run's config file as an argument (/proc/PID/cmdline), so an unrelated process that
 * reuses the pid is never touched.
 */
export async function sweepDeadRuns(): Promise<SweptRun[]> {
  const swept: SweptRun[] = [];
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX) || !runIsDead(name.slice(PREFIX.length))) continue;
    const dir = runDir(join(tmpdir(), name));
    const daemons = processesWithArgument(dir.config);
    for (const pid of daemons) await stopPid(pid);
    rmSync(dir.path, { recursive: true, force: true });
    swept.push({ dir: dir.path, daemons });
  }
  return swept;
}
