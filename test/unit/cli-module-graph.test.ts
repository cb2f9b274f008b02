/**
 * The daemon loads only what its run uses (docs/architecture.md "Memory"): no metrics
 * library without metrics, no web view without http, no pretty printer for the service's
 * JSON logs, no schema compiler at all, and none of the other commands' modules.
 * test/support/module-graph.ts starts what `improxy -c FILE` starts, short of the kernel
 * state, in a child process, and lists the files it loaded.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../support/temp.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SCRIPT = join(ROOT, "test/support/module-graph.ts");

/** The files loaded for `config` (written to a temporary directory), relative to the checkout. */
async function loadedFor(name: string, config: string): Promise<string[]> {
  const dir = tempDir("improxy-graph-");
  try {
    const file = join(dir, name);
    writeFileSync(file, config);
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", SCRIPT, file, dir], {
      cwd: ROOT,
    });
    return (JSON.parse(stdout) as string[]).map((p) => relative(ROOT, p));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const packageOf = (path: string) => /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];

/** Modules a daemon without metrics and http never needs. */
const NOT_FOR_THE_DAEMON = [
  /^src\/control\/metrics\.ts$/,
  /^src\/control\/web\//,
  /^src\/control\/http-server\.ts$/,
  /^src\/lab\//,
  /^src\/cli\/mcast\//,
  /^src\/cli\/commands\/(check-config|lab|mcast|reload|show|status)\.ts$/,
  /^src\/config\/to-yaml\.ts$/,
];

test("an IMProxy-format daemon without metrics or http loads no metrics, web, pretty printer, ajv or YAML parser", async () => {
  const loaded = await loadedFor("improxy.conf", "igmp enable\nupstream up0\ndownstream dn1\n");
  assert.ok(loaded.includes("src/daemon/daemon.ts"), "the daemon's modules are in the list");
  assert.ok(loaded.includes("src/control/server.ts"), "the control socket's modules are in the list");
  const packages = new Set(loaded.map(packageOf).filter((p) => p !== undefined));
  for (const p of ["prom-client", "pino-pretty", "ajv", "yaml"]) assert.ok(!packages.has(p), `${p} is not loaded`);
  assert.ok(packages.has("pino") && packages.has("commander"));
  for (const re of NOT_FOR_THE_DAEMON) assert.deepEqual(loaded.filter((f) => re.test(f)), [], `${re} is not loaded`);
});

test("a YAML daemon loads the YAML parser and the generated schema check, not ajv", async () => {
  const loaded = await loadedFor("improxy.yaml", "upstream: up0\ndownstream: [dn1]\n");
  const packages = new Set(loaded.map(packageOf).filter((p) => p !== undefined));
  assert.ok(packages.has("yaml"));
  assert.ok(loaded.includes("src/config/schema-validator.ts"));
  for (const p of ["prom-client", "pino-pretty", "ajv"]) assert.ok(!packages.has(p), `${p} is not loaded`);
  for (const re of NOT_FOR_THE_DAEMON) assert.deepEqual(loaded.filter((f) => re.test(f)), [], `${re} is not loaded`);
});

test("metrics and http load prom-client and the web view when they are on", async () => {
  const loaded = await loadedFor(
    "improxy.yaml",
    'upstream: up0\ndownstream: [dn1]\nmetrics: true\nhttp: { listen: metrics }\n',
  );
  const packages = new Set(loaded.map(packageOf).filter((p) => p !== undefined));
  assert.ok(packages.has("prom-client"));
  assert.ok(loaded.includes("src/control/metrics.ts"));
  assert.ok(loaded.includes("src/control/web/view.ts"));
  assert.ok(!packages.has("pino-pretty"));
});
