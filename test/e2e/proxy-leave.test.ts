/**
 * Issue 4, scenarios about withdrawing traffic, IPv4 and IPv6, measured on the wire
 * (dumpcap on the router's downstream interface) against the time of the host's socket
 * call (the namespaces share one clock):
 *   3. EXCLUDE with a blocked source (MCAST_BLOCK_SOURCE on the host): S2 stops within the
 *      Last Member Query Time, S1 continues, upstream becomes EXCLUDE {S2};
 *   5. an IGMPv2 / MLDv1 host (force_igmp_version=2 / force_mld_version=1) on dn2 next to
 *      an IGMPv3 / MLDv2 host on dn1: joins and leaves correctly;
 *   6. leave timing: LMQI 1 s and robustness 2 stop forwarding 1.8-2.6 s after the leave;
 *      with fast leave (quickleave) and one host, within 50 ms; the upstream membership is
 *      dropped when no link wants the group any more.
 * Scenarios 3 and 6 run from the IMProxy-format config and again from the equivalent YAML.
 * The measured times are printed as test diagnostics.
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { startSender } from "../../src/lab/hosts.js";
import type { Topology } from "../../src/lab/topology.js";
import { tsharkFields } from "../support/capture.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import {
  buildProxyLab,
  captureControl,
  captureData,
  dataPackets,
  FAMILIES,
  gaps,
  isMember,
  lastUpstreamLine,
  legacyConfig,
  mfcEntry,
  plan,
  procSource,
  reportRecords,
  sleep,
  startProxy,
  stopProxy,
  upstreamSourceRows,
  waitLinkState,
  waitUpstream,
  yamlConfig,
} from "../support/scenario.js";

/** Last Member Query Time with LMQI 1 s and LMQC = robustness 2 (RFC 9776 §8.9). */
const LMQT_MS = 2000;

/** Time from `t0` to the last datagram from `source` seen in a capture of a downstream link. */
async function stopDelay(file: string, family: "ipv4" | "ipv6", port: number, source: string, t0: number) {
  const pkts = (await dataPackets(file, family, port)).filter((x) => x.source === source);
  const before = pkts.filter((x) => x.at < t0);
  const last = pkts.at(-1);
  return {
    before: before.length,
    afterMs: last ? last.at - t0 : Number.NEGATIVE_INFINITY,
    total: pkts.length,
  };
}

