/** Running one of the support scripts (burst.ts, probe.ts) as a child process inside a lab namespace. */
import type { Netns } from "../../src/lab/netns.js";

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx SCRIPT ...args` in `ns` until it exits; collects its output. */
export async function runScript(ns: Netns, script: string, args: string[]): Promise<ScriptResult> {
  const proc = ns.spawn("node", ["--import", "tsx", script, ...args]);
  let stdout = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8");
  proc.stderr!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    stdout += d;
  });
  proc.stderr!.on("data", (d: string) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((res) => proc.once("exit", (c) => res(c)));
  return { code, stdout, stderr };
}
