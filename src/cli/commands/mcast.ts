/** `improxy mcast -m GROUP (-r | -s) ...`: the multicast test tool (see ../mcast/run.ts). */
import { parseMcastOptions, type RawMcastOptions, UsageError } from "../mcast/options.js";
import { runReceiver, runSender } from "../mcast/run.js";
import type { Printer } from "./daemon.js";

export async function mcastCommand(raw: RawMcastOptions, stdout: Printer, stderr: Printer): Promise<number> {
  let opts: ReturnType<typeof parseMcastOptions>;
  try {
    opts = parseMcastOptions(raw);
  } catch (err) {
    if (err instanceof UsageError) {
      stderr(`improxy mcast: ${err.message}`);
      return 1;
    }
    throw err;
  }
  try {
    return opts.mode === "receive" ? await runReceiver(opts, stdout) : await runSender(opts, stdout);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (opts.json) stdout(JSON.stringify({ event: "error", message: e.message }));
    stderr(`improxy mcast: ${e.message}`);
    return 1;
  }
}
