/** Daemon lifecycle: config -> interfaces -> engines; signals; cleanup. (Being built.) */
import type { ImproxyConfig } from "../config/types.js";

export interface DaemonOptions {
  config: ImproxyConfig;
  /** IMProxy `-d` level 0..5. */
  debugLevel: number;
  pidFile?: string;
  logFormat: "pretty" | "json";
}

/** Runs the daemon in the foreground until SIGTERM/SIGINT; resolves with the exit code. */
export async function runDaemon(_opts: DaemonOptions): Promise<number> {
  throw new Error("daemon not implemented yet");
}
