/**
 * `improxy -c FILE [-d LEVEL] [-p PIDFILE] [--log-format F | --log-target syslog ...]`:
 * validate the config, then run the daemon.
 */

import { loadConfigWithWarnings } from "../../config/load.js";
import { ConfigError } from "../../config/types.js";
import { startControlPlane } from "../../control/index.js";
import { runDaemon } from "../../daemon/daemon.js";
import { configProblemLine, type LogFormat } from "../args.js";
import { applyHeapPolicy } from "../heap-policy.js";
import type { SyslogSettings } from "../../util/syslog.js";

export interface DaemonCommand {
  configFile: string;
  debugLevel: number;
  pidFile: string | undefined;
  logFormat: LogFormat;
  /** Log to syslog (null: to stderr in `logFormat`). */
  syslog: SyslogSettings | null;
}

export type Printer = (line: string) => void;

/**
 * Loads the config (a problem: one line on stderr, exit 1, nothing touched), prints its
 * warnings, then runs the daemon and returns its exit code.
 */
export async function daemonCommand(cmd: DaemonCommand, stderr: Printer): Promise<number> {
  let parsed: ReturnType<typeof loadConfigWithWarnings>;
  try {
    parsed = loadConfigWithWarnings(cmd.configFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr(configProblemLine(err.file, err.line, err.reason));
      return 1;
    }
    throw err;
  }
  for (const w of parsed.warnings) stderr(configProblemLine(w.file, w.line, `warning: ${w.message}`));
  applyHeapPolicy();
  return runDaemon({
    config: parsed.config,
    debugLevel: cmd.debugLevel,
    ...(cmd.pidFile !== undefined ? { pidFile: cmd.pidFile } : {}),
    logFormat: cmd.logFormat,
    ...(cmd.syslog ? { syslog: cmd.syslog } : {}),
    operatorInterfaces: startControlPlane,
  });
}
