/**
 * The multicast routing socket, its VIF/MIF table and MFC, and the links' report sockets
 * (with their report groups) against the real kernel, once per family, in the lab topology:
 *   [up] eth0 --- up0 [rtr] dn1 --- eth0 [h1]
 *                          dn2 --- eth0 [h2]
 * The kernel layer runs in rtr through the agent fixture; hosts use node:dgram. Kernel state
 * is read back from /proc/net/ip_mr_vif, ip_mr_cache, ip6_mr_vif, ip6_mr_cache, igmp, igmp6.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { ipv6ToBytes } from "../../src/wire/address.js";
import type { IpFamily } from "../../src/wire/types.js";
import { isMember } from "../support/scenario.js";
import {
  igmpv3GeneralQuery,
  type JsonLine,
  JsonProc,
  mldv2GeneralQuery,
  procMfc,
  procRoute,
  procVifs,
  reportRecords,
} from "./fixtures/kernel-mroute-lib.js";

const AGENT = "test/e2e/fixtures/kernel-mroute-agent.ts";
const HOST = "test/e2e/fixtures/kernel-mroute-host.ts";

/** What differs between the families; every scenario below runs for both. */
interface Family {
  family: IpFamily;
  vifWord: "VIF" | "MIF";
  udp: "udp4" | "udp6";
  ipFlags: string[];
  /** A data source and group of the test network (no host sends from it). */
  S: string;
  group: (n: number) => string;
  /** The host-fixture interface argument of h1 / h2. */
  iface: (topo: Topology, host: "h1" | "h2") => string;
  /** The address h1's data and reports come from. */
  h1Source: (topo: Topology) => string;
  /** IP header bytes of a data packet. */
  ipHeader: number;
  mcForwarding: string;
  query: () => Buffer;
  queryDestination: string;
  /** Source given to sendQuery (IPv6: omitted, the kernel picks the link-local one). */
  querySource: (topo: Topology) => string | undefined;
  /** First payload byte (hex) of a query, a v3/v2 report, an older report and leave/done. */
  type: { query: string; report: string; oldReport: string; oldLeave: string };
  reportDestination: string;
  leaveDestination: string;
  /** Host sysctl forcing IGMPv2 / MLDv1 on h1's eth0 and its value. */
  forceOld: [string, number];
  /** Hex of the group address inside an IGMPv2 leave / MLDv1 done payload. */
  leaveGroupHex: (payloadHex: string) => string;
  groupHex: (group: string) => string;
  /** Checks the source of a report from h1. */
  isH1ReportSource: (topo: Topology, source: string) => boolean;
}

const FAMILIES: Family[] = [
  {
    family: "ipv4",
    vifWord: "VIF",
    udp: "udp4",
    ipFlags: [],
    S: "198.18.0.7",
    group: (n) => `239.9.9.${n}`,
    iface: (topo, host) => topo.addr[host].v4,
    h1Source: (topo) => topo.addr.h1.v4,
    ipHeader: 20,
    mcForwarding: "/proc/sys/net/ipv4/conf/all/mc_forwarding",
    query: igmpv3GeneralQuery,
    queryDestination: "224.0.0.1",
    querySource: (topo) => topo.rtrAddr.dn1.v4,
    type: { query: "11", report: "22", oldReport: "16", oldLeave: "17" },
    reportDestination: "224.0.0.22",
    leaveDestination: "224.0.0.2",
    forceOld: ["net.ipv4.conf.eth0.force_igmp_version", 2],
    leaveGroupHex: (hex) => hex.slice(8),
    groupHex: (g) => Buffer.from(g.split(".").map(Number)).toString("hex"),
    isH1ReportSource: (topo, source) => source === topo.addr.h1.v4,
  },
  {
    family: "ipv6",
    vifWord: "MIF",
    udp: "udp6",
    ipFlags: ["-6"],
    S: "fd00:10::7",
    group: (n) => `ff0e::9:9:${n}`,
    iface: () => "::%eth0",
    h1Source: (topo) => topo.addr.h1.v6,
    ipHeader: 40,
    mcForwarding: "/proc/sys/net/ipv6/conf/all/mc_forwarding",
    query: mldv2GeneralQuery,
    queryDestination: "ff02::1",
    querySource: () => undefined,
    type: { query: "82", report: "8f", oldReport: "83", oldLeave: "84" },
    reportDestination: "ff02::16",
    leaveDestination: "ff02::2",
    forceOld: ["net.ipv6.conf.eth0.force_mld_version", 1],
    leaveGroupHex: (hex) => hex.slice(16),
    groupHex: (g) => Buffer.from(ipv6ToBytes(g)).toString("hex"),
    // RFC 9777 §5: MLD messages come from the link-local address.
    isH1ReportSource: (_topo, source) => source.startsWith("fe80::"),
  },
];

