/**
 * Interfaces that come and go (issue 2 item 6, issue 4 item 4): a downstream that appears
 * after start, a downstream deleted and re-created, an upstream re-created under the same
 * name with a new address (PPPoE reconnect). Checked against /proc and against receivers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { useLab } from "../support/stage.js";
import { startCapture, tsharkFields } from "../support/capture.js";
import { runCli, startDaemon, testControlSocket, writeConfig } from "../support/daemon.js";
import { sleep, vifNames } from "../support/scenario.js";


async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs = 8000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await cond()) return Date.now() - t0;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Re-creates a lab link (both ends) with the topology's addresses. */
async function relink(topo: Topology, rtrIf: string, host: "h1" | "h2" | "up", v4: string, v6: string) {
  const ns = topo[host];
  await topo.lab.addLink(topo.rtr, rtrIf, ns, "eth0");
  await topo.rtr.addAddress(rtrIf, `${v4}.1/24`);
  await topo.rtr.addAddress(rtrIf, `${v6}:1/64`);
  await ns.addAddress("eth0", `${v4}.2/24`);
  await ns.addAddress("eth0", `${v6}:2/64`);
  await ns.ip("route", "replace", "default", "via", `${v4}.1`);
  await ns.ip("-6", "route", "replace", "default", "via", `${v6}:1`);
}

/** `show interfaces --json` of the daemon on `socket`: per family, interface name -> its entry. */
async function interfaces(topo: Topology, socket: string): Promise<Record<string, Record<string, Record<string, unknown>>>> {
  const r = await runCli(topo.rtr, ["show", "interfaces", "--json", "--socket", socket]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { families: Array<{ family: string; interfaces: Array<{ name: string }> }> };
  return Object.fromEntries(
    doc.families.map((f) => [f.family, Object.fromEntries(f.interfaces.map((i) => [i.name, i]))]),
  );
}

const YAML = `
igmp: { version: 3, query-max-response-time: 1, query-interval: 10 }
mld: { version: 2, query-max-response-time: 1, query-interval: 10 }
upstream: up0
downstream: [dn1, dn2]
`;

describe("interfaces that come and go", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("picks up a late downstream, survives a downstream and an upstream being re-created", async () => {
    // dn2 does not exist when the daemon starts.
    await topo.rtr.ip("link", "del", "dn2");
    const socket = testControlSocket();
    const conf = writeConfig("if.yaml", `control-socket: ${socket}\n${YAML}`);
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "4"]);
    const recv = startReceiver(topo.h1, "239.5.5.5");
    const sender = startSender(topo.up, "239.5.5.5", { intervalMs: 20 });
    try {
      const waiting = await d.waitFor(
        (l) => /waiting/.test(l.msg) && l.interface === "dn2",
        8000,
        "a 'waiting for dn2' line",
      );
      assert.equal(waiting.why, "does not exist");
      assert.equal(waiting.msg, "interface does not exist; waiting for it");
      assert.equal(waiting.levelName, "warn");
      assert.deepEqual(await vifNames(topo.rtr, "ipv4"), ["dn1", "up0"]);
      await d.waitFor((l) => l.msg === "control socket listening", 8000, "control socket");
      const st = await interfaces(topo, socket);
      assert.deepEqual(
        [st.ipv4!.dn2!.state, st.ipv4!.dn2!.waitingReason, st.ipv4!.dn2!.warnings],
        ["waiting", "does not exist", ["waiting: the interface does not exist"]],
      );
      assert.deepEqual([st.ipv4!.dn1!.waitingReason, st.ipv4!.dn1!.forwarded], [null, true]);
      const text = await runCli(topo.rtr, ["show", "interfaces", "--socket", socket]);
      assert.match(text.stdout, /^dn2 \(ipv4\): waiting: the interface does not exist$/m);

      await relink(topo, "dn2", "h2", "10.12.0", "fd00:12:");
      await d.waitFor(
        (l) => l.msg === "interface attached" && l.interface === "dn2" && l.family === "ipv4",
        8000,
        "dn2 attached",
      );
      await d.waitFor(
        (l) => l.msg === "interface attached" && l.interface === "dn2" && l.family === "ipv6",
        8000,
        "dn2 attached (v6)",
      );
      assert.deepEqual(await vifNames(topo.rtr, "ipv4"), ["dn1", "dn2", "up0"]);
      assert.deepEqual(await vifNames(topo.rtr, "ipv6"), ["dn1", "dn2", "up0"]);

      // Stream flows to h1.
      await waitUntil("stream on h1", async () => recv.packets.length > 5);

      // dn1 vanishes: its VIF goes, then comes back with the link and is queried again.
      await topo.rtr.ip("link", "del", "dn1");
      await d.waitFor((l) => l.msg === "interface detached" && l.interface === "dn1", 8000, "dn1 detached");
      assert.deepEqual(await vifNames(topo.rtr, "ipv4"), ["dn2", "up0"]);
      await recv.stop();
      const recv2 = startReceiver(topo.h1, "239.5.5.5");
      const attachedBefore = d.lines.filter(
        (l) => l.msg === "interface attached" && l.interface === "dn1",
      ).length;
      await relink(topo, "dn1", "h1", "10.11.0", "fd00:11:");
      await d.waitFor(
        (l) =>
          l.msg === "interface attached" &&
          l.interface === "dn1" &&
          d.lines.filter((x) => x.msg === "interface attached" && x.interface === "dn1").length >
            attachedBefore,
        8000,
        "dn1 re-attached",
      );
      const resumed = await waitUntil("stream back on h1", async () => recv2.packets.length > 5, 10_000);
      process.stdout.write(`# h1 receiving again ${resumed} ms after dn1 was re-created\n`);

      // PPPoE-like: the upstream is deleted and re-created under the same name with a new address.
      await topo.rtr.ip("link", "del", "up0");
      await sender.stop();
      await d.waitFor((l) => l.msg === "interface detached" && l.interface === "up0", 8000, "up0 detached");
      const t0 = Date.now();
      await topo.lab.addLink(topo.rtr, "up0", topo.up, "eth0");
      await topo.rtr.addAddress("up0", "10.10.0.100/24");
      await topo.rtr.addAddress("up0", "fd00:10::100/64");
      await topo.up.addAddress("eth0", "10.10.0.2/24");
      await topo.up.addAddress("eth0", "fd00:10::2/64");
      await topo.up.ip("route", "replace", "default", "via", "10.10.0.100");
      const n0 = recv2.packets.length;
      const sender2 = startSender(topo.up, "239.5.5.5", { intervalMs: 20 });
      try {
        await waitUntil(
          "stream resumes after the upstream came back",
          async () => recv2.packets.length > n0 + 5,
          10_000,
        );
        process.stdout.write(`# stream resumed ${Date.now() - t0} ms after the upstream was re-created\n`);
        const igmp = await topo.rtr.readProc("/proc/net/igmp");
        assert.match(igmp, /up0[\s\S]*050505EF/, "membership re-announced on the new up0");
      } finally {
        await sender2.stop();
        await recv2.stop();
      }
    } finally {
      await sender.stop();
      await recv.stop();
      assert.equal(await d.stop(), 0);
    }
    assert.deepEqual(await vifNames(topo.rtr, "ipv4"), []);
  });
});

