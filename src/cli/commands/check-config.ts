/**
 * `improxy check-config FILE [--json | --to yaml]`: validate and print the effective config,
 * or the equivalent YAML file; exit 0 or 1.
 */
import { configToJson, formatConfig } from "../../config/format.js";
import { loadConfigWithWarnings } from "../../config/load.js";
import { configToYaml } from "../../config/to-yaml.js";
import { ConfigError } from "../../config/types.js";
import { configProblemLine } from "../args.js";
import type { Printer } from "./daemon.js";

/** What check-config prints: the effective config as text or JSON, or a YAML config file. */
export type CheckConfigOutput = "text" | "json" | "yaml";

export function checkConfigCommand(
  file: string,
  output: CheckConfigOutput | boolean,
  stdout: Printer,
  stderr: Printer,
): number {
  const as: CheckConfigOutput = output === true ? "json" : output === false ? "text" : output;
  const json = as === "json";
  try {
    const parsed = loadConfigWithWarnings(file);
    const { config, warnings } = parsed;
    for (const w of warnings) stderr(configProblemLine(w.file, w.line, `warning: ${w.message}`));
    const text = as === "yaml" ? configToYaml(parsed) : json ? configToJson(config) : formatConfig(config);
    stdout(text.trimEnd());
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(configProblemLine(err.file, err.line, err.reason));
    if (json) stdout(JSON.stringify({ error: { file: err.file, line: err.line, reason: err.reason } }));
    return 1;
  }
}
