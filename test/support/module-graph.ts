/**
 * Which files the daemon's start loads, without starting the daemon (test/unit/cli-module-graph.test.ts).
 *
 * Run as `node --import tsx test/support/module-graph.ts CONFIG DIR`: imports the CLI and the
 * daemon command as `improxy -c CONFIG` does, loads CONFIG, creates the service's logger
 * (json) and starts and closes the control plane for that config (its control socket in DIR,
 * its metrics endpoint, if any, on a free loopback port),
 * then prints the files loaded as a JSON list of paths: ES modules as the loader saw them
 * (a module.register hook) and CommonJS ones from the require cache.
 */
import { readFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [config, dir] = process.argv.slice(2);
if (config === undefined || dir === undefined) throw new Error("usage: module-graph.ts CONFIG DIR");
const record = join(dir, "loaded.txt");
register(pathToFileURL(join(import.meta.dirname, "loaded-modules-hook.mjs")), { data: { file: record } });

await import("../../src/cli/main.js");
await import("../../src/cli/commands/daemon.js");
const { loadConfigWithWarnings } = await import("../../src/config/load.js");
const { createLogger } = await import("../../src/util/log.js");
const { startControlPlane } = await import("../../src/control/index.js");
const { RealScheduler } = await import("../../src/clock/real.js");

const parsed = loadConfigWithWarnings(config);
const log = createLogger({ debugLevel: 0, format: "json" });
const scheduler = new RealScheduler();
const plane = await startControlPlane({
  config: {
    ...parsed.config,
    controlSocket: join(dir, "improxy.sock"),
    metricsListen: parsed.config.metricsListen === null ? null : "127.0.0.1:0",
  },
  families: [],
  log,
  scheduler,
  reload: async () => ({ ok: true }),
});
plane.close();
scheduler.close();

const esm = readFileSync(record, "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((u) => fileURLToPath(u));
const cjs = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(`${JSON.stringify([...new Set([...esm, ...cjs])])}\n`);