describe("interface addresses that change", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("follows address changes (DHCP renumbering) on a downstream and the upstream: log line, queries from the new address, stream goes on", async () => {
    const socket = testControlSocket();
    const conf = writeConfig("addr.yaml", `control-socket: ${socket}\n${YAML}`);
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "4"]);
    const recv = startReceiver(topo.h1, "239.5.5.6");
    const sender = startSender(topo.up, "239.5.5.6", { intervalMs: 20 });
    try {
      await waitUntil("stream on h1", async () => recv.packets.length > 5, 10_000);
      // Downstream renumbered: new address first, then the old one goes (DHCP renew).
      // promote_secondaries as distributions set it: deleting the old primary keeps the new one.
      await topo.rtr.sysctl("net.ipv4.conf.dn1.promote_secondaries", 1);
      await topo.rtr.sysctl("net.ipv4.conf.up0.promote_secondaries", 1);
      await topo.rtr.addAddress("dn1", "10.11.0.77/24");
      // A second address is a new on-link prefix, not a new address of the link.
      const prefixes = await d.waitFor(
        (l) => l.msg === "interface prefixes changed" && l.interface === "dn1" && l.family === "ipv4",
        8000,
        "dn1 prefixes change logged",
      );
      assert.deepEqual([...(prefixes.subnets as string[])].sort(), ["10.11.0.1/24", "10.11.0.77/24"]);
      await topo.rtr.ip("addr", "del", "10.11.0.1/24", "dev", "dn1");
      const changed = await d.waitFor(
        (l) =>
          l.msg === "interface address changed" &&
          l.interface === "dn1" &&
          l.family === "ipv4" &&
          l.address === "10.11.0.77",
        8000,
        "dn1 address change logged",
      );
      assert.equal(changed.address, "10.11.0.77");
      assert.equal(changed.previous, "10.11.0.1");
      // The next queries on dn1 come from the new address (query interval 10 s here).
      const cap = await startCapture(topo.h1, "eth0", "igmp");
      await waitUntil(
        "a query from 10.11.0.77",
        async () => {
          const rows = await tsharkFields(cap.file, "igmp.type == 0x11", ["ip.src"]).catch(() => []);
          return rows.some(([src]) => src === "10.11.0.77");
        },
        12_000,
      );
      await cap.stop();
      const n = recv.packets.length;
      await waitUntil(
        "stream goes on after the downstream renumbering",
        async () => recv.packets.length > n + 10,
      );

      // Upstream renumbered: memberships stay and the stream continues.
      await topo.rtr.addAddress("up0", "10.10.0.50/24");
      await topo.rtr.ip("addr", "del", "10.10.0.1/24", "dev", "up0");
      await topo.up.ip("route", "replace", "default", "via", "10.10.0.50");
      await d.waitFor(
        (l) => l.msg === "interface address changed" && l.interface === "up0" && l.address === "10.10.0.50",
        8000,
        "up0 address change logged",
      );
      const m = recv.packets.length;
      await waitUntil(
        "stream goes on after the upstream renumbering",
        async () => recv.packets.length > m + 10,
      );
      assert.match(
        await topo.rtr.readProc("/proc/net/igmp"),
        /up0[^\n]*\n(\s+[0-9A-F]{8}[^\n]*\n)*\s+060505EF/,
        "still joined upstream",
      );
      // Log lines report real changes only: no "address changed" from an address to itself.
      const same = d.lines.filter((l) => l.msg === "interface address changed" && l.address === l.previous);
      assert.deepEqual(same, [], "no change from an address to the same address");
      assert.ok(
        d.lines.some((l) => l.msg === "interface prefixes changed" && l.interface === "up0" && l.family === "ipv4"),
        "the second upstream address logged as a prefix change",
      );
    } finally {
      await sender.stop();
      await recv.stop();
      assert.equal(await d.stop(), 0);
    }
  });
});
