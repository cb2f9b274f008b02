/**
 * Issue 5 item 3: SIGHUP re-reads the config. Unchanged interfaces keep state and
 * forwarding with zero loss; an added downstream starts forwarding; an invalid config is
 * rejected with its reason and the running one kept; timer changes apply.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { startDaemon, writeConfig } from "../support/daemon.js";

import { sleep, until } from "../support/scenario.js";

const config = (downstreams: string[], queryInterval = 125) => `
igmp: { version: 3, query-interval: ${queryInterval}, query-max-response-time: 2 }
mld: { version: 2, query-interval: ${queryInterval}, query-max-response-time: 2 }
upstream: up0
downstream: [${downstreams.join(", ")}]
`;

/** Sequence numbers missing between the first and the last received. */
function gaps(seqs: number[]): number[] {
  const got = new Set(seqs);
  const missing: number[] = [];
  for (let s = Math.min(...seqs); s <= Math.max(...seqs); s++) if (!got.has(s)) missing.push(s);
  return missing;
}

describe("reload (SIGHUP)", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("loses no packet across 10 SIGHUPs, brings up an added downstream, rejects an invalid config, applies timer changes", async () => {
    const conf = writeConfig("reload.yaml", config(["dn1"]));
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    const rx4 = startReceiver(topo.h1, "239.7.7.7");
    const rx6 = startReceiver(topo.h1, "ff05::7:7", { port: 5002 });
    const tx4 = startSender(topo.up, "239.7.7.7", { intervalMs: 10 });
    const tx6 = startSender(topo.up, "ff05::7:7", { intervalMs: 10, port: 5002 });
    const rx4b = startReceiver(topo.h2, "239.7.7.7");
    try {
      await d.waitFor((l) => l.msg === "improxy starting", 8000, "start");
      await until(() => rx4.packets.length >= 20 && rx6.packets.length >= 20, 15_000, "streams reach h1");
      const from4 = rx4.packets.length;
      const from6 = rx6.packets.length;
      for (let i = 0; i < 10; i++) {
        d.proc.kill("SIGHUP");
        await d.waitFor(
          (l) => l.msg === "configuration reloaded" && d.lines.filter((x) => x.msg === "configuration reloaded").length > i,
          5000,
          `reload ${i + 1}`,
        );
        await sleep(150);
      }
      await sleep(300);
      const seq4 = rx4.packets.slice(from4 - 1).map((p) => p.seq);
      const seq6 = rx6.packets.slice(from6 - 1).map((p) => p.seq);
      assert.ok(seq4.length > 100, `IPv4 packets during the reloads: ${seq4.length}`);
      assert.deepEqual(gaps(seq4), [], "no IPv4 packet lost across 10 reloads");
      assert.deepEqual(gaps(seq6), [], "no IPv6 packet lost across 10 reloads");
      assert.equal(rx4b.packets.length, 0, "dn2 is not configured yet: h2 gets nothing");

      // Add dn2: it is attached and starts forwarding after the reload.
      writeFileSync(conf, config(["dn1", "dn2"]));
      const t0 = Date.now();
      d.proc.kill("SIGHUP");
      await d.waitFor((l) => l.msg === "interface added by reload" && l.interface === "dn2", 5000, "dn2 added");
      await d.waitFor((l) => l.msg === "interface attached" && l.interface === "dn2" && l.family === "ipv4", 5000, "dn2 attached");
      await until(() => rx4b.packets.length >= 5, 10_000 - (Date.now() - t0), "h2 receives after dn2 was added by reload");
      process.stdout.write(`# h2 receiving ${Date.now() - t0} ms after the reload that added dn2\n`);

      // An invalid config is rejected with its reason; forwarding goes on.
      writeFileSync(conf, "upstream: up0\ndownstream: [dn1, dn2]\nquery-interval: soon\n");
      d.proc.kill("SIGHUP");
      const rejected = await d.waitFor((l) => l.msg === "reload rejected, keeping the running configuration", 5000, "rejection");
      assert.match(String(rejected.error), /reload\.yaml:3: .*query-interval/);
      const n = rx4.packets.length;
      await sleep(300);
      assert.ok(rx4.packets.length > n + 10, "still forwarding after a rejected reload");

      // Timer change: a shorter query interval applies to the running routers.
      writeFileSync(conf, config(["dn1", "dn2"], 20));
      d.proc.kill("SIGHUP");
      await d.waitFor((l) => l.msg === "interface settings changed by reload" && l.interface === "dn1", 5000, "settings changed");
      await d.waitFor((l) => l.msg === "configuration reloaded" && d.lines.filter((x) => x.msg === "configuration reloaded").length >= 12, 5000, "reloaded");

      // Removing dn2 detaches it: its VIF goes and h2 stops receiving; dn1 is untouched.
      writeFileSync(conf, config(["dn1"], 20));
      d.proc.kill("SIGHUP");
      await d.waitFor((l) => l.msg === "interface removed by reload" && l.interface === "dn2", 5000, "dn2 removed");
      await sleep(200);
      const vifs = await topo.rtr.readProc("/proc/net/ip_mr_vif");
      assert.doesNotMatch(vifs, /dn2/, "dn2's VIF is gone");
      const h2count = rx4b.packets.length;
      const h1count = rx4.packets.length;
      await sleep(300);
      assert.equal(rx4b.packets.length, h2count, "h2 gets nothing once dn2 is removed");
      assert.ok(rx4.packets.length > h1count + 10, "h1 still receives");
    } finally {
      for (const p of [tx4, tx6, rx4, rx6, rx4b]) await p.stop();
      assert.equal(await d.stop(), 0);
    }
  });
});
