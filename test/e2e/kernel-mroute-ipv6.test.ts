/**
 * IPv6 multicast routing socket (MIFs, MFC, upcalls, MLD I/O) against the real kernel in
 * the lab topology. See kernel-mroute-ipv4.test.ts for the layout.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { ipv6ToBytes } from "../../src/wire/address.js";
import { type JsonLine, JsonProc, mldv2GeneralQuery, reportRecords } from "./fixtures/kernel-mroute-lib.js";

const AGENT = "test/e2e/fixtures/kernel-mroute-agent.ts";
const HOST = "test/e2e/fixtures/kernel-mroute-host.ts";

function mifRows(text: string): string[][] {
  return text
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((r) => r.length > 1);
}

/** Full colon form as the kernel prints it with %pI6 ("ff0e:0000:...:0009"). */
function pI6(addr: string): string {
  const b = ipv6ToBytes(addr);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16).padStart(4, "0"));
  return groups.join(":");
}

/** 32 hex digits as /proc/net/igmp6 prints a group. */
function hex32(addr: string): string {
  return Buffer.from(ipv6ToBytes(addr)).toString("hex");
}

function cacheRow(cache: string, source: string, group: string): string[] | undefined {
  const line = cache.split("\n").find((l) => l.startsWith(pI6(group)) && l.includes(pI6(source)));
  return line?.trim().split(/\s+/);
}

