/**
 * The `yaml` package, loaded at its first use: a daemon reading an IMProxy or igmpproxy
 * file never parses YAML and does not load it (docs/architecture.md "Memory"). For Node.js
 * the package is CommonJS (its "node" export), so require() gives the very module an
 * import would.
 */
import { createRequire } from "node:module";
import type * as Yaml from "yaml";

let lib: typeof Yaml | undefined;

export function yamlLib(): typeof Yaml {
  lib ??= createRequire(import.meta.url)("yaml") as typeof Yaml;
  return lib;
}
