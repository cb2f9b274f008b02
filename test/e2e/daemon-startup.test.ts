/**
 * Issue 2 acceptance: the daemon owns the kernel's multicast routing for its interfaces,
 * speaks well-formed queries the hosts answer, and cleans up after itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildTopology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { startCapture, tsharkFields, tsharkProblems } from "../support/capture.js";
import { startDaemon, writeConfig } from "../support/daemon.js";
import { memberships, until, vifNames } from "../support/scenario.js";
import { startReceiver } from "../../src/lab/hosts.js";

const LEGACY = "igmp enable version 3\nmld enable\nupstream up0\ndownstream dn1\ndownstream dn2\n";

describe("daemon startup and shutdown (IMProxy-format config)", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("creates one VIF and one MIF per interface, joins the report groups, sends clean queries the hosts answer, and removes everything on SIGTERM", async () => {
    const conf = writeConfig("legacy.conf", LEGACY);
    const recv4 = startReceiver(topo.h1, "239.1.2.3");
    const recv6 = startReceiver(topo.h1, "ff05::1:2", { port: 5002 });
    await Promise.all([recv4.joined, recv6.joined]);
    const cap = await startCapture(topo.h1, "eth0");
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "4"]);
    try {
      for (const family of ["ipv4", "ipv6"]) {
        for (const ifname of ["up0", "dn1", "dn2"]) {
          await d.waitFor(
            (l) => l.msg === "interface attached" && l.family === family && l.interface === ifname,
            10_000,
            `${family} ${ifname} attached`,
          );
        }
      }
      assert.deepEqual(await vifNames(topo.rtr, "ipv4"), ["dn1", "dn2", "up0"]);
      assert.deepEqual(await vifNames(topo.rtr, "ipv6"), ["dn1", "dn2", "up0"]);

      const g4 = await memberships(topo.rtr, "ipv4");
      const g6 = await memberships(topo.rtr, "ipv6");
      for (const dn of ["dn1", "dn2"]) {
        assert.ok(g4.get(dn)?.includes("224.0.0.22"), `${dn} joined 224.0.0.22: ${g4.get(dn)}`);
        assert.ok(g4.get(dn)?.includes("224.0.0.2"), `${dn} joined 224.0.0.2`);
        assert.ok(g6.get(dn)?.includes("ff020000000000000000000000000016"), `${dn} joined ff02::16`);
        assert.ok(g6.get(dn)?.includes("ff020000000000000000000000000002"), `${dn} joined ff02::2`);
      }
      assert.ok(!g4.get("up0")?.includes("224.0.0.22"), "no report-group join on the upstream");

      // The hosts' kernels answer the startup queries: the engine learns both groups on dn1.
      await d.waitFor(
        (l) => l.msg === "link state" && l.group === "239.1.2.3" && l.interface === "dn1",
        10_000,
        "IGMP report",
      );
      await d.waitFor(
        (l) => l.msg === "link state" && l.group === "ff05::1:2" && l.interface === "dn1",
        10_000,
        "MLD report",
      );
      await cap.stop();

      const q4 = await tsharkFields(cap.file, "igmp.type == 0x11", [
        "ip.src",
        "ip.ttl",
        "ip.opt.type",
        "igmp.version",
      ]);
      assert.ok(q4.length >= 1, "an IGMP query reached h1");
      for (const [src, ttl, opt, version] of q4) {
        assert.equal(src, "10.11.0.1");
        assert.equal(ttl, "1");
        assert.match(opt ?? "", /148|0x94/, "Router Alert option present");
        assert.equal(version, "3");
      }
      const q6 = await tsharkFields(cap.file, "icmpv6.type == 130", [
        "ipv6.src",
        "ipv6.hlim",
        "ipv6.opt.type",
        "icmpv6.mld.flag.qrv",
      ]);
      assert.ok(q6.length >= 1, "an MLD query reached h1");
      for (const [src, hlim, opt] of q6) {
        assert.match(src ?? "", /^fe80::/);
        assert.equal(hlim, "1");
        assert.match(opt ?? "", /5/, "Router Alert hop-by-hop option present");
      }
      const mldv2 = await tsharkFields(cap.file, "icmpv6.type == 130 && frame.len >= 90", ["frame.number"]);
      assert.ok(mldv2.length >= 1, "MLDv2 (28-byte) query");
      const reports = await tsharkFields(cap.file, "igmp.type == 0x22 || icmpv6.type == 143", [
        "frame.number",
      ]);
      assert.ok(reports.length >= 2, "the host answered with IGMPv3 and MLDv2 reports");
      assert.deepEqual(await tsharkProblems(cap.file), [], "tshark finds nothing malformed");
    } finally {
      const code = await d.stop();
      await recv4.stop();
      await recv6.stop();
      assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr().slice(-2000)}`);
    }
    // A clean shutdown logs each detach at info (why: stopping), nothing at warn or above.
    const stopping = d.lines.findIndex((l) => l.msg === "stopping: removing forwarding state");
    assert.ok(stopping >= 0, "the stopping line");
    const after = d.lines.slice(stopping);
    assert.deepEqual(
      after
        .filter((l) => l.msg === "interface detached")
        .map((l) => `${l.family} ${l.interface} ${l.levelName} ${l.why}`)
        .sort(),
      ["dn1", "dn2", "up0"].flatMap((i) => [`ipv4 ${i} info stopping`, `ipv6 ${i} info stopping`]).sort(),
    );
    assert.deepEqual(after.filter((l) => l.level >= 40).map((l) => l.msg), [], "no warning while stopping");
    assert.deepEqual(await vifNames(topo.rtr, "ipv4"), [], "no VIF left");
    assert.deepEqual(await vifNames(topo.rtr, "ipv6"), [], "no MIF left");
    assert.equal(
      (await topo.rtr.readProc("/proc/net/ip_mr_cache")).split("\n").filter((l) => l.trim()).length,
      1,
    );
    assert.equal(
      (await topo.rtr.readProc("/proc/net/ip6_mr_cache")).split("\n").filter((l) => l.trim()).length,
      1,
    );
    const g4 = await memberships(topo.rtr, "ipv4");
    for (const [dev, groups] of g4)
      assert.deepEqual(
        groups.filter((g) => g !== "224.0.0.1"),
        [],
        `${dev} memberships left`,
      );
    assert.equal(
      (await topo.rtr.readProc("/proc/net/mcfilter")).split("\n").filter((l) => l.trim()).length,
      1,
    );
  });

  it("a second instance on the same table fails with a clear message, not a stack trace; SIGUSR1 prints the tables", async () => {
    const conf = writeConfig("legacy.conf", LEGACY);
    const first = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    try {
      await first.waitFor((l) => l.msg === "improxy starting", 10_000, "first instance started");
      const second = startDaemon(topo.rtr, ["-c", conf]);
      const code = await second.exited;
      assert.notEqual(code, 0);
      assert.match(second.stderr(), /already in use/);
      assert.doesNotMatch(second.stderr(), /\n\s+at /, "no stack trace");

      // SIGUSR1 writes the state tables (as IMProxy did) and never opens Node's inspector.
      // With JSON logs: one log line per view, each holding the control socket's document.
      first.proc.kill("SIGUSR1");
      await first.waitFor((l) => l.msg === "state tables" && l.view === "routes", 5000, "the routes view logged");
      const dumps = first.lines.filter((l) => l.msg === "state tables");
      assert.deepEqual(
        dumps.map((l) => [l.view, l.levelName]),
        [
          ["status", "info"],
          ["groups", "info"],
          ["routes", "info"],
        ],
      );
      const status = dumps[0]!.state as { families: Array<{ family: string; interfaces: Array<{ name: string }> }> };
      assert.deepEqual(
        status.families.map((f) => [f.family, f.interfaces.map((i) => i.name).sort()]),
        [
          ["ipv4", ["dn1", "dn2", "up0"]],
          ["ipv6", ["dn1", "dn2", "up0"]],
        ],
      );
      assert.doesNotMatch(first.stderr(), /SOURCE\s+GROUP\s+INCOMING/, "no text table among JSON lines");
      const listening = await topo.rtr.exec("ss", ["-ltn"]);
      assert.doesNotMatch(listening.stdout, /:9229\b/, "no inspector port opened");
      assert.equal(first.proc.exitCode, null, "still running");
    } finally {
      assert.equal(await first.stop(), 0);
    }
    // With the pretty format the tables are text, as IMProxy printed them.
    const pretty = startDaemon(topo.rtr, ["-c", conf, "-d", "3", "--log-format", "pretty"]);
    try {
      await until(() => /querier status/.test(pretty.stderr()), 10_000, () => pretty.stderr().slice(-1500));
      pretty.proc.kill("SIGUSR1");
      await until(
        () => /SOURCE\s+GROUP\s+INCOMING/.test(pretty.stderr()),
        5000,
        () => `state tables printed on SIGUSR1:\n${pretty.stderr().slice(-1500)}`,
      );
    } finally {
      assert.equal(await pretty.stop(), 0);
    }
  });
});
