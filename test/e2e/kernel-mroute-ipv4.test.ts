/**
 * IPv4 multicast routing socket against the real kernel, in the lab topology:
 *   [up] eth0 --- up0 [rtr] dn1 --- eth0 [h1]
 *                          dn2 --- eth0 [h2]
 * MrouteSocket runs in rtr through the agent fixture; hosts use node:dgram.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { igmpv3GeneralQuery, type JsonLine, JsonProc, reportRecords } from "./fixtures/kernel-mroute-lib.js";

const AGENT = "test/e2e/fixtures/kernel-mroute-agent.ts";
const HOST = "test/e2e/fixtures/kernel-mroute-host.ts";

/** Data lines of /proc/net/ip_mr_vif: [vif, ifname, ...]. */
function vifRows(text: string): string[][] {
  return text
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((r) => r.length > 1);
}

/** /proc/net/ip_mr_cache hex (little-endian u32 of network-order bytes) for an IPv4 address. */
function procHex(addr: string): string {
  return addr
    .split(".")
    .map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase())
    .reverse()
    .join("");
}

test("IPv4 mroute socket in a namespace", { timeout: 120_000 }, async (t) => {
  const topo: Topology = await buildTopology();
  const procs: JsonProc[] = [];
  const spawn = (ns: Topology["rtr"], script: string, args: string[] = []) => {
    const p = JsonProc.spawn(ns, script, args);
    procs.push(p);
    return p;
  };
  try {
    // mc_forwarding is a read-only counter of mroute sockets on this kernel (a fresh
    // namespace already shows 1): compare against the value before opening.
    const mcForwarding = async () =>
      Number((await topo.rtr.readProc("/proc/sys/net/ipv4/conf/all/mc_forwarding")).trim());
    const baseline = await mcForwarding();
    const agent = spawn(topo.rtr, AGENT);
    await agent.waitFor((l) => l.event === "ready", 20_000, "agent ready");
    await agent.call({ op: "open", name: "a", family: "ipv4", table: null });

    await t.test(
      "VIFs for up0/dn1/dn2 appear in /proc/net/ip_mr_vif; duplicates return the same index",
      async () => {
        assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "up0" }), 0);
        assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn1" }), 1);
        assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn2" }), 2);
        assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn1" }), 1);
        const rows = vifRows(await topo.rtr.readProc("/proc/net/ip_mr_vif"));
        assert.deepEqual(
          rows.map((r) => [r[0], r[1]]),
          [
            ["0", "up0"],
            ["1", "dn1"],
            ["2", "dn2"],
          ],
        );
        assert.equal(await mcForwarding(), baseline + 1);
      },
    );

    await t.test("a second MRT_INIT on the same table fails with an operator-readable message", async () => {
      const other = spawn(topo.rtr, AGENT);
      await other.waitFor((l) => l.event === "ready", 20_000, "second agent ready");
      const r = await other.request({ op: "open", name: "b", family: "ipv4", table: null });
      assert.equal(r.ok, false);
      const err = r.error as { message: string; code: string; kernelError: boolean };
      assert.equal(err.kernelError, true);
      assert.equal(err.code, "EADDRINUSE");
      assert.match(
        err.message,
        /already in use by another multicast router \(mrouted, igmpproxy, another improxy\?\)/,
      );
      // Another table is independent (CONFIG_IP_MROUTE_MULTIPLE_TABLES).
      const r2 = await other.request({ op: "open", name: "c", family: "ipv4", table: 100 });
      assert.equal(r2.ok, true, JSON.stringify(r2.error));
      await other.call({ op: "close", name: "c" });
      await other.stop();
    });

    await t.test("a VIF whose link vanished is deleted without error", async () => {
      await topo.rtr.ip("link", "add", "vx0", "type", "veth", "peer", "name", "vx1");
      await topo.rtr.linkUp("vx0");
      const vif = await agent.call({ op: "addVif", name: "a", ifname: "vx0" });
      assert.equal(vif, 3);
      const ifindex = await agent.call({ op: "ifindex", ifname: "vx0" });
      await topo.rtr.ip("link", "del", "vx0");
      assert.ok(!vifRows(await topo.rtr.readProc("/proc/net/ip_mr_vif")).some((r) => r[1] === "vx0"));
      await agent.call({ op: "delVif", name: "a", ifindex });
      const vifs = (await agent.call({ op: "vifs", name: "a" })) as Array<{ vif: number }>;
      assert.deepEqual(
        vifs.map((v) => v.vif),
        [0, 1, 2],
      );
      // The freed index is reused by the next VIF.
      await topo.rtr.ip("link", "add", "vx2", "type", "veth", "peer", "name", "vx3");
      assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "vx2" }), 3);
      await agent.call({ op: "delVif", name: "a", ifname: "vx2" });
      await topo.rtr.ip("link", "del", "vx2");
    });

    await t.test("MFC add / update / delete in /proc/net/ip_mr_cache and `ip mroute show`", async () => {
      const S = "198.18.0.7";
      const G = "239.9.9.9";
      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 0, outVifs: [1, 0] });
      let cache = await topo.rtr.readProc("/proc/net/ip_mr_cache");
      let row = cache.split("\n").find((l) => l.startsWith(`${procHex(G)} ${procHex(S)}`));
      assert.ok(row, cache);
      let cols = row.trim().split(/\s+/);
      assert.equal(cols[2], "0"); // Iif
      assert.deepEqual(cols.slice(6), ["1:1"]); // parent 0 never listed, VIF 1 threshold 1
      let shown = (await topo.rtr.ip("mroute", "show")).stdout;
      assert.match(shown, /\(198\.18\.0\.7,\s*239\.9\.9\.9\)\s+Iif: up0\s+Oifs: dn1\b/);

      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 0, outVifs: [1, 2] });
      cache = await topo.rtr.readProc("/proc/net/ip_mr_cache");
      row = cache.split("\n").find((l) => l.startsWith(`${procHex(G)} ${procHex(S)}`));
      assert.ok(row, cache);
      cols = row.trim().split(/\s+/);
      assert.deepEqual(cols.slice(6), ["1:1", "2:1"]);
      shown = (await topo.rtr.ip("mroute", "show")).stdout;
      assert.match(shown, /Iif: up0\s+Oifs: dn1 dn2/);

      await agent.call({ op: "delMfc", name: "a", source: S, group: G });
      cache = await topo.rtr.readProc("/proc/net/ip_mr_cache");
      assert.ok(!cache.includes(procHex(G)), cache);
      assert.equal(await agent.call({ op: "sgCount", name: "a", source: S, group: G }), null);
      // Deleting again is tolerated.
      await agent.call({ op: "delMfc", name: "a", source: S, group: G });
    });

    await t.test("data from h1 without an MFC entry gives a NOCACHE upcall on dn1's VIF", async () => {
      const sender = spawn(topo.h1, HOST, [
        "send",
        "udp4",
        "239.1.2.3",
        "5000",
        "3",
        "100",
        topo.addr.h1.v4,
        "8",
      ]);
      const up = await agent.waitFor(
        (l) => l.event === "upcall" && l.group === "239.1.2.3",
        10_000,
        "NOCACHE upcall",
      );
      assert.deepEqual(
        { type: up.type, vif: up.vif, source: up.source, group: up.group },
        { type: "nocache", vif: 1, source: topo.addr.h1.v4, group: "239.1.2.3" },
      );
      await sender.waitFor((l) => l.event === "sent" && l.n === 3, 10_000, "sender done");
    });

    await t.test("after an MFC toward dn2, h2 receives the data and sgCount counts it", async () => {
      const G = "239.1.2.4";
      const S = topo.addr.h1.v4;
      const receiver = spawn(topo.h2, HOST, ["recv", "udp4", G, "5001", topo.addr.h2.v4]);
      await receiver.waitFor((l) => l.event === "ready", 20_000, "receiver ready");
      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 1, outVifs: [2] });
      const before = (await agent.call({ op: "sgCount", name: "a", source: S, group: G })) as {
        packets: string;
      };
      assert.equal(before.packets, "0");
      const sender = spawn(topo.h1, HOST, ["send", "udp4", G, "5001", "5", "50", S, "8"]);
      await sender.waitFor((l) => l.event === "sent" && l.n === 5, 15_000, "sender done");
      await receiver.waitFor(
        () => receiver.lines.filter((l) => l.event === "data").length >= 5,
        5_000,
        "5 datagrams on h2",
      );
      const got = receiver.lines.filter((l) => l.event === "data");
      assert.deepEqual(
        got.map((l) => l.text),
        ["pkt 1", "pkt 2", "pkt 3", "pkt 4", "pkt 5"],
      );
      assert.equal(got[0]?.from, S);
      const after = (await agent.call({ op: "sgCount", name: "a", source: S, group: G })) as {
        packets: string;
        bytes: string;
        wrongIf: string;
      };
      assert.equal(after.packets, "5");
      assert.ok(Number(after.bytes) >= 5 * (20 + 8 + 5), after.bytes);
      assert.equal(after.wrongIf, "0");
      await receiver.stop();
    });

    await t.test(
      "an IGMPv3 query sent on dn1 makes h1 report; onPacket gives TTL 1 and Router Alert",
      async () => {
        await agent.call({ op: "joinReportGroups", name: "a", ifname: "dn1" });
        const igmp = await topo.rtr.readProc("/proc/net/igmp");
        const dn1Block = igmp.split(/\n(?=\d)/).find((b) => /\bdn1\b/.test(b)) ?? "";
        assert.match(dn1Block, /160000E0/); // 224.0.0.22
        assert.match(dn1Block, /020000E0/); // 224.0.0.2
        const receiver = spawn(topo.h1, HOST, ["recv", "udp4", "239.5.5.5", "5002", topo.addr.h1.v4]);
        await receiver.waitFor((l) => l.event === "ready", 20_000, "h1 member ready");
        const isReportFromH1 = (l: JsonLine) =>
          l.event === "packet" &&
          l.source === topo.addr.h1.v4 &&
          typeof l.payload === "string" &&
          l.payload.startsWith("22");
        // The join's unsolicited report: State-Change record CHANGE_TO_EXCLUDE (4).
        const unsolicited = await agent.waitFor(
          (l) =>
            isReportFromH1(l) &&
            reportRecords("ipv4", l.payload as string).some((r) => r.group === "239.5.5.5"),
          10_000,
          "unsolicited report",
        );
        assert.ok(reportRecords("ipv4", unsolicited.payload as string).some((r) => r.type === 4));
        await agent.call({
          op: "sendQuery",
          name: "a",
          ifname: "dn1",
          payloadHex: igmpv3GeneralQuery().toString("hex"),
          destination: "224.0.0.1",
          source: topo.rtrAddr.dn1.v4,
        });
        // The answer to a General Query: Current-State record MODE_IS_EXCLUDE (2) (RFC 9776 §5.2).
        const answer = await agent.waitFor(
          (l) =>
            isReportFromH1(l) &&
            reportRecords("ipv4", l.payload as string).some((r) => r.group === "239.5.5.5" && r.type === 2),
          10_000,
          "report answering the query",
        );
        assert.equal(answer.ttl, 1);
        assert.equal(answer.routerAlert, true);
        assert.equal(answer.destination, "224.0.0.22");
        assert.equal(answer.ifname, "dn1");
        // Loop is off: the router's own query never comes back to the socket.
        assert.ok(!agent.lines.some((l) => l.event === "packet" && (l.payload as string).startsWith("11")));
        await receiver.stop();
      },
    );

    await t.test(
      "report groups beyond igmp_max_memberships go on a helper socket and still deliver",
      async () => {
        // Negative control: h2 joined 239.1.2.4 earlier, but without a 224.0.0.22 join on dn2
        // its IGMPv3 reports never reached the socket.
        assert.ok(!agent.lines.some((l) => l.event === "packet" && l.ifname === "dn2"));
        // dn1's two memberships already fill a limit of 2 on the mroute socket.
        await topo.rtr.sysctl("net.ipv4.igmp_max_memberships", 2);
        try {
          await agent.call({ op: "joinReportGroups", name: "a", ifname: "dn2" });
          assert.equal(await agent.call({ op: "membershipSocketCount", name: "a" }), 2);
        } finally {
          await topo.rtr.sysctl("net.ipv4.igmp_max_memberships", 20);
        }
        const igmp = await topo.rtr.readProc("/proc/net/igmp");
        const dn2Block = igmp.split(/\n(?=\d)/).find((b) => /\bdn2\b/.test(b)) ?? "";
        assert.match(dn2Block, /160000E0/);
        const member = spawn(topo.h2, HOST, ["recv", "udp4", "239.6.6.6", "5003", topo.addr.h2.v4]);
        await member.waitFor((l) => l.event === "ready", 20_000, "h2 member ready");
        const report = await agent.waitFor(
          (l) =>
            l.event === "packet" &&
            l.ifname === "dn2" &&
            typeof l.payload === "string" &&
            l.payload.startsWith("22") &&
            reportRecords("ipv4", l.payload).some((r) => r.group === "239.6.6.6"),
          10_000,
          "h2's IGMPv3 report through the helper socket's 224.0.0.22 join",
        );
        assert.equal(report.source, topo.addr.h2.v4);
        await member.stop();
        await agent.call({ op: "leaveReportGroups", name: "a", ifname: "dn2" });
        assert.equal(await agent.call({ op: "membershipSocketCount", name: "a" }), 1);
      },
    );

    await t.test("the 33rd VIF is refused with a message naming the 32-VIF limit", async () => {
      const names = Array.from({ length: 30 }, (_, i) => `va${i}`);
      const batch = names.map((n, i) => `link add ${n} type veth peer name vb${i}`).join("\n");
      await topo.rtr.exec("ip", ["-batch", "-"], { input: `${batch}\n` });
      for (const [i, n] of names.slice(0, 29).entries()) {
        assert.equal(await agent.call({ op: "addVif", name: "a", ifname: n }), 3 + i);
      }
      assert.equal(vifRows(await topo.rtr.readProc("/proc/net/ip_mr_vif")).length, 32);
      const r = await agent.request({ op: "addVif", name: "a", ifname: "va29" });
      assert.equal(r.ok, false);
      const err = r.error as { message: string; code: string };
      assert.equal(err.code, "ENFILE");
      assert.match(err.message, /at most 32 VIFs/);
      for (const n of names.slice(0, 29)) await agent.call({ op: "delVif", name: "a", ifname: n });
      await topo.rtr.exec("ip", ["-batch", "-"], {
        input: `${names.map((n) => `link del ${n}`).join("\n")}\n`,
      });
      assert.equal(vifRows(await topo.rtr.readProc("/proc/net/ip_mr_vif")).length, 3);
    });

    await t.test(
      "an IGMPv2 host's report (to the group) and leave (to 224.0.0.2) reach onPacket",
      async () => {
        await topo.h1.sysctl("net.ipv4.conf.eth0.force_igmp_version", 2);
        const G = "239.8.8.8";
        const member = spawn(topo.h1, HOST, ["recv", "udp4", G, "5004", topo.addr.h1.v4]);
        await member.waitFor((l) => l.event === "ready", 20_000, "v2 member ready");
        const report = await agent.waitFor(
          (l) => l.event === "packet" && (l.payload as string).startsWith("16") && l.destination === G,
          10_000,
          "IGMPv2 report",
        );
        assert.equal(report.ifname, "dn1");
        assert.equal(report.source, topo.addr.h1.v4);
        assert.equal(report.ttl, 1);
        assert.equal(report.routerAlert, true);
        await member.stop();
        const leave = await agent.waitFor(
          (l) =>
            l.event === "packet" && (l.payload as string).startsWith("17") && l.destination === "224.0.0.2",
          10_000,
          "IGMPv2 leave",
        );
        assert.equal((leave.payload as string).slice(8), "ef080808");
        await topo.h1.sysctl("net.ipv4.conf.eth0.force_igmp_version", 0);
      },
    );

    await t.test("close() removes every VIF and MFC entry and leaves the report groups", async () => {
      await agent.call({
        op: "setMfc",
        name: "a",
        source: "198.18.0.9",
        group: "239.7.7.7",
        parentVif: 0,
        outVifs: [2],
      });
      await agent.call({ op: "close", name: "a" });
      assert.deepEqual(vifRows(await topo.rtr.readProc("/proc/net/ip_mr_vif")), []);
      const cache = await topo.rtr.readProc("/proc/net/ip_mr_cache");
      assert.equal(cache.trim().split("\n").length, 1, cache);
      assert.equal((await topo.rtr.ip("mroute", "show")).stdout.trim(), "");
      const igmp = await topo.rtr.readProc("/proc/net/igmp");
      assert.doesNotMatch(igmp, /160000E0/);
      assert.equal(await mcForwarding(), baseline);
      // The table is free again.
      await agent.call({ op: "open", name: "d", family: "ipv4", table: null });
      await agent.call({ op: "close", name: "d" });
    });
    await agent.call({ op: "exit" });
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    await topo.destroy();
  }
});
