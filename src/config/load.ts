/**
 * Loading a config file: the format is chosen by extension (.yaml / .yml: YAML, anything
 * else: the IMProxy line format). Synchronous: it runs once at startup (and on reload),
 * before anything touches the kernel.
 */
import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { parseImproxyConfig } from "./improxy-format.js";
import { ConfigError, type ImproxyConfig } from "./types.js";
import { type ParsedConfig, parseYamlConfig } from "./yaml-format.js";

export function formatOf(path: string): ImproxyConfig["format"] {
  const ext = extname(path).toLowerCase();
  return ext === ".yaml" || ext === ".yml" ? "yaml" : "improxy";
}

/** Parses config text in the given format; errors name `file` as given. */
export function parseConfigText(text: string, file: string, format: ImproxyConfig["format"]): ParsedConfig {
  return format === "yaml"
    ? parseYamlConfig(text, file)
    : { config: parseImproxyConfig(text, file), warnings: [] };
}

/**
 * Reads and validates a config file with its warnings. Throws ConfigError (file as given
 * on the command line, 1-based line; line 1 when the file cannot be read). The returned
 * config's `file` is the absolute path.
 */
export function loadConfigWithWarnings(path: string): ParsedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : (e.code ?? e.message);
    throw new ConfigError(path, 1, `cannot read the config file: ${why}`);
  }
  const parsed = parseConfigText(text, path, formatOf(path));
  parsed.config.file = resolve(path);
  return parsed;
}

/** Reads and validates a config file (see loadConfigWithWarnings); warnings are dropped. */
export function loadConfig(path: string): ImproxyConfig {
  return loadConfigWithWarnings(path).config;
}
