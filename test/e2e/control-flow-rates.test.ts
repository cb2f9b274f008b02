/**
 * Flow rates kept by the daemon (issue 11), against the real kernel: a sender on the
 * upstream host at 5 packets/s through the proxy to a receiver on h1; once the 10 s window
 * has filled, `improxy show routes --json` reports 5 pps (4.5 to 5.5) and the matching bit
 * rate, asked twice 0.3 s apart: the daemon samples the counters itself, so a request
 * right after another reads the same rate (it used to be computed between the two asks).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { StatusDocument } from "../../src/control/index.js";
import { type Receiver, type Sender, startReceiver, startSender } from "../../src/lab/hosts.js";
import type { Netns } from "../../src/lab/netns.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { CLI, type DaemonRun, startDaemon, writeConfig } from "../support/daemon.js";
import { eventually, sleep } from "../support/scenario.js";
import { tempDir } from "../support/temp.js";

const GROUP = "239.7.7.7";

async function showRoutes(ns: Netns, socket: string): Promise<StatusDocument> {
  const { stdout } = await ns.exec("node", [CLI, "show", "routes", "--json", "--socket", socket]);
  return JSON.parse(stdout) as StatusDocument;
}

describe("flow rates kept by the daemon (issue 11)", { timeout: 90_000 }, () => {
  let topo: Topology;
  let d: DaemonRun | null = null;
  let receiver: Receiver | null = null;
  let sender: Sender | null = null;
  const socket = join(tempDir("improxy-rates-"), "improxy.sock");
  let conf = "";

  before(async () => {
    topo = await buildTopology();
  });
  after(async () => {
    await sender?.stop();
    await receiver?.stop();
    await d?.stop();
    await topo?.destroy();
    for (const p of [dirname(socket), conf && dirname(conf)]) if (p) rmSync(p, { recursive: true, force: true });
  });

  it("a 5 packet/s stream reads 4.5 to 5.5 pps once the window filled, asked twice 0.3 s apart", async () => {
    conf = writeConfig(
      "improxy.yaml",
      ["upstream: up0", "downstream: [dn1, dn2]", "mld: { enabled: false }", `control-socket: ${socket}`, ""].join(
        "\n",
      ),
    );
    d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    await d.waitFor((l) => l.msg === "control socket listening", 10_000, "control socket");
    receiver = startReceiver(topo.h1, GROUP, { port: 5007 });
    await receiver.joined;
    sender = startSender(topo.up, GROUP, { port: 5007, intervalMs: 200, bind: topo.addr.up.v4 });
    await eventually(async () => assert.ok(receiver!.packets.length >= 2, "stream reaches h1"), 10_000);
    const route = (doc: StatusDocument) =>
      doc.families[0]?.routes?.find((r) => r.source === topo.addr.up.v4 && r.group === GROUP);
    // The window (10 s of samples every 2 s) fills.
    await sleep(12_500);
    const first = route(await showRoutes(topo.rtr, socket));
    await sleep(300);
    const second = route(await showRoutes(topo.rtr, socket));
    for (const [i, r] of [first, second].entries()) {
      assert.ok(r, `ask ${i + 1}: the (S,G) is listed`);
      assert.ok(r.pps !== null && r.pps >= 4.5 && r.pps <= 5.5, `ask ${i + 1}: pps ${r.pps} for 5 packets/s`);
      // 16-byte payloads: 44-byte IPv4 packets, 8 bits each.
      assert.ok(
        r.bitsPerSecond !== null && Math.abs(r.bitsPerSecond - r.pps * 44 * 8) <= 44 * 8,
        `ask ${i + 1}: ${r.bitsPerSecond} bit/s at ${r.pps} pps of 44-byte packets`,
      );
    }
    const text = await topo.rtr.exec("node", [CLI, "show", "routes", "--socket", socket]);
    const row = text.stdout.split("\n").find((l) => l.includes(GROUP))!.trim().split(/\s+/);
    assert.match(row[7]!, /^(4\.[5-9]|5(\.[0-5])?)$/, `PPS column: ${row[7]}`);
    assert.match(row[8]!, /^1\.[6-9]k$/, `BIT/S column: ${row[8]} (about 1.8k)`);
  });
});
