/**
 * The fuzzer's short run (bench/fuzz.ts, `npm run fuzz`): 20,000 hostile IGMP / MLD packets
 * per family with a fixed seed, from a downstream host and the upstream host, against the
 * built daemon in the lab. The daemon must stay up, log nothing at error or fatal, grow its
 * RSS by at most 10 MB (after the warm-up) and still serve a real host's join on the other
 * downstream link.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runFuzz } from "../../bench/fuzz.js";

const SEED = 20240611;
const PACKETS = 20_000;

describe("fuzzer (short run)", { timeout: 120_000 }, () => {
  it(`${PACKETS} hostile packets per family (seed ${SEED}) neither crash the daemon nor make it log an error`, async () => {
    const lines: string[] = [];
    const t0 = Date.now();
    const r = await runFuzz({
      packets: PACKETS,
      seed: SEED,
      families: ["ipv4", "ipv6"],
      print: (l) => lines.push(l),
    });
    const out = lines.join("\n");
    assert.ok(Date.now() - t0 < 110_000, `the run took ${Date.now() - t0} ms\n${out}`);
    assert.equal(r.daemonDied, false, `the daemon died\n${out}`);
    assert.equal(r.exitCode, 0, `the daemon exited ${r.exitCode} on SIGTERM\n${out}`);
    assert.deepEqual(r.errorLines, [], `log lines at error or fatal\n${out}`);
    const growthKb = r.after.rssKb - r.before.rssKb;
    assert.ok(growthKb <= 10 * 1024, `RSS grew ${growthKb} kB\n${out}`);
    for (const fam of ["ipv4", "ipv6"]) {
      assert.ok(r.finalJoin[fam]?.ok, `${fam}: the final join on h2 was not served\n${out}`);
      const injected = r.injections.filter((x) => x.family === fam).reduce((s, x) => s + x.packets, 0);
      assert.equal(injected, PACKETS, `${fam}: packets injected\n${out}`);
      const s = r.stats[fam];
      assert.ok(s, `${fam}: no stats\n${out}`);
      // The hostile packets reached the daemon and were counted, not silently lost.
      const parseErrors = Object.values(s.parseErrors).reduce((a, b) => a + b, 0);
      const drops = Object.values(s.drops).reduce((a, b) => a + b, 0);
      assert.ok(parseErrors > 1000, `${fam}: ${parseErrors} parse errors counted\n${out}`);
      assert.ok(drops > 1000, `${fam}: ${drops} drops counted\n${out}`);
    }
    assert.deepEqual(r.failures, [], out);
  });
});
