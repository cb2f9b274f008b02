/**
 * `npm run bench`: every benchmark, one after the other, printing numbers (no pass/fail).
 * The network benchmarks need root (they build network namespaces) and are skipped with a
 * note otherwise.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

interface Bench {
  name: string;
  file: string;
  root: boolean;
}

const BENCHES: Bench[] = [
  { name: "router engine (virtual time)", file: "engine.ts", root: false },
  { name: "start-up time and idle footprint (netns, real kernel)", file: "startup.ts", root: true },
  { name: "join/leave latency (netns, real kernel)", file: "latency.ts", root: true },
  { name: "scale: groups and report bursts (netns, real kernel)", file: "scale.ts", root: true },
  { name: "flow-rate sampler at max-forwarding-entries (netns, real kernel)", file: "flow-rates.ts", root: true },
];

const isRoot = process.getuid?.() === 0;
for (const b of BENCHES) {
  const path = join(import.meta.dirname, b.file);
  if (!existsSync(path)) continue;
  process.stdout.write(`\n=== ${b.name} (bench/${b.file}) ===\n`);
  if (b.root && !isRoot) {
    process.stdout.write("needs root (network namespaces): not run\n");
    continue;
  }
  const mod = (await import(path)) as { main: () => Promise<unknown> };
  await mod.main();
}
