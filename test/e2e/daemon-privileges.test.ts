/**
 * Issue 5 items 5 and 6: the daemon runs as a non-root user with only CAP_NET_ADMIN and
 * CAP_NET_RAW (as contrib/improxy.service runs it) and forwards; after `kill -9` a new
 * instance starts on the same table and receivers get the stream back within
 * startup-query-interval + 1 s, rebuilt from the hosts' answers to its startup queries.
 */
import assert from "node:assert/strict";
import { chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { type Receiver, startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { startDaemon, writeConfig } from "../support/daemon.js";

import { sleep } from "../support/scenario.js";

async function packetsAfter(rx: Receiver, t: number, n: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const got = rx.packets.filter((p) => p.at >= t);
    if (got.length >= n) return got[0]!.at;
    if (Date.now() - t0 > timeoutMs) throw new Error(`only ${got.length} packets within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function confWithSocketDir(name: string, body: string): string {
  const path = writeConfig(name, body);
  chmodSync(dirname(path), 0o777);
  return path;
}

const NOBODY = [
  "setpriv",
  "--reuid=65534",
  "--regid=65534",
  "--clear-groups",
  "--inh-caps=-all,+net_admin,+net_raw",
  "--ambient-caps=-all,+net_admin,+net_raw",
  "--bounding-set=-all,+net_admin,+net_raw",
];

describe("privileges and restarts", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("runs as nobody with only CAP_NET_ADMIN + CAP_NET_RAW and forwards IPv4 and IPv6", async () => {
    const probe = writeConfig("probe", "");
    const dir = dirname(probe);
    chmodSync(dir, 0o777); // the control socket goes here: writable for uid 65534
    const conf = confWithSocketDir(
      "nonroot.yaml",
      `control-socket: ${join(dir, "improxy.sock")}\nigmp: { query-max-response-time: 1 }\nmld: { query-max-response-time: 1 }\nupstream: up0\ndownstream: [dn1, dn2]\n`,
    );
    chmodSync(conf, 0o644);
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"], { prefix: NOBODY });
    const rx4 = startReceiver(topo.h1, "239.8.8.8");
    const rx6 = startReceiver(topo.h1, "ff05::8:8", { port: 5002 });
    const tx4 = startSender(topo.up, "239.8.8.8", { intervalMs: 10 });
    const tx6 = startSender(topo.up, "ff05::8:8", { intervalMs: 10, port: 5002 });
    try {
      await d.waitFor((l) => l.msg === "interface attached" && l.interface === "dn1" && l.family === "ipv6", 8000, "attached");
      const status = await topo.rtr.readProc(`/proc/${d.proc.pid}/status`);
      assert.match(status, /^Uid:\s+65534\s/m, "runs as uid 65534");
      assert.match(status, /^CapEff:\s+0000000000003000$/m, "effective capabilities: NET_ADMIN + NET_RAW only");
      await packetsAfter(rx4, 0, 10, 10_000);
      await packetsAfter(rx6, 0, 10, 10_000);
      assert.deepEqual(
        d.lines.filter((l) => l.level >= 50).map((l) => l.msg),
        [],
        "no error logged",
      );
    } finally {
      for (const p of [tx4, tx6, rx4, rx6]) await p.stop();
      assert.equal(await d.stop(), 0, d.stderr().slice(-1500));
    }
    assert.doesNotMatch(await topo.rtr.readProc("/proc/net/ip_mr_vif"), /dn1/, "cleaned up as non-root too");
  });

  it("after kill -9, a new instance starts on the same table and the stream is back within startup-query-interval + 1 s", async () => {
    const startupQueryInterval = 2;
    const conf = writeConfig(
      "restart.yaml",
      `igmp: { query-max-response-time: 1, startup-query-interval: ${startupQueryInterval} }\nmld: { query-max-response-time: 1, startup-query-interval: ${startupQueryInterval} }\nupstream: up0\ndownstream: [dn1, dn2]\n`,
    );
    const rx4 = startReceiver(topo.h1, "239.9.9.9");
    const rx6 = startReceiver(topo.h2, "ff05::9:9", { port: 5002 });
    const tx4 = startSender(topo.up, "239.9.9.9", { intervalMs: 10 });
    const tx6 = startSender(topo.up, "ff05::9:9", { intervalMs: 10, port: 5002 });
    const first = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    try {
      await packetsAfter(rx4, 0, 10, 10_000);
      await packetsAfter(rx6, 0, 10, 10_000);
      first.proc.kill("SIGKILL");
      await first.exited;
      const killedAt = Date.now();
      await sleep(500);
      const quiet = rx4.packets.filter((p) => p.at > killedAt + 100).length;
      assert.equal(quiet, 0, "nothing forwarded while no daemon runs (the kernel dropped the old state)");

      const second = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
      try {
        await second.waitFor((l) => l.msg === "improxy starting", 8000, "second instance started");
        const startedAt = Date.now();
        const back4 = (await packetsAfter(rx4, startedAt, 1, 10_000)) - startedAt;
        const back6 = (await packetsAfter(rx6, startedAt, 1, 10_000)) - startedAt;
        process.stdout.write(`# stream back after restart: IPv4 ${back4} ms, IPv6 ${back6} ms\n`);
        const bound = (startupQueryInterval + 1) * 1000;
        assert.ok(back4 <= bound, `IPv4 back in ${back4} ms (bound ${bound})`);
        assert.ok(back6 <= bound, `IPv6 back in ${back6} ms (bound ${bound})`);
      } finally {
        assert.equal(await second.stop(), 0);
      }
    } finally {
      for (const p of [tx4, tx6, rx4, rx6]) await p.stop();
      await first.stop();
    }
  });
});