describe("proxy: blocked sources, older hosts and leave timing (issue 4 scenarios 3, 5, 6)", {
  timeout: 600_000,
}, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
  });
  after(async () => {
    await topo?.destroy();
  });
  let port = 7000;

  const formats = [
    {
      name: "IMProxy format",
      format: "improxy" as const,
      normal: () => legacyConfig(),
      fast: () => legacyConfig({ quickleave: true }),
    },
    {
      name: "YAML",
      format: "yaml" as const,
      normal: () => yamlConfig({ lastMemberQueryInterval: 1, robustness: 2 }),
      fast: () => yamlConfig({ lastMemberQueryInterval: 1, robustness: 2, fastLeave: true }),
    },
  ];

  for (const f of formats) {
    for (const family of FAMILIES) {
      const p = plan(family);

      it(`${family}, ${f.name}: 3. a blocked source stops within the Last Member Query Time, the other continues, upstream EXCLUDE {S2}`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(3);
        const capUp = await captureControl(topo.up, "eth0");
        const d = await startProxy(topo, f.normal(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          await h1.join(G);
          await waitUpstream(d, family, G, "exclude", []);
          const cap = await captureData(topo.rtr, "dn1");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
          await sleep(1000);
          assert.ok(h1.from(p.s2).length >= 50, "S2 flows to h1 before the block");

          const tBlock = await h1.block(G, p.s2);
          const learned = await waitLinkState(d, family, "dn1", G, "exclude", [p.s2], 5000);
          await waitUpstream(d, family, G, "exclude", [p.s2], 1000);
          await sleep(tBlock + LMQT_MS + 1500 - Date.now());
          for (const s of senders.splice(0)) await s.stop();
          await sleep(100);
          await cap.stop();
          await capUp.stop();

          const s2 = await stopDelay(cap.file, family, prt, p.s2, tBlock);
          const routerMs = Date.parse(String(learned.time)) - tBlock;
          t.diagnostic(
            `${family} ${f.name}: S2 last forwarded ${s2.afterMs.toFixed(0)} ms after the block (router state after ${routerMs} ms)`,
          );
          assert.ok(s2.before >= 50, "S2 was forwarded onto dn1 before the block");
          assert.ok(
            s2.afterMs <= LMQT_MS + 300,
            `S2 stopped within LMQT (+300 ms): ${s2.afterMs.toFixed(0)} ms`,
          );
          assert.ok(
            s2.afterMs >= LMQT_MS - 500,
            `no fast leave configured: the RFC timing holds (${s2.afterMs.toFixed(0)} ms)`,
          );
          const s1After = h1.from(p.s1, tBlock + LMQT_MS + 300);
          assert.ok(s1After.length >= 50, `S1 continues after S2 stopped (${s1After.length} packets)`);
          assert.deepEqual(gaps(h1.from(p.s1).map((x) => x.seq)), [], "S1 without a gap");
          assert.deepEqual(
            (await mfcEntry(topo.rtr, family, p.s2, G))?.oifs,
            [],
            "(S2,G) has no outgoing interface",
          );
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s1, G))?.oifs, ["dn1"]);

          // Upstream: the daemon's log, the kernel's filter (G is the newest group on up0 and
          // now has a source, so mcfilter shows it) and the report on the upstream link.
          assert.deepEqual(lastUpstreamLine(d, family, G)?.sources, [p.s2]);
          assert.equal(lastUpstreamLine(d, family, G)?.mode, "exclude");
          const rows = await upstreamSourceRows(topo.rtr, family, "up0", G);
          assert.deepEqual(
            rows.map((r) => ({ source: r.source, include: r.include, exclude: r.exclude })),
            [{ source: procSource(family, p.s2), include: 0, exclude: 1 }],
            "kernel upstream filter: EXCLUDE {S2}",
          );
          const last = (await reportRecords(capUp.file, family)).filter((r) => r.group === G).at(-1);
          assert.deepEqual(last && { type: last.type, sources: last.sources }, {
            type: "BLOCK",
            sources: [p.s2],
          });
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
          await capUp.stop();
        }
      });

      it(`${family}, ${f.name}: 6. leave with LMQI 1 s, robustness 2: forwarding stops 1.8-2.6 s after the leave; upstream dropped only when no link wants G`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(6);
        const capUp = await captureControl(topo.up, "eth0");
        const d = await startProxy(topo, f.normal(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          const h2 = await startHost(topo.h2, family, { port: prt });
          hosts.push(h1, h2);
          await h1.join(G);
          await h2.join(G);
          await waitLinkState(d, family, "dn1", G, "exclude", []);
          await waitLinkState(d, family, "dn2", G, "exclude", []);
          const cap1 = await captureData(topo.rtr, "dn1");
          const cap2 = await captureData(topo.rtr, "dn2");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          await sleep(1000);

          // h1 leaves; h2 still wants G.
          const tLeave1 = await h1.leave(G);
          await waitLinkState(d, family, "dn1", G, "include", [], 5000, tLeave1 - 5);
          await sleep(tLeave1 + 3500 - Date.now());
          assert.ok(await isMember(topo.rtr, family, "up0", G), "upstream membership kept while dn2 wants G");
          assert.equal(lastUpstreamLine(d, family, G)?.mode, "exclude");

          // h2 leaves: no link wants G any more.
          const tLeave2 = await h2.leave(G);
          await waitUpstream(d, family, G, "include", [], 5000, tLeave2 - 5);
          await sleep(tLeave2 + 3000 - Date.now());
          for (const s of senders.splice(0)) await s.stop();
          await cap1.stop();
          await cap2.stop();
          await capUp.stop();

          const dn1 = await stopDelay(cap1.file, family, prt, p.s1, tLeave1);
          const dn2 = await stopDelay(cap2.file, family, prt, p.s1, tLeave2);
          t.diagnostic(
            `${family} ${f.name}: dn1 stopped ${dn1.afterMs.toFixed(0)} ms after h1's leave; dn2 ${dn2.afterMs.toFixed(0)} ms after h2's`,
          );
          assert.ok(
            dn1.before >= 50 && dn2.before >= 50,
            "the stream flowed on both links before the leaves",
          );
          for (const [name, x] of [
            ["dn1", dn1],
            ["dn2", dn2],
          ] as const) {
            assert.ok(
              x.afterMs >= 1800 && x.afterMs <= 2600,
              `${name}: stop ${x.afterMs.toFixed(0)} ms after the leave`,
            );
          }
          const dn2AfterLeave1 = (await dataPackets(cap2.file, family, prt)).filter(
            (x) => x.at > tLeave1 + 2600 && x.at < tLeave2,
          );
          assert.ok(dn2AfterLeave1.length >= 50, "dn2 kept the stream after h1 left");
          assert.ok(!(await isMember(topo.rtr, family, "up0", G)), "upstream membership dropped");
          const last = (await reportRecords(capUp.file, family)).filter((r) => r.group === G).at(-1);
          assert.ok(last, "the router's kernel reported G upstream");
          assert.deepEqual(
            { type: last.type, sources: last.sources },
            { type: "TO_IN", sources: [] },
            "upstream leave report",
          );
          assert.ok(
            last.at >= tLeave2 + 1500,
            "the upstream leave came after the last link's LMQT, not at h1's leave",
          );
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
          await capUp.stop();
        }
      });

      it(`${family}, ${f.name}: 6. fast leave with one host: forwarding stops within 50 ms; upstream dropped`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(7);
        const d = await startProxy(topo, f.fast(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          await h1.join(G);
          await waitUpstream(d, family, G, "exclude", []);
          const cap = await captureData(topo.rtr, "dn1");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          await sleep(1000);
          const tLeave = await h1.leave(G);
          await waitUpstream(d, family, G, "include", [], 2000, tLeave - 5);
          await sleep(1000);
          for (const s of senders.splice(0)) await s.stop();
          await cap.stop();
          const x = await stopDelay(cap.file, family, prt, p.s1, tLeave);
          t.diagnostic(
            `${family} ${f.name}: fast leave stopped forwarding ${x.afterMs.toFixed(0)} ms after the leave`,
          );
          assert.ok(x.before >= 50, "the stream flowed before the leave");
          assert.ok(x.afterMs <= 50, `fast leave: last packet ${x.afterMs.toFixed(0)} ms after the leave`);
          assert.ok(!(await isMember(topo.rtr, family, "up0", G)), "upstream membership dropped");
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s1, G))?.oifs, []);
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
        }
      });
    }
  }

  for (const family of FAMILIES) {
    const p = plan(family);

    it(`${family}, IMProxy format: 6. source-specific leave (the C IMProxy crashed on IPv6 SSM leaves): S1 stops 1.8-2.6 s later, upstream dropped`, async (t: TestContext) => {
      const prt = ++port;
      const G = p.ssm(6);
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        hosts.push(h1);
        await h1.join(G, p.s1);
        await waitUpstream(d, family, G, "include", [p.s1]);
        const cap = await captureData(topo.rtr, "dn1");
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
        await sleep(1000);
        const tLeave = await h1.leave(G, p.s1);
        await waitUpstream(d, family, G, "include", [], 5000, tLeave - 5);
        await sleep(tLeave + 3000 - Date.now());
        for (const s of senders.splice(0)) await s.stop();
        await cap.stop();
        const x = await stopDelay(cap.file, family, prt, p.s1, tLeave);
        t.diagnostic(`${family}: source-specific leave stopped forwarding after ${x.afterMs.toFixed(0)} ms`);
        assert.ok(x.before >= 50, "S1 flowed before the leave");
        assert.ok(x.afterMs >= 1800 && x.afterMs <= 2600, `stop ${x.afterMs.toFixed(0)} ms after the leave`);
        assert.equal(d.proc.exitCode, null, "the daemon survived the SSM leave");
        assert.ok(!(await isMember(topo.rtr, family, "up0", G)), "upstream membership dropped");
        assert.deepEqual((await mfcEntry(topo.rtr, family, p.s1, G))?.oifs, []);
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
      }
    });

    it(`${family}, IMProxy format with quickleave: 3. a blocked source stops within 50 ms, the other continues`, async (t: TestContext) => {
      const prt = ++port;
      const G = p.asm(9);
      const d = await startProxy(topo, legacyConfig({ quickleave: true }));
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        hosts.push(h1);
        await h1.join(G);
        await waitUpstream(d, family, G, "exclude", []);
        const cap = await captureData(topo.rtr, "dn1");
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
        await sleep(1000);
        const tBlock = await h1.block(G, p.s2);
        await waitUpstream(d, family, G, "exclude", [p.s2], 2000, tBlock - 5);
        await sleep(1000);
        for (const s of senders.splice(0)) await s.stop();
        await sleep(100);
        await cap.stop();
        const s2 = await stopDelay(cap.file, family, prt, p.s2, tBlock);
        t.diagnostic(
          `${family}: with quickleave S2 last forwarded ${s2.afterMs.toFixed(0)} ms after the block`,
        );
        assert.ok(s2.before >= 50, "S2 flowed before the block");
        assert.ok(s2.afterMs <= 50, `S2 stopped ${s2.afterMs.toFixed(0)} ms after the block`);
        assert.ok(h1.from(p.s1, tBlock + 200).length >= 50, "S1 continues");
        assert.deepEqual(gaps(h1.from(p.s1).map((x) => x.seq)), [], "S1 without a gap");
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
      }
    });

    it(`${family}, IMProxy format: 3. unblocking the source brings it back at once; upstream returns to EXCLUDE {}`, async (t: TestContext) => {
      const prt = ++port;
      const G = p.asm(8);
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        hosts.push(h1);
        await h1.join(G);
        await h1.block(G, p.s2);
        // The host reports join + block as one TO_EX {S2}.
        await waitUpstream(d, family, G, "exclude", [p.s2]);
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
        // A blocked source of a fresh EXCLUDE {S2} join is never forwarded (the C IMProxy forwarded it).
        await waitLinkState(d, family, "dn1", G, "exclude", [p.s2], 5000);
        const cap = await captureData(topo.rtr, "dn1");
        await sleep(1000);
        const tUnblock = await h1.unblock(G, p.s2);
        await waitLinkState(d, family, "dn1", G, "exclude", [], 3000, tUnblock - 5);
        await waitUpstream(d, family, G, "exclude", [], 3000, tUnblock - 5);
        await sleep(1000);
        for (const s of senders.splice(0)) await s.stop();
        await cap.stop();
        const pk = (await dataPackets(cap.file, family, prt)).filter((x) => x.source === p.s2);
        const beforeUnblock = pk.filter((x) => x.at < tUnblock);
        const first = pk.find((x) => x.at >= tUnblock);
        assert.deepEqual(beforeUnblock, [], "nothing from the blocked source on dn1 while blocked");
        assert.ok(first, "S2 forwarded after the unblock");
        t.diagnostic(
          `${family}: S2 forwarded again ${(first.at - tUnblock).toFixed(0)} ms after the unblock`,
        );
        assert.ok(
          first.at - tUnblock <= 200,
          `S2 back ${(first.at - tUnblock).toFixed(0)} ms after the unblock`,
        );
        assert.ok(h1.from(p.s2, tUnblock).length >= 50, "h1 receives S2 again");
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
      }
    });
  }

  for (const family of FAMILIES) {
    const p = plan(family);
    const v4 = family === "ipv4";
    const sysctl = v4 ? "net.ipv4.conf.eth0.force_igmp_version" : "net.ipv6.conf.eth0.force_mld_version";
    const old = v4 ? "IGMPv2" : "MLDv1";

    it(`${family}, IMProxy format: 5. an ${old} host on dn2 joins and leaves correctly next to a current-version host on dn1`, async (t: TestContext) => {
      const prt = ++port;
      const G = p.asm(5);
      await topo.h2.sysctl(sysctl, v4 ? 2 : 1);
      const capH2 = await captureControl(topo.h2, "eth0");
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        const h2 = await startHost(topo.h2, family, { port: prt });
        hosts.push(h1, h2);
        await h1.join(G);
        await h2.join(G);
        await waitLinkState(d, family, "dn1", G, "exclude", []);
        await waitLinkState(d, family, "dn2", G, "exclude", []);
        const cap2 = await captureData(topo.rtr, "dn2");
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
        await sleep(1000);
        assert.ok(h2.from(p.s1).length >= 50, `the ${old} host receives the stream`);
        assert.ok(h1.from(p.s1).length >= 50, "the current-version host receives the stream");
        // RFC 4604 §2.2.1: an older-version report for a source-specific group is ignored.
        const Gs = p.ssm(5);
        await h2.join(Gs);
        await sleep(1000);
        assert.deepEqual(
          d.lines.filter((l) => l.family === family && l.group === Gs),
          [],
          `the ${old} report for the SSM group created no state`,
        );
        assert.ok(!(await isMember(topo.rtr, family, "up0", Gs)));
        await h2.leave(Gs);

        const tLeave = await h2.leave(G);
        await waitLinkState(d, family, "dn2", G, "include", [], 5000, tLeave - 5);
        await sleep(tLeave + 3000 - Date.now());
        assert.ok(await isMember(topo.rtr, family, "up0", G), "upstream kept for h1");
        const h1After = h1.from(p.s1, tLeave + 2600);
        assert.ok(h1After.length >= 20, `h1 still receives after h2 left (${h1After.length})`);
        const tLeave1 = await h1.leave(G);
        await waitUpstream(d, family, G, "include", [], 5000, tLeave1 - 5);
        for (const s of senders.splice(0)) await s.stop();
        await cap2.stop();
        await capH2.stop();

        const dn2 = await stopDelay(cap2.file, family, prt, p.s1, tLeave);
        t.diagnostic(`${family}: ${old} leave stopped forwarding on dn2 after ${dn2.afterMs.toFixed(0)} ms`);
        assert.ok(
          dn2.afterMs >= 1800 && dn2.afterMs <= 2600,
          `dn2 stop ${dn2.afterMs.toFixed(0)} ms after the leave`,
        );

        // The host really spoke the older version: report and leave/done types on its link.
        const msgs = v4
          ? await tsharkFields(capH2.file, "igmp && ip.src == 10.12.0.2", ["igmp.type", "igmp.maddr"])
          : await tsharkFields(capH2.file, "icmpv6.type >= 131 && icmpv6.type <= 143", [
              "icmpv6.type",
              "icmpv6.mld.multicast_address",
            ]);
        const types = msgs.filter(([, g]) => g === G).map(([ty]) => Number(ty));
        const report = v4 ? 0x16 : 131;
        const done = v4 ? 0x17 : 132;
        assert.ok(types.includes(report), `${old} report for G seen: ${types}`);
        assert.ok(types.includes(done), `${old} leave/done for G seen: ${types}`);
        if (types.includes(v4 ? 0x22 : 143)) {
          // Keep what the host sent in the failure message: this has failed intermittently
          // in full-suite runs and never in isolation.
          const all = v4
            ? await tsharkFields(capH2.file, "igmp", [
                "frame.time_epoch",
                "ip.src",
                "ip.dst",
                "igmp.type",
                "igmp.maddr",
                "igmp.record_type",
              ])
            : await tsharkFields(capH2.file, "icmpv6.type >= 130", [
                "frame.time_epoch",
                "ipv6.src",
                "icmpv6.type",
                "icmpv6.mld.multicast_address",
              ]);
          assert.fail(
            `current-version report from the older host; tLeave=${tLeave}; capture:\n${all.map((r) => r.join(" ")).join("\n")}`,
          );
        }
        // The router asked for G twice (Last Member Query Count) after the leave.
        const queries = v4
          ? await tsharkFields(capH2.file, `igmp.type == 0x11 && igmp.maddr == ${G}`, ["frame.time_epoch"])
          : await tsharkFields(capH2.file, `icmpv6.type == 130 && icmpv6.mld.multicast_address == ${G}`, [
              "frame.time_epoch",
            ]);
        const after = queries.map(([ts]) => Number(ts) * 1000).filter((ts) => ts >= tLeave);
        assert.equal(after.length, 2, `group-specific queries after the leave: ${after.length}`);
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
        await capH2.stop();
        await topo.h2.sysctl(sysctl, 0);
      }
    });
  }
});
