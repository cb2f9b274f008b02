/**
 * Issue 4, forwarding scenarios 1, 2 and 4 against the real kernel, IPv4 and IPv6, from an
 * IMProxy-format config and again from the equivalent YAML config:
 *   1. any-source join on h1: h1 gets every packet of an upstream stream, h2 none;
 *   2. source-specific join (S1,G) while S1 and S2 send: only S1 reaches h1, upstream is
 *      INCLUDE {S1}, S2 never leaves the router and its MFC entry has no outgoing link;
 *   4. h1 INCLUDE {S1} and h2 any-source for one group (the C IMProxy crashed here): both
 *      get what they asked for, upstream is EXCLUDE {}.
 * Upstream filters are read back three ways: the daemon's "upstream membership" log line,
 * the router kernel's /proc/net/igmp(6) (+ /proc/net/mcfilter(6) where the newest group
 * on up0 has sources, see the kernel quirk in scenario.ts), and the IGMPv3/MLDv2 report
 * records the router's kernel sent onto the upstream link (captured on `up`).
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Topology } from "../../src/lab/topology.js";
import { startSender } from "../../src/lab/hosts.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import {
  buildProxyLab,
  captureControl,
  captureData,
  dataPackets,
  eventually,
  FAMILIES,
  gaps,
  isMember,
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

describe("proxy forwarding (issue 4 scenarios 1, 2, 4)", { timeout: 600_000 }, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
  });
  after(async () => {
    await topo?.destroy();
  });

  const formats = [
    { name: "IMProxy format", format: "improxy" as const, text: () => legacyConfig() },
    { name: "YAML", format: "yaml" as const, text: () => yamlConfig() },
  ];
  let port = 6000;

  for (const f of formats) {
    for (const family of FAMILIES) {
      const p = plan(family);

      it(`${family}, ${f.name}: 1. any-source join on h1 gets every packet of an upstream stream; h2 gets none`, async () => {
        const prt = ++port;
        const G = p.asm(1);
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          await h1.join(G);
          await waitLinkState(d, family, "dn1", G, "exclude", []);
          await waitUpstream(d, family, G, "exclude", []);
          await eventually(async () =>
            assert.ok(await isMember(topo.rtr, family, "up0", G), "the router's kernel joined G on up0"),
          );

          const capH2 = await captureData(topo.h2, "eth0");
          const s1 = startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 });
          senders.push(s1);
          await sleep(2000);
          await s1.stop();
          await sleep(200);
          await capH2.stop();

          const seqs = h1.from(p.s1).map((x) => x.seq);
          assert.ok(seqs.length >= 100, `h1 received ${seqs.length} packets`);
          assert.deepEqual(
            gaps(seqs),
            [],
            "h1 got every packet from the first one on (no join or upcall delay)",
          );
          assert.deepEqual(h1.from(p.s2), []);
          const e = await mfcEntry(topo.rtr, family, p.s1, G);
          assert.deepEqual(
            e && { iif: e.iif, oifs: e.oifs },
            { iif: "up0", oifs: ["dn1"] },
            "MFC (S1,G): up0 -> dn1 only",
          );
          const onH2 = await dataPackets(capH2.file, family, prt);
          assert.equal(onH2.length, 0, "no datagram of the stream appeared on h2's link");
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
        }
      });

      it(`${family}, ${f.name}: 1. a join into a stream already flowing is served at once (no wait for a new upcall)`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(21);
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          // The (S1,G) entry exists without outgoing links before anyone joins.
          const deadline = Date.now() + 3000;
          while (!(await mfcEntry(topo.rtr, family, p.s1, G)) && Date.now() < deadline) await sleep(50);
          assert.deepEqual(
            (await mfcEntry(topo.rtr, family, p.s1, G))?.oifs,
            [],
            "(S1,G) known, forwarded nowhere",
          );
          await sleep(1000);
          const tJoin = await h1.join(G);
          await sleep(1500);
          const got = h1.from(p.s1);
          assert.ok(got.length >= 100, `h1 received ${got.length} packets`);
          const first = got[0]!;
          const delay = first.at - tJoin;
          t.diagnostic(`${family} ${f.name}: first packet ${delay} ms after the join into a flowing stream`);
          assert.ok(delay <= 200, `first packet ${delay} ms after the join`);
          assert.deepEqual(
            gaps(
              got.map((x) => x.seq),
              first.seq,
            ),
            [],
            "no gap after the first packet",
          );
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
        }
      });

      it(`${family}, ${f.name}: 2. source-specific join (S1,G): only S1 reaches h1, upstream INCLUDE {S1}, S2 never leaves the router`, async () => {
        const prt = ++port;
        const G = p.ssm(2);
        const capUp = await captureControl(topo.up, "eth0");
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          await h1.join(G, p.s1);
          await waitLinkState(d, family, "dn1", G, "include", [p.s1]);
          await waitUpstream(d, family, G, "include", [p.s1]);
          // Kernel read-back: G is the newest group on up0 and has a source, so mcfilter shows it.
          await eventually(async () => {
            assert.ok(await isMember(topo.rtr, family, "up0", G));
            const rows = await upstreamSourceRows(topo.rtr, family, "up0", G);
            assert.deepEqual(
              rows.map((r) => ({ source: r.source, include: r.include, exclude: r.exclude })),
              [{ source: procSource(family, p.s1), include: 1, exclude: 0 }],
              "upstream filter of G is INCLUDE {S1}",
            );
          });

          const capD1 = await captureData(topo.rtr, "dn1");
          const capD2 = await captureData(topo.rtr, "dn2");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
          await sleep(2000);
          for (const s of senders.splice(0)) await s.stop();
          await sleep(200);
          await capD1.stop();
          await capD2.stop();
          await capUp.stop();

          assert.ok(h1.from(p.s1).length >= 100, `h1 received ${h1.from(p.s1).length} packets from S1`);
          assert.deepEqual(gaps(h1.from(p.s1).map((x) => x.seq)), [], "every S1 packet");
          assert.equal(h1.from(p.s2).length, 0, "nothing from S2 reached h1's socket");
          const d1 = await dataPackets(capD1.file, family, prt);
          assert.ok(d1.filter((x) => x.source === p.s1).length >= 100, "S1 forwarded onto dn1");
          assert.deepEqual(
            d1.filter((x) => x.source !== p.s1),
            [],
            "no packet from S2 (or anyone else) on dn1",
          );
          assert.deepEqual(await dataPackets(capD2.file, family, prt), [], "nothing on dn2");
          const e2 = await mfcEntry(topo.rtr, family, p.s2, G);
          assert.ok(e2, "the kernel holds an (S2,G) entry (installed from the upcall)");
          assert.deepEqual(
            { iif: e2.iif, oifs: e2.oifs },
            { iif: "up0", oifs: [] },
            "(S2,G) has no outgoing interface",
          );
          const e1 = await mfcEntry(topo.rtr, family, p.s1, G);
          assert.deepEqual(e1?.oifs, ["dn1"]);

          const recs = (await reportRecords(capUp.file, family)).filter((r) => r.group === G);
          assert.ok(recs.length >= 1, "the router's kernel reported G upstream");
          for (const r of recs) {
            assert.ok(
              ["ALLOW", "IS_IN", "TO_IN"].includes(r.type),
              `upstream record ${r.type} is an INCLUDE-mode record`,
            );
            assert.deepEqual(r.sources, [p.s1], "upstream report names S1 only");
          }
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
          await capUp.stop();
        }
      });

      it(`${family}, ${f.name}: 4. h1 INCLUDE {S1} and h2 any-source for one group: both served, upstream EXCLUDE {}`, async () => {
        const prt = ++port;
        const G = p.asm(4);
        const capUp = await captureControl(topo.up, "eth0");
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          const h2 = await startHost(topo.h2, family, { port: prt });
          hosts.push(h1, h2);
          await h1.join(G, p.s1);
          await waitUpstream(d, family, G, "include", [p.s1]);
          await h2.join(G);
          await waitLinkState(d, family, "dn1", G, "include", [p.s1]);
          await waitLinkState(d, family, "dn2", G, "exclude", []);
          await waitUpstream(d, family, G, "exclude", []);
          await eventually(async () => assert.ok(await isMember(topo.rtr, family, "up0", G)));

          const capD1 = await captureData(topo.rtr, "dn1");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
          await sleep(2000);
          for (const s of senders.splice(0)) await s.stop();
          await sleep(200);
          await capD1.stop();
          await capUp.stop();

          assert.equal(d.proc.exitCode, null, "the daemon is still running");
          assert.ok(h1.from(p.s1).length >= 100, "h1 gets S1");
          assert.equal(h1.from(p.s2).length, 0, "h1 does not get S2");
          assert.ok(h2.from(p.s1).length >= 100, "h2 gets S1");
          assert.ok(h2.from(p.s2).length >= 100, "h2 gets S2");
          assert.deepEqual(gaps(h2.from(p.s2).map((x) => x.seq)), [], "h2 got every S2 packet");
          const d1 = await dataPackets(capD1.file, family, prt);
          assert.equal(d1.filter((x) => x.source === p.s2).length, 0, "S2 never forwarded onto dn1");
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s1, G))?.oifs, ["dn1", "dn2"]);
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s2, G))?.oifs, ["dn2"]);

          const recs = (await reportRecords(capUp.file, family)).filter((r) => r.group === G);
          const last = recs.at(-1);
          assert.ok(last, "the router's kernel reported G upstream");
          assert.deepEqual(
            { type: last.type, sources: last.sources },
            { type: "TO_EX", sources: [] },
            "upstream went to EXCLUDE {}",
          );
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
          await capUp.stop();
        }
      });

      it(`${family}, ${f.name}: 4. back from EXCLUDE {} to INCLUDE: when the any-source host leaves, upstream becomes INCLUDE {S1} and S2 stops`, async () => {
        const prt = ++port;
        const G = p.asm(22);
        const capUp = await captureControl(topo.up, "eth0");
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          const h2 = await startHost(topo.h2, family, { port: prt });
          hosts.push(h1, h2);
          await h2.join(G);
          await waitUpstream(d, family, G, "exclude", []);
          await h1.join(G, p.s1);
          await waitLinkState(d, family, "dn1", G, "include", [p.s1]);
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
          await sleep(1000);
          const capD2 = await captureData(topo.rtr, "dn2");
          const tLeave = await h2.leave(G);
          await waitUpstream(d, family, G, "include", [p.s1], 5000, tLeave - 5);
          await sleep(1000);
          for (const s of senders.splice(0)) await s.stop();
          await sleep(100);
          await capD2.stop();
          await capUp.stop();

          assert.deepEqual(
            gaps(h1.from(p.s1).map((x) => x.seq)),
            [],
            "h1 kept S1 without a gap across the switch",
          );
          assert.equal(h1.from(p.s2).length, 0);
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s1, G))?.oifs, ["dn1"]);
          assert.deepEqual((await mfcEntry(topo.rtr, family, p.s2, G))?.oifs, []);
          const rows = await upstreamSourceRows(topo.rtr, family, "up0", G);
          assert.deepEqual(
            rows.map((r) => ({ source: r.source, include: r.include, exclude: r.exclude })),
            [{ source: procSource(family, p.s1), include: 1, exclude: 0 }],
            "kernel upstream filter: INCLUDE {S1}",
          );
          const last = (await reportRecords(capUp.file, family)).filter((r) => r.group === G).at(-1);
          assert.ok(last);
          assert.deepEqual({ type: last.type, sources: last.sources }, { type: "TO_IN", sources: [p.s1] });
          assert.ok(
            (await dataPackets(capD2.file, family, prt)).length > 0,
            "dn2 had the stream before the leave",
          );
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
          await capUp.stop();
        }
      });

      it(`${family}, ${f.name}: 2. INCLUDE {S1} on dn1 and INCLUDE {S2} on dn2: upstream INCLUDE {S1, S2}, each link gets its own source only`, async () => {
        const prt = ++port;
        const G = p.ssm(23);
        const d = await startProxy(topo, f.text(), f.format);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          const h2 = await startHost(topo.h2, family, { port: prt });
          hosts.push(h1, h2);
          await h1.join(G, p.s1);
          await h2.join(G, p.s2);
          await waitUpstream(d, family, G, "include", [p.s1, p.s2]);
          const capD1 = await captureData(topo.rtr, "dn1");
          const capD2 = await captureData(topo.rtr, "dn2");
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s2 }));
          await sleep(1500);
          for (const s of senders.splice(0)) await s.stop();
          await sleep(100);
          await capD1.stop();
          await capD2.stop();
          const d1 = await dataPackets(capD1.file, family, prt);
          const d2 = await dataPackets(capD2.file, family, prt);
          assert.ok(d1.length >= 100 && d1.every((x) => x.source === p.s1), "dn1: S1 only");
          assert.ok(d2.length >= 100 && d2.every((x) => x.source === p.s2), "dn2: S2 only");
          const rows = await upstreamSourceRows(topo.rtr, family, "up0", G);
          assert.deepEqual(
            rows.map((r) => r.source).sort(),
            [procSource(family, p.s1), procSource(family, p.s2)].sort(),
            "kernel upstream filter lists both sources",
          );
          assert.ok(rows.every((r) => r.include === 1 && r.exclude === 0));
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
    const remote = family === "ipv4" ? "198.18.0.5" : "fd00:99::5";

    it(`${family}, IMProxy format: 2. a source beyond the upstream link (not on its subnet): source-specific and any-source joins both served`, async () => {
      const prt = ++port;
      const Gs = p.ssm(24);
      const G = p.asm(24);
      // The sender sits behind the upstream host (a router in real life): a host route on
      // `up`'s eth0, outside the upstream subnet. (Not on `lo`: IPv4 would then send the
      // group's datagrams out of `lo`, the interface owning the bound source.)
      await topo.up.addAddress("eth0", family === "ipv4" ? `${remote}/32` : `${remote}/128`);
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        const h2 = await startHost(topo.h2, family, { port: prt });
        hosts.push(h1, h2);
        await h1.join(Gs, remote);
        await h2.join(G);
        await waitUpstream(d, family, Gs, "include", [remote]);
        await waitUpstream(d, family, G, "exclude", []);
        senders.push(startSender(topo.up, Gs, { port: prt, intervalMs: 10, bind: remote }));
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: remote }));
        await sleep(1500);
        for (const s of senders.splice(0)) await s.stop();
        await sleep(100);
        const a = h1.from(remote);
        const b = h2.from(remote);
        assert.ok(a.length >= 100, `h1 got ${a.length} packets of (R,Gs)`);
        assert.ok(b.length >= 100, `h2 got ${b.length} packets of (R,G)`);
        assert.deepEqual(gaps(a.map((x) => x.seq)), []);
        assert.deepEqual(gaps(b.map((x) => x.seq)), []);
        assert.deepEqual((await mfcEntry(topo.rtr, family, remote, Gs))?.oifs, ["dn1"]);
        assert.deepEqual((await mfcEntry(topo.rtr, family, remote, G))?.oifs, ["dn2"]);
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
        await topo.up.ip(
          ...(family === "ipv6" ? ["-6"] : []),
          "addr",
          "del",
          family === "ipv4" ? `${remote}/32` : `${remote}/128`,
          "dev",
          "eth0",
        );
      }
    });
  }
});
