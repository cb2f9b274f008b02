/** `improxy check-config FILE [--json]`: validate and print the effective config; exit 0 or 1. */
import { configToJson, formatConfig } from "../../config/format.js";
import { loadConfigWithWarnings } from "../../config/load.js";
import { ConfigError } from "../../config/types.js";
import { configProblemLine } from "../args.js";
import type { Printer } from "./daemon.js";

export function checkConfigCommand(file: string, json: boolean, stdout: Printer, stderr: Printer): number {
  try {
    const { config, warnings } = loadConfigWithWarnings(file);
    for (const w of warnings) stderr(configProblemLine(w.file, w.line, `warning: ${w.message}`));
    stdout(json ? configToJson(config).trimEnd() : formatConfig(config).trimEnd());
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(configProblemLine(err.file, err.line, err.reason));
    if (json) stdout(JSON.stringify({ error: { file: err.file, line: err.line, reason: err.reason } }));
    return 1;
  }
}