test("IPv6 mroute socket in a namespace", { timeout: 120_000 }, async (t) => {
  const topo: Topology = await buildTopology();
  const procs: JsonProc[] = [];
  const spawn = (ns: Topology["rtr"], script: string, args: string[] = []) => {
    const p = JsonProc.spawn(ns, script, args);
    procs.push(p);
    return p;
  };
  try {
    const mcForwarding = async () =>
      Number((await topo.rtr.readProc("/proc/sys/net/ipv6/conf/all/mc_forwarding")).trim());
    const baseline = await mcForwarding();
    const agent = spawn(topo.rtr, AGENT);
    await agent.waitFor((l) => l.event === "ready", 20_000, "agent ready");
    await agent.call({ op: "open", name: "a", family: "ipv6", table: null });

    await t.test("MIFs for up0/dn1/dn2 appear in /proc/net/ip6_mr_vif", async () => {
      assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "up0" }), 0);
      assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn1" }), 1);
      assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn2" }), 2);
      assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn2" }), 2);
      assert.deepEqual(
        mifRows(await topo.rtr.readProc("/proc/net/ip6_mr_vif")).map((r) => [r[0], r[1]]),
        [
          ["0", "up0"],
          ["1", "dn1"],
          ["2", "dn2"],
        ],
      );
      assert.equal(await mcForwarding(), baseline + 1);
    });

    await t.test("a second MRT6_INIT on the same table fails with the clear message", async () => {
      const other = spawn(topo.rtr, AGENT);
      await other.waitFor((l) => l.event === "ready", 20_000, "second agent ready");
      const r = await other.request({ op: "open", name: "b", family: "ipv6", table: null });
      assert.equal(r.ok, false);
      const err = r.error as { message: string; code: string };
      assert.equal(err.code, "EADDRINUSE");
      assert.match(
        err.message,
        /\(ipv6\) is already in use by another multicast router \(mrouted, igmpproxy, another improxy\?\)/,
      );
      await other.stop();
    });

    await t.test("MFC add / update / delete in /proc/net/ip6_mr_cache and `ip -6 mroute show`", async () => {
      const S = "fd00:10::7";
      const G = "ff0e::9:9:9";
      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 0, outVifs: [0, 1] });
      let cache = await topo.rtr.readProc("/proc/net/ip6_mr_cache");
      let row = cacheRow(cache, S, G);
      assert.ok(row, cache);
      assert.equal(row[2], "0");
      assert.deepEqual(row.slice(6), ["1:1"]);
      let shown = (await topo.rtr.ip("-6", "mroute", "show")).stdout;
      assert.match(shown, /\(fd00:10::7,\s*ff0e::9:9:9\)\s+Iif: up0\s+Oifs: dn1\b/);

      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 0, outVifs: [2, 1] });
      cache = await topo.rtr.readProc("/proc/net/ip6_mr_cache");
      row = cacheRow(cache, S, G);
      assert.ok(row, cache);
      assert.deepEqual(row.slice(6), ["1:1", "2:1"]);
      shown = (await topo.rtr.ip("-6", "mroute", "show")).stdout;
      assert.match(shown, /Iif: up0\s+Oifs: dn1 dn2/);

      await agent.call({ op: "delMfc", name: "a", source: S, group: G });
      assert.equal(cacheRow(await topo.rtr.readProc("/proc/net/ip6_mr_cache"), S, G), undefined);
      assert.equal(await agent.call({ op: "sgCount", name: "a", source: S, group: G }), null);
    });

    await t.test("data from h1 without an MFC entry gives a NOCACHE upcall on dn1's MIF", async () => {
      const G = "ff0e::1:2:3";
      const sender = spawn(topo.h1, HOST, ["send", "udp6", G, "5000", "3", "100", "::%eth0", "8"]);
      const up = await agent.waitFor((l) => l.event === "upcall" && l.group === G, 10_000, "NOCACHE upcall");
      assert.deepEqual(
        { type: up.type, vif: up.vif, source: up.source, group: up.group },
        { type: "nocache", vif: 1, source: topo.addr.h1.v6, group: G },
      );
      await sender.waitFor((l) => l.event === "sent" && l.n === 3, 10_000, "sender done");
    });

    await t.test("after an MFC toward dn2, h2 receives the data and sgCount counts it", async () => {
      const G = "ff0e::1:2:4";
      const S = topo.addr.h1.v6;
      const receiver = spawn(topo.h2, HOST, ["recv", "udp6", G, "5001", "::%eth0"]);
      await receiver.waitFor((l) => l.event === "ready", 20_000, "receiver ready");
      await agent.call({ op: "setMfc", name: "a", source: S, group: G, parentVif: 1, outVifs: [2] });
      const sender = spawn(topo.h1, HOST, ["send", "udp6", G, "5001", "5", "50", "::%eth0", "8"]);
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
      const counts = (await agent.call({ op: "sgCount", name: "a", source: S, group: G })) as {
        packets: string;
        bytes: string;
        wrongIf: string;
      };
      assert.equal(counts.packets, "5");
      assert.ok(Number(counts.bytes) >= 5 * (40 + 8 + 5), counts.bytes);
      assert.equal(counts.wrongIf, "0");
      await receiver.stop();
    });

    await t.test(
      "an MLDv2 query sent on dn1 makes h1 report; onPacket gives hop limit 1 and Router Alert",
      async () => {
        await agent.call({ op: "joinReportGroups", name: "a", ifname: "dn1" });
        const igmp6 = await topo.rtr.readProc("/proc/net/igmp6");
        const dn1 = igmp6.split("\n").filter((l) => /\sdn1\s/.test(l));
        assert.ok(
          dn1.some((l) => l.includes(hex32("ff02::16"))),
          igmp6,
        );
        assert.ok(
          dn1.some((l) => l.includes(hex32("ff02::2"))),
          igmp6,
        );
        const G = "ff0e::5:5";
        const member = spawn(topo.h1, HOST, ["recv", "udp6", G, "5002", "::%eth0"]);
        await member.waitFor((l) => l.event === "ready", 20_000, "h1 member ready");
        const isV2ReportOnDn1 = (l: JsonLine) =>
          l.event === "packet" &&
          l.ifname === "dn1" &&
          typeof l.payload === "string" &&
          l.payload.startsWith("8f");
        const unsolicited = await agent.waitFor(
          (l) => isV2ReportOnDn1(l) && reportRecords("ipv6", l.payload as string).some((r) => r.group === G),
          10_000,
          "unsolicited MLDv2 report",
        );
        assert.ok(
          reportRecords("ipv6", unsolicited.payload as string).some((r) => r.group === G && r.type === 4),
        );
        await agent.call({
          op: "sendQuery",
          name: "a",
          ifname: "dn1",
          payloadHex: mldv2GeneralQuery().toString("hex"),
          destination: "ff02::1",
        });
        // Current-State MODE_IS_EXCLUDE (2) only comes in answer to a query (RFC 9777 §6.2).
        const answer = await agent.waitFor(
          (l) =>
            isV2ReportOnDn1(l) &&
            reportRecords("ipv6", l.payload as string).some((r) => r.group === G && r.type === 2),
          10_000,
          "MLDv2 report answering the query",
        );
        assert.equal(answer.ttl, 1);
        assert.equal(answer.routerAlert, true);
        assert.equal(answer.destination, "ff02::16");
        assert.match(answer.source as string, /^fe80::/);
        assert.ok(!agent.lines.some((l) => l.event === "packet" && (l.payload as string).startsWith("82")));
        await member.stop();
      },
    );

    await t.test("an MLDv1 host's report (to the group) and done (to ff02::2) reach onPacket", async () => {
      await topo.h1.sysctl("net.ipv6.conf.eth0.force_mld_version", 1);
      const G = "ff0e::8:8";
      const member = spawn(topo.h1, HOST, ["recv", "udp6", G, "5004", "::%eth0"]);
      await member.waitFor((l) => l.event === "ready", 20_000, "v1 member ready");
      const report = await agent.waitFor(
        (l) => l.event === "packet" && (l.payload as string).startsWith("83") && l.destination === G,
        10_000,
        "MLDv1 report",
      );
      assert.equal(report.ifname, "dn1");
      assert.match(report.source as string, /^fe80::/);
      assert.equal(report.ttl, 1);
      assert.equal(report.routerAlert, true);
      await member.stop();
      const done = await agent.waitFor(
        (l) => l.event === "packet" && (l.payload as string).startsWith("84") && l.destination === "ff02::2",
        10_000,
        "MLDv1 done",
      );
      assert.equal((done.payload as string).slice(16), Buffer.from(ipv6ToBytes(G)).toString("hex"));
      await topo.h1.sysctl("net.ipv6.conf.eth0.force_mld_version", 0);
    });

    await t.test("close() removes every MIF and MFC entry and leaves the report groups", async () => {
      await agent.call({
        op: "setMfc",
        name: "a",
        source: "fd00:10::9",
        group: "ff0e::7",
        parentVif: 0,
        outVifs: [2],
      });
      await agent.call({ op: "close", name: "a" });
      assert.deepEqual(mifRows(await topo.rtr.readProc("/proc/net/ip6_mr_vif")), []);
      const cache = await topo.rtr.readProc("/proc/net/ip6_mr_cache");
      assert.equal(cache.trim().split("\n").length, 1, cache);
      assert.equal((await topo.rtr.ip("-6", "mroute", "show")).stdout.trim(), "");
      const igmp6 = await topo.rtr.readProc("/proc/net/igmp6");
      assert.ok(!igmp6.split("\n").some((l) => /\sdn1\s/.test(l) && l.includes(hex32("ff02::16"))), igmp6);
      assert.equal(await mcForwarding(), baseline);
      await agent.call({ op: "open", name: "d", family: "ipv6", table: null });
      await agent.call({ op: "close", name: "d" });
    });
    await agent.call({ op: "exit" });
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
    await topo.destroy();
  }
});
