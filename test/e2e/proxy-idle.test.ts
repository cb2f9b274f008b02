/**
 * Idle (S,G) forwarding entries expire by their kernel packet counters (SIOCGETSGCNT), not
 * by flushing: with `forwarding-idle-check: 1` a stopped stream's entry is gone within two
 * checks, an active one stays, and a stream that starts again is re-learned from the
 * kernel's upcall and forwarded.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { startDaemon, writeConfig } from "../support/daemon.js";

import { sleep, until } from "../support/scenario.js";

async function mroutes(topo: Topology): Promise<string> {
  const v4 = await topo.rtr.exec("ip", ["mroute", "show"]);
  const v6 = await topo.rtr.exec("ip", ["-6", "mroute", "show"]);
  return v4.stdout + v6.stdout;
}

describe("idle forwarding entries", { timeout: 60_000 }, () => {
  const topo = useLab(buildTopology);

  it("a stopped stream's (S,G) goes after two idle checks, an active one stays, a restarted one comes back", async () => {
    const conf = writeConfig(
      "idle.yaml",
      "forwarding-idle-check: 1\nigmp: { query-max-response-time: 1 }\nmld: { query-max-response-time: 1 }\nupstream: up0\ndownstream: [dn1, dn2]\n",
    );
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    const rxA = startReceiver(topo.h1, "239.6.6.1");
    const rxB = startReceiver(topo.h1, "ff05::6:2", { port: 5002 });
    const txA = startSender(topo.up, "239.6.6.1", { intervalMs: 10 });
    let txB = startSender(topo.up, "ff05::6:2", { intervalMs: 10, port: 5002 });
    try {
      await d.waitFor((l) => l.msg === "improxy starting", 8000, "start");
      await until(() => rxA.packets.length >= 20 && rxB.packets.length >= 20, 10_000, "both streams reach h1");
      let routes = await mroutes(topo);
      assert.match(routes, /\(10\.10\.0\.2,\s*239\.6\.6\.1\)/);
      assert.match(routes, /\(fd00:10::2,\s*ff05::6:2\)/);

      await txB.stop();
      const stoppedAt = Date.now();
      let goneAfter = -1;
      while (Date.now() - stoppedAt < 4000) {
        routes = await mroutes(topo);
        if (!/ff05::6:2/.test(routes)) {
          goneAfter = Date.now() - stoppedAt;
          break;
        }
        await sleep(100);
      }
      process.stdout.write(
        `# idle (S,G) removed ${goneAfter} ms after its stream stopped (checks every 1 s)\n`,
      );
      assert.ok(
        goneAfter >= 0 && goneAfter <= 2600,
        `idle entry removed within two checks (${goneAfter} ms)`,
      );
      await sleep(1500);
      assert.match(await mroutes(topo), /\(10\.10\.0\.2,\s*239\.6\.6\.1\)/, "the active entry stays");

      // The stream starts again: the kernel's upcall re-creates the entry and h1 gets it.
      const n = rxB.packets.length;
      txB = startSender(topo.up, "ff05::6:2", { intervalMs: 10, port: 5002 });
      await until(() => rxB.packets.length >= n + 10, 5000, "the restarted stream is forwarded again");
    } finally {
      for (const p of [txA, txB, rxA, rxB]) await p.stop();
      assert.equal(await d.stop(), 0);
    }
  });

  it("a source that moves to another link is re-learned: onto a non-outgoing link by the idle check, onto an outgoing link by WRONGVIF", async () => {
    const conf = writeConfig(
      "move.yaml",
      "forwarding-idle-check: 1\nigmp: { query-max-response-time: 1 }\nupstream: up0\ndownstream: [dn1, dn2]\nmld: { enabled: false }\n",
    );
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    const rx = startReceiver(topo.h1, "239.6.6.9", { port: 5009 });
    let tx = startSender(topo.up, "239.6.6.9", { intervalMs: 10, port: 5009, bind: "10.10.0.2" });
    try {
      await d.waitFor((l) => l.msg === "improxy starting", 8000, "start");
      await until(() => rx.packets.length >= 20, 10_000, "the stream reaches h1");
      assert.match(await mroutes(topo), /\(10\.10\.0\.2,\s*239\.6\.6\.9\)\s+Iif: up0/);

      // The source 10.10.0.2 now sends from h2 (dn2, not an outgoing link of the entry).
      await tx.stop();
      await topo.h2.addAddress("eth0", "10.10.0.2/32");
      const n = rx.packets.length;
      const moved = Date.now();
      tx = startSender(topo.h2, "239.6.6.9", { intervalMs: 10, port: 5009, bind: "10.10.0.2" });
      while (rx.packets.filter((p) => p.at > moved).length < 10) {
        assert.ok(
          Date.now() - moved < 5000,
          `the moved source reaches h1 again (${rx.packets.length - n} packets)`,
        );
        await sleep(50);
      }
      process.stdout.write(
        `# source moved upstream -> dn2: forwarded again after ${rx.packets.find((p) => p.at > moved)!.at - moved} ms\n`,
      );
      assert.match(await mroutes(topo), /\(10\.10\.0\.2,\s*239\.6\.6\.9\)\s+Iif: dn2\s+Oifs: dn1/);
      await d.waitFor(
        (l) => /source no longer arrives on the incoming link/.test(l.msg),
        1000,
        "the move is logged",
      );

      // Then it sends from h1 (dn1, an outgoing link): the kernel's WRONGVIF upcall moves the
      // entry at once. Idle checks are made rare first (reload), so only the upcall can do it.
      writeFileSync(
        conf,
        readFileSync(conf, "utf8").replace("forwarding-idle-check: 1", "forwarding-idle-check: 600"),
      );
      d.proc.kill("SIGHUP");
      await d.waitFor((l) => l.msg === "configuration reloaded", 5000, "reload");
      await sleep(1200); // the check armed before the reload fires once more, then every 600 s
      await tx.stop();
      await topo.h2.ip("addr", "del", "10.10.0.2/32", "dev", "eth0");
      await topo.h1.addAddress("eth0", "10.10.0.2/32");
      const moved2 = Date.now();
      tx = startSender(topo.h1, "239.6.6.9", { intervalMs: 10, port: 5009, bind: "10.10.0.2" });
      let after = -1;
      while (Date.now() - moved2 < 3000) {
        if (/\(10\.10\.0\.2,\s*239\.6\.6\.9\)\s+Iif: dn1/.test(await mroutes(topo))) {
          after = Date.now() - moved2;
          break;
        }
        await sleep(20);
      }
      process.stdout.write(`# source moved dn2 -> dn1 (an outgoing link): entry moved after ${after} ms\n`);
      assert.ok(
        after >= 0 && after < 900,
        `WRONGVIF re-learned the entry before any idle check could (${after} ms)`,
      );
    } finally {
      await tx.stop();
      await rx.stop();
      assert.equal(await d.stop(), 0);
    }
  });
});
