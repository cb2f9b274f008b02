/** `improxy reload [--socket PATH] [-c FILE]`: asks the running daemon to re-read its config (as SIGHUP). */
import type { Printer } from "./daemon.js";
import { askDaemon, type ControlCliOptions } from "./status.js";

export async function reloadCommand(
  opts: ControlCliOptions,
  stdout: Printer,
  stderr: Printer,
): Promise<number> {
  const data = await askDaemon(opts, { cmd: "reload" }, stderr);
  if (data === null) return 1;
  stdout("improxy: configuration reloaded");
  return 0;
}
