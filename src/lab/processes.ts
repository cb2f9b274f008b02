/**
 * Stopping the lab's processes, whether they are this process's children (the daemon and
 * the host programs of a running lab) or orphans of a lab that was killed (found by their
 * command line in /proc).
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** True while `pid` exists and is not a zombie (an orphan's zombie waits for init to reap it). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** The arguments of process `pid` (/proc/PID/cmdline), or null when it is gone or unreadable. */
export function commandLine(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.length === 0 ? null : raw.replace(/\0$/, "").split("\0");
  } catch {
    return null;
  }
}

/** The processes (other than this one) one of whose arguments is exactly `arg`. */
export function processesWithArgument(arg: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (commandLine(pid)?.includes(arg)) found.push(pid);
  }
  return found;
}

/**
 * Stops a process that is not our child: SIGTERM, then SIGKILL if it is still there after
 * `graceMs`. Resolves with how it ended.
 */
export async function stopPid(pid: number, graceMs = 5000): Promise<"exited" | "killed" | "gone"> {
  if (!pidAlive(pid)) return "gone";
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return "gone";
  }
  for (const deadline = Date.now() + graceMs; Date.now() < deadline; await sleep(50)) {
    if (!pidAlive(pid)) return "exited";
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return "exited";
  }
  while (pidAlive(pid)) await sleep(20);
  return "killed";
}

/**
 * Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves with
 * its exit code (null when a signal ended it).
 */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => {
    timer = setTimeout(() => r("late"), graceMs);
  });
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (first !== "late") return first;
  child.kill("SIGKILL");
  return exited;
}
