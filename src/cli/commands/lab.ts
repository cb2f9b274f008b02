/** `improxy lab [--duration S]`: the namespace demo (src/lab/demo.ts). */
import { runLab } from "../../lab/demo.js";
import type { Printer } from "./daemon.js";

export async function labCommand(durationText: string | undefined, stderr: Printer): Promise<number> {
  const duration = durationText === undefined ? 4 : Number(durationText);
  if (
    durationText !== undefined &&
    (!/^\d+(\.\d+)?$/.test(durationText) || !Number.isFinite(duration) || duration < 1)
  ) {
    stderr(`improxy lab: --duration must be a number of seconds >= 1, got "${durationText}"`);
    return 1;
  }
  return runLab({ duration });
}
