/**
 * `improxy check-config FILE [--json | --to yaml]`: validate and print the effective config,
 * or the equivalent YAML file; exit 0 or 1.
 */
import { existsSync } from "node:fs";
import { configToJson, formatConfig } from "../../config/format.js";
import { loadConfigWithWarnings } from "../../config/load.js";
import { configToYaml } from "../../config/to-yaml.js";
import { ConfigError, type ConfigWarning, type ImproxyConfig } from "../../config/types.js";
import { configProblemLine } from "../args.js";
import type { Printer } from "./daemon.js";

/** What check-config prints: the effective config as text or JSON, or a YAML config file. */
export type CheckConfigOutput = "text" | "json" | "yaml";

/**
 * Warnings about the host, not the file: configured interfaces this host does not have (in
 * this network namespace). A typo would otherwise mean a daemon that waits for ever.
 * `exists` tells whether an interface exists (default: /sys/class/net/NAME).
 */
export function missingInterfaceWarnings(
  config: ImproxyConfig,
  exists: (name: string) => boolean = (name) => existsSync(`/sys/class/net/${name}`),
): ConfigWarning[] {
  return [...config.upstreams, ...config.downstreams]
    .filter((i) => !exists(i.name))
    .map((i) => ({
      file: config.file,
      line: i.line,
      message: `interface "${i.name}" does not exist on this host (a typo? the daemon would wait for it)`,
    }));
}

export function checkConfigCommand(
  file: string,
  output: CheckConfigOutput | boolean,
  stdout: Printer,
  stderr: Printer,
  interfaceExists?: (name: string) => boolean,
): number {
  const as: CheckConfigOutput = output === true ? "json" : output === false ? "text" : output;
  const json = as === "json";
  try {
    const parsed = loadConfigWithWarnings(file);
    const { config, warnings } = parsed;
    for (const w of [...warnings, ...missingInterfaceWarnings(config, interfaceExists)])
      stderr(configProblemLine(w.file, w.line, `warning: ${w.message}`));
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
