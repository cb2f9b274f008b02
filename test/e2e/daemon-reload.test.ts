/**
 * Issue 5 item 3: SIGHUP re-reads the config. Unchanged interfaces keep state and
 * forwarding with zero loss; an added downstream starts forwarding; an invalid config is
 * rejected with its reason and the running one kept; timer changes apply.
 * Issue 11: `improxy reload` returns once the reload is applied and prints what changed
 * (the same facts the log gets); a rejected file exits 1 with its reason.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { runCli, startDaemon, writeConfig } from "../support/daemon.js";

import { sleep, until } from "../support/scenario.js";
import { tempDir } from "../support/temp.js";

/** Each daemon's own control socket (never the default path other labs' daemons may use). */
const runDir = tempDir("improxy-reload-");
const SOCKET = join(runDir, "improxy.sock");

const config = (downstreams: string[], queryInterval = 125, extra: string[] = []) => `
igmp: { version: 3, query-interval: ${queryInterval}, query-max-response-time: 2 }
mld: { version: 2, query-interval: ${queryInterval}, query-max-response-time: 2 }
upstream: up0
downstream: [${downstreams.join(", ")}]
control-socket: ${SOCKET}
${extra.join("\n")}
`;

/** Sequence numbers missing between the first and the last received. */
function gaps(seqs: number[]): number[] {
  const got = new Set(seqs);
  const missing: number[] = [];
  for (let s = Math.min(...seqs); s <= Math.max(...seqs); s++) if (!got.has(s)) missing.push(s);
  return missing;
}

describe("reload (SIGHUP, improxy reload)", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);
  after(() => rmSync(runDir, { recursive: true, force: true }));

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

  it("improxy reload prints what changed (down-to-up, an added downstream, a restart-only setting as a warning) and logs it; a rejected file exits 1 with its reason, the old configuration runs on", async () => {
    const conf = writeConfig("reload-cli.yaml", config(["dn1"]));
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    const rx = startReceiver(topo.h1, "239.7.7.8", { port: 5003 });
    const tx = startSender(topo.up, "239.7.7.8", { intervalMs: 10, port: 5003 });
    const reload = (...args: string[]) => runCli(topo.rtr, ["reload", "--socket", SOCKET, ...args]);
    try {
      await d.waitFor((l) => l.msg === "control socket listening", 8000, "control socket");
      assert.deepEqual(await reload(), { code: 0, stdout: "no changes\n", stderr: "" });

      // down-to-up on dn1 only: one line printed, one log line for dn1, none for the others.
      writeFileSync(conf, config(["{ name: dn1, down-to-up: true }"]));
      assert.deepEqual(await reload(), { code: 0, stdout: "dn1: down-to-up false -> true\n", stderr: "" });
      const changed = d.lines.filter((l) => l.msg === "interface settings changed by reload");
      assert.deepEqual(
        changed.map((l) => [l.interface, l.changes]),
        [["dn1", ["down-to-up false -> true"]]],
      );

      // An added downstream: reported per family; attached once `improxy reload` returns.
      writeFileSync(conf, config(["{ name: dn1, down-to-up: true }", "dn2"]));
      const added = await reload();
      assert.deepEqual(added, {
        code: 0,
        stdout: "added ipv4 downstream dn2\nadded ipv6 downstream dn2\n",
        stderr: "",
      });
      const dn2 = await runCli(topo.rtr, ["show", "interfaces", "dn2", "--json", "--socket", SOCKET]);
      const doc = JSON.parse(dn2.stdout) as {
        families: Array<{ interfaces: Array<{ name: string; state: string }> }>;
      };
      assert.deepEqual(
        doc.families.flatMap((f) => f.interfaces.map((i) => `${i.name} ${i.state}`)),
        ["dn2 attached", "dn2 attached"],
        "the reload was applied when the command returned",
      );
      assert.ok(
        d.lines.some(
          (l) => l.msg === "interface added by reload" && l.interface === "dn2" && l.family === "ipv6",
        ),
      );

      // mroute-table changes only with a restart: a warning (printed and logged), exit 0.
      writeFileSync(conf, config(["{ name: dn1, down-to-up: true }", "dn2"], 125, ["mroute-table: 7"]));
      const warning = "mroute-table changes only with a restart: running kernel default, file 7";
      assert.deepEqual(await reload(), { code: 0, stdout: `no changes\nwarning: ${warning}\n`, stderr: "" });
      assert.ok(
        d.lines.some((l) => l.msg === warning && l.level === 40),
        "logged as a warning",
      );
      const json = await reload("--json");
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), {
        reloaded: true,
        file: conf,
        interfaces: [],
        settings: [],
        warnings: [warning],
      });

      // A rejected file: its reason, exit 1; the running configuration stays and forwards.
      writeFileSync(conf, "upstream: up0\ndownstream: [dn1]\nquery-interval: soon\n");
      const rejected = await reload();
      assert.equal(rejected.code, 1);
      assert.equal(rejected.stdout, "");
      assert.match(rejected.stderr, new RegExp(`^improxy: reload failed: ${conf}:3: .*query-interval.*\n$`));
      const n = rx.packets.length;
      await sleep(300);
      assert.ok(rx.packets.length > n + 10, "still forwarding after a rejected reload");
      const still = await runCli(topo.rtr, ["show", "interfaces", "dn2", "--socket", SOCKET]);
      assert.equal(still.code, 0, "dn2 (of the running configuration) is still there");
      assert.ok(d.proc.exitCode === null, "the daemon runs on");
    } finally {
      for (const p of [tx, rx]) await p.stop();
      assert.equal(await d.stop(), 0);
      rmSync(dirname(conf), { recursive: true, force: true });
    }
  });
});