for (const f of FAMILIES) {
  const { family, vifWord } = f;
  test(`${family} mroute socket, table and report sockets in a namespace`, { timeout: 180_000 }, async (t) => {
    const topo: Topology = await buildTopology();
    const procs: JsonProc[] = [];
    const spawn = (ns: Topology["rtr"], script: string, args: string[] = []) => {
      const p = JsonProc.spawn(ns, script, args);
      procs.push(p);
      return p;
    };
    const vifs = async () => (await procVifs(topo.rtr, family)).map((v) => [v.vif, v.ifname]);
    try {
      // mc_forwarding counts mroute sockets on this kernel (a fresh namespace already shows
      // 1): compare against the value before opening.
      const mcForwarding = async () => Number((await topo.rtr.readProc(f.mcForwarding)).trim());
      const baseline = await mcForwarding();
      const agent = spawn(topo.rtr, AGENT);
      await agent.waitFor((l) => l.event === "ready", 20_000, "agent ready");
      const opened = (await agent.call({ op: "open", name: "a", family, table: null })) as { filterError: string | null };
      assert.equal(opened.filterError, null, "the kernel takes the upcalls-only filter");

      await t.test(
        `${vifWord}s take the lowest free index; the same link again returns its ${vifWord}`,
        async () => {
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "up0" }), 0);
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn1" }), 1);
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn2" }), 2);
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "dn1" }), 1);
          assert.deepEqual(await vifs(), [
            [0, "up0"],
            [1, "dn1"],
            [2, "dn2"],
          ]);
          assert.equal(await mcForwarding(), baseline + 1);
        },
      );

      await t.test(
        "a second MRT_INIT on the same table fails with an operator-readable message",
        async () => {
          const other = spawn(topo.rtr, AGENT);
          await other.waitFor((l) => l.event === "ready", 20_000, "second agent ready");
          const r = await other.request({ op: "open", name: "b", family, table: null });
          assert.equal(r.ok, false);
          const err = r.error as { message: string; code: string; kernelError: boolean };
          assert.equal(err.kernelError, true);
          assert.equal(err.code, "EADDRINUSE");
          assert.match(
            err.message,
            new RegExp(
              `the default multicast routing table \\(${family}\\) is already in use by another multicast router \\(mrouted, igmpproxy, another improxy\\?\\)`,
            ),
          );
          // Another table is independent (multiple multicast routing tables).
          const r2 = await other.request({ op: "open", name: "c", family, table: 100 });
          assert.equal(r2.ok, true, JSON.stringify(r2.error));
          await other.call({ op: "close", name: "c" });
          await other.stop();
        },
      );

      await t.test(
        `a ${vifWord} whose link vanished is deleted without error; its index is reused`,
        async () => {
          await topo.rtr.ip("link", "add", "vx0", "type", "veth", "peer", "name", "vx1");
          await topo.rtr.linkUp("vx0");
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "vx0" }), 3);
          await topo.rtr.ip("link", "del", "vx0");
          assert.ok(!(await vifs()).some((r) => r[1] === "vx0"));
          await agent.call({ op: "delVif", name: "a", ifname: "vx0" });
          const listed = (await agent.call({ op: "vifs", name: "a" })) as Array<{
            vif: number;
            name: string;
          }>;
          assert.deepEqual(
            listed.map((v) => [v.vif, v.name]),
            [
              [0, "up0"],
              [1, "dn1"],
              [2, "dn2"],
            ],
          );
          await topo.rtr.ip("link", "add", "vx2", "type", "veth", "peer", "name", "vx3");
          assert.equal(await agent.call({ op: "addVif", name: "a", ifname: "vx2" }), 3);
          await agent.call({ op: "delVif", name: "a", ifname: "vx2" });
          await topo.rtr.ip("link", "del", "vx2");
        },
      );

      await t.test(
        "setRoute installs, updates and moves an MFC entry by link name; delRoute removes it",
        async () => {
          const { S } = f;
          const G = f.group(9);
          const route = (iif: string, oifs: string[]) =>
            agent.call({ op: "setRoute", name: "a", source: S, group: G, iif, oifs });
          // The incoming link is never an outgoing one.
          assert.equal(await route("up0", ["dn1", "up0"]), true);
          let e = await procRoute(topo.rtr, family, S, G);
          assert.deepEqual({ iif: e?.iif, oifs: e?.oifs }, { iif: 0, oifs: ["1:1"] });
          let shown = (await topo.rtr.ip(...f.ipFlags, "mroute", "show")).stdout;
          assert.match(shown, new RegExp(`\\(${S},\\s*${G}\\)\\s+Iif: up0\\s+Oifs: dn1\\b`));
          // Links without a VIF are skipped.
          assert.equal(await route("up0", ["dn2", "nosuch0", "dn1"]), true);
          e = await procRoute(topo.rtr, family, S, G);
          assert.deepEqual(e?.oifs, ["1:1", "2:1"]);
          shown = (await topo.rtr.ip(...f.ipFlags, "mroute", "show")).stdout;
          assert.match(shown, /Iif: up0\s+Oifs: dn1 dn2/);
          // A new incoming link replaces the entry (the kernel matches (S,G) with any parent).
          assert.equal(await route("dn1", ["dn2"]), true);
          assert.deepEqual(
            (await procMfc(topo.rtr, family))
              .filter((x) => x.source === S && x.group === G)
              .map((x) => [x.iif, x.oifs]),
            [[1, ["2:1"]]],
          );
          // No VIF for the incoming link: nothing is installed.
          assert.equal(
            await agent.call({
              op: "setRoute",
              name: "a",
              source: S,
              group: f.group(10),
              iif: "nosuch0",
              oifs: ["dn1"],
            }),
            false,
          );
          assert.equal(await procRoute(topo.rtr, family, S, f.group(10)), undefined);
          // Deleting needs no record of the parent.
          await agent.call({ op: "delRoute", name: "a", source: S, group: G });
          assert.equal(await procRoute(topo.rtr, family, S, G), undefined);
          assert.equal(await agent.call({ op: "routeCounters", name: "a", source: S, group: G }), null);
          // Deleting again is tolerated (ENOENT).
          await agent.call({ op: "delRoute", name: "a", source: S, group: G });
        },
      );

      await t.test(
        `data from h1 without an MFC entry gives a NOCACHE upcall on dn1's ${vifWord}`,
        async () => {
          const G = f.group(11);
          const sender = spawn(topo.h1, HOST, [
            "send",
            f.udp,
            G,
            "5000",
            "3",
            "100",
            f.iface(topo, "h1"),
            "8",
          ]);
          const up = await agent.waitFor(
            (l) => l.event === "upcall" && l.group === G,
            10_000,
            "NOCACHE upcall",
          );
          assert.deepEqual(
            { type: up.type, vif: up.vif, source: up.source, group: up.group },
            { type: "nocache", vif: 1, source: f.h1Source(topo), group: G },
          );
          await sender.waitFor((l) => l.event === "sent" && l.n === 3, 10_000, "sender done");
        },
      );

      await t.test("after setRoute toward dn2, h2 receives the data and both counters count it", async () => {
        const G = f.group(12);
        const S = f.h1Source(topo);
        const receiver = spawn(topo.h2, HOST, ["recv", f.udp, G, "5001", f.iface(topo, "h2")]);
        await receiver.waitFor((l) => l.event === "ready", 20_000, "receiver ready");
        await agent.call({ op: "setRoute", name: "a", source: S, group: G, iif: "dn1", oifs: ["dn2"] });
        const before = (await agent.call({ op: "routeCounters", name: "a", source: S, group: G })) as {
          packets: string;
        };
        assert.equal(before.packets, "0");
        const dn2Before = (await agent.call({ op: "vifCounters", name: "a", ifname: "dn2" })) as {
          packetsOut: string;
        };
        const sender = spawn(topo.h1, HOST, ["send", f.udp, G, "5001", "5", "50", f.iface(topo, "h1"), "8"]);
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
        const after = (await agent.call({ op: "routeCounters", name: "a", source: S, group: G })) as {
          packets: string;
          bytes: string;
          wrongIf: string;
        };
        assert.equal(after.packets, "5");
        assert.ok(Number(after.bytes) >= 5 * (f.ipHeader + 8 + 5), after.bytes);
        assert.equal(after.wrongIf, "0");
        const dn2After = (await agent.call({ op: "vifCounters", name: "a", ifname: "dn2" })) as {
          packetsOut: string;
        };
        assert.equal(Number(dn2After.packetsOut) - Number(dn2Before.packetsOut), 5);
        assert.equal(await agent.call({ op: "vifCounters", name: "a", ifname: "nosuch0" }), null);
        await receiver.stop();
      });

      await t.test(
        "a general query sent on dn1 makes h1 report on dn1's report socket, with TTL / hop limit 1 and Router Alert",
        async () => {
          await agent.call({ op: "openReportSocket", name: "a", ifname: "dn1", join: true });
          assert.ok(await isMember(topo.rtr, family, "dn1", f.reportDestination));
          assert.ok(await isMember(topo.rtr, family, "dn1", f.leaveDestination));
          const G = f.group(13);
          const member = spawn(topo.h1, HOST, ["recv", f.udp, G, "5002", f.iface(topo, "h1")]);
          await member.waitFor((l) => l.event === "ready", 20_000, "h1 member ready");
          const isReportOnDn1 = (l: JsonLine) =>
            l.event === "packet" &&
            l.socket === "dn1" &&
            l.ifname === "dn1" &&
            typeof l.payload === "string" &&
            l.payload.startsWith(f.type.report);
          // The join's unsolicited report: State-Change record CHANGE_TO_EXCLUDE (4).
          const unsolicited = await agent.waitFor(
            (l) => isReportOnDn1(l) && reportRecords(family, l.payload as string).some((r) => r.group === G),
            10_000,
            "unsolicited report",
          );
          assert.ok(
            reportRecords(family, unsolicited.payload as string).some((r) => r.group === G && r.type === 4),
          );
          await agent.call({
            op: "sendQuery",
            name: "a",
            ifname: "dn1",
            payloadHex: f.query().toString("hex"),
            destination: f.queryDestination,
            source: f.querySource(topo),
          });
          // Current-State MODE_IS_EXCLUDE (2) only comes in answer to a query
          // (RFC 9776 §5.2, RFC 9777 §6.2).
          const answer = await agent.waitFor(
            (l) =>
              isReportOnDn1(l) &&
              reportRecords(family, l.payload as string).some((r) => r.group === G && r.type === 2),
            10_000,
            "report answering the query",
          );
          assert.equal(answer.ttl, 1);
          assert.equal(answer.routerAlert, true);
          assert.equal(answer.destination, f.reportDestination);
          assert.ok(f.isH1ReportSource(topo, answer.source as string), String(answer.source));
          // Loop is off: the router's own query never comes back to the socket.
          assert.ok(
            !agent.lines.some((l) => l.event === "packet" && (l.payload as string).startsWith(f.type.query)),
          );
          await member.stop();
        },
      );

      await t.test(
        "each downstream's report socket holds its own two report-group joins (igmp_max_memberships 2 is enough) and hears only its link",
        async () => {
          // Negative control: h2 joined a group earlier, but without a report socket on dn2
          // nothing of dn2 was read (the mroute socket keeps its copies out).
          assert.ok(!agent.lines.some((l) => l.event === "packet" && l.ifname === "dn2"));
          if (family === "ipv4") await topo.rtr.sysctl("net.ipv4.igmp_max_memberships", 2);
          try {
            await agent.call({ op: "openReportSocket", name: "a", ifname: "dn2", join: true });
          } finally {
            if (family === "ipv4") await topo.rtr.sysctl("net.ipv4.igmp_max_memberships", 20);
          }
          assert.ok(await isMember(topo.rtr, family, "dn2", f.reportDestination));
          assert.ok(await isMember(topo.rtr, family, "dn2", f.leaveDestination));
          const G = f.group(6);
          const member = spawn(topo.h2, HOST, ["recv", f.udp, G, "5003", f.iface(topo, "h2")]);
          await member.waitFor((l) => l.event === "ready", 20_000, "h2 member ready");
          const report = await agent.waitFor(
            (l) =>
              l.event === "packet" &&
              l.ifname === "dn2" &&
              typeof l.payload === "string" &&
              l.payload.startsWith(f.type.report) &&
              reportRecords(family, l.payload).some((r) => r.group === G),
            10_000,
            "h2's report on dn2's report socket",
          );
          assert.equal(report.socket, "dn2");
          await member.stop();
          // Every packet came from the socket of its own link, and none twice through the mroute socket.
          const packets = agent.lines.filter((l) => l.event === "packet");
          assert.ok(packets.every((l) => l.socket === l.ifname), "a socket hears its own link only");
          assert.ok(!packets.some((l) => l.socket === "mroute"), "no Router Alert packet on the mroute socket");
          await agent.call({ op: "closeReportSocket", name: "a", ifname: "dn2" });
          assert.ok(!(await isMember(topo.rtr, family, "dn2", f.reportDestination)), "closing left the groups");
        },
      );

      await t.test(
        `the 33rd ${vifWord} is refused with a message naming the 32-${vifWord} limit`,
        async () => {
          const names = Array.from({ length: 30 }, (_, i) => `va${i}`);
          const batch = names.map((n, i) => `link add ${n} type veth peer name vb${i}`).join("\n");
          await topo.rtr.exec("ip", ["-batch", "-"], { input: `${batch}\n` });
          try {
            for (const [i, n] of names.slice(0, 29).entries()) {
              assert.equal(await agent.call({ op: "addVif", name: "a", ifname: n }), 3 + i);
            }
            assert.equal((await vifs()).length, 32);
            const r = await agent.request({ op: "addVif", name: "a", ifname: "va29" });
            assert.equal(r.ok, false);
            const err = r.error as { message: string; code: string };
            assert.equal(err.code, "ENFILE");
            assert.match(err.message, new RegExp(`at most 32 ${vifWord}s`));
            for (const n of names.slice(0, 29)) await agent.call({ op: "delVif", name: "a", ifname: n });
          } finally {
            await topo.rtr.exec("ip", ["-batch", "-"], {
              input: `${names.map((n) => `link del ${n}`).join("\n")}\n`,
            });
          }
          assert.equal((await vifs()).length, 3);
        },
      );

      await t.test("an older host's report (to the group) and leave / done reach onPacket", async () => {
        await topo.h1.sysctl(...f.forceOld);
        try {
          const G = f.group(14);
          const member = spawn(topo.h1, HOST, ["recv", f.udp, G, "5004", f.iface(topo, "h1")]);
          await member.waitFor((l) => l.event === "ready", 20_000, "older-version member ready");
          const report = await agent.waitFor(
            (l) =>
              l.event === "packet" &&
              (l.payload as string).startsWith(f.type.oldReport) &&
              l.destination === G,
            10_000,
            "IGMPv2 / MLDv1 report",
          );
          assert.equal(report.ifname, "dn1");
          assert.equal(report.socket, "dn1", "with Router Alert: the link's socket (IP_ROUTER_ALERT on IPv4)");
          assert.ok(f.isH1ReportSource(topo, report.source as string), String(report.source));
          assert.equal(report.ttl, 1);
          assert.equal(report.routerAlert, true);
          await member.stop();
          const leave = await agent.waitFor(
            (l) =>
              l.event === "packet" &&
              (l.payload as string).startsWith(f.type.oldLeave) &&
              l.destination === f.leaveDestination,
            10_000,
            "IGMPv2 leave / MLDv1 done",
          );
          assert.equal(f.leaveGroupHex(leave.payload as string), f.groupHex(G));
        } finally {
          await topo.h1.sysctl(f.forceOld[0], 0);
        }
      });

      await t.test(
        `closing a report socket leaves its groups; closing the mroute socket alone makes the kernel flush its ${vifWord}s and MFC entries`,
        async () => {
          await agent.call({
            op: "setRoute",
            name: "a",
            source: f.S,
            group: f.group(15),
            iif: "up0",
            oifs: ["dn2"],
          });
          assert.ok(await procRoute(topo.rtr, family, f.S, f.group(15)));
          assert.ok(await isMember(topo.rtr, family, "dn1", f.reportDestination));
          await agent.call({ op: "closeReportSocket", name: "a", ifname: "dn1" });
          assert.ok(!(await isMember(topo.rtr, family, "dn1", f.reportDestination)));
          // No clear(), no delRoute: MRT_DONE and close() alone.
          await agent.call({ op: "close", name: "a", clear: false });
          assert.deepEqual(await vifs(), []);
          assert.deepEqual(await procMfc(topo.rtr, family), []);
          assert.equal((await topo.rtr.ip(...f.ipFlags, "mroute", "show")).stdout.trim(), "");
          assert.equal(await mcForwarding(), baseline);
        },
      );

      await t.test(`clear() deletes every ${vifWord} while the socket stays open`, async () => {
        await agent.call({ op: "open", name: "d", family, table: null });
        await agent.call({ op: "addVif", name: "d", ifname: "dn1" });
        await agent.call({ op: "addVif", name: "d", ifname: "dn2" });
        assert.equal((await vifs()).length, 2);
        await agent.call({ op: "clear", name: "d" });
        assert.deepEqual(await vifs(), []);
        assert.equal(await mcForwarding(), baseline + 1);
        assert.deepEqual(await agent.call({ op: "vifs", name: "d" }), []);
        await agent.call({ op: "close", name: "d" });
        // The table is free again.
        await agent.call({ op: "open", name: "e", family, table: null });
        await agent.call({ op: "close", name: "e" });
      });
      await agent.call({ op: "exit" });
    } finally {
      for (const p of procs) await p.stop().catch(() => undefined);
      await topo.destroy();
    }
  });
}
