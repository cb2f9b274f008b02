/**
 * Loading a config file. The format: a name ending in .yaml / .yml is YAML; any other file
 * is read by its content, igmpproxy's format when its first directive is one only igmpproxy
 * has (igmpproxy-format.ts `looksLikeIgmpproxy`), else the IMProxy line format.
 * Synchronous: it runs once at startup (and on reload), before anything touches the kernel.
 */
import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { looksLikeIgmpproxy, parseIgmpproxyConfig } from "./igmpproxy-format.js";
import { parseImproxyConfig } from "./improxy-format.js";
import { ConfigError, type ImproxyConfig, type ParsedConfig } from "./types.js";
import { parseYamlConfig } from "./yaml-format.js";

/** The format of a file named `path` holding `text`. */
export function formatOf(path: string, text: string): ImproxyConfig["format"] {
  const ext = extname(path).toLowerCase();
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  return looksLikeIgmpproxy(text) ? "igmpproxy" : "improxy";
}

/** Parses config text in the given format; errors name `file` as given. */
export function parseConfigText(text: string, file: string, format: ImproxyConfig["format"]): ParsedConfig {
  switch (format) {
    case "yaml":
      return parseYamlConfig(text, file);
    case "igmpproxy":
      return parseIgmpproxyConfig(text, file);
    case "improxy":
      return { config: parseImproxyConfig(text, file), warnings: [] };
  }
}

/** Reads a config file as text; a file that cannot be read is a ConfigError at line 1. */
export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : (e.code ?? e.message);
    throw new ConfigError(path, 1, `cannot read the config file: ${why}`);
  }
}

/**
 * Reads and validates a config file with its warnings. Throws ConfigError (file as given
 * on the command line, 1-based line; line 1 when the file cannot be read). The returned
 * config's `file` is the absolute path.
 */
export function loadConfigWithWarnings(path: string): ParsedConfig {
  const text = readConfigFile(path);
  const parsed = parseConfigText(text, path, formatOf(path, text));
  parsed.config.file = resolve(path);
  return parsed;
}

/** Reads and validates a config file (see loadConfigWithWarnings); warnings are dropped. */
export function loadConfig(path: string): ImproxyConfig {
  return loadConfigWithWarnings(path).config;
}
