/**
 * `improxy reload [--json] [--socket PATH] [-c FILE]`: asks the running daemon to re-read its
 * config (as SIGHUP) and prints what changed, one line per change and per warning ("no
 * changes" when none; src/daemon/reload-report.ts), or the report as JSON. Returns once the
 * reload is applied (systemd's ExecReload). A rejected file: its reason (FILE:LINE: ...), exit 1.
 */
import { type ReloadReport, reloadReportLines } from "../../daemon/reload-report.js";
import type { Printer } from "./daemon.js";
import { askDaemon, type ControlCliOptions } from "./status.js";

export async function reloadCommand(
  opts: ControlCliOptions,
  stdout: Printer,
  stderr: Printer,
): Promise<number> {
  const data = await askDaemon(opts, { cmd: "reload" }, stderr);
  if (data === null) return 1;
  if (opts.json) stdout(JSON.stringify(data, null, 2));
  else for (const line of reloadReportLines(data as ReloadReport)) stdout(line);
  return 0;
}
