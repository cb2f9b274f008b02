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
import { describe, it, type TestContext } from "node:test";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, eventually, FORMATS, legacyConfig, sleep } from "../support/scenario.js";
import { seqGaps, stage, stopTraffic, useLab } from "../support/stage.js";

describe("proxy forwarding (issue 4 scenarios 1, 2, 4)", { timeout: 600_000 }, () => {
  const topo = useLab(buildProxyLab);

  for (const f of FORMATS) {
    for (const fam of FAMILIES) {
      const name = `${fam.name}, ${f.name}`;

      it(`${name}: 1. any-source join on h1 gets every packet of an upstream stream; h2 gets none`, () =>
        stage(fam, async (s) => {
          const G = fam.asm(1);
          const d = await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          await h1.join(G);
          await fam.waitLinkState(d, "dn1", G, "exclude", []);
          await fam.waitUpstream(d, G, "exclude", []);
          await eventually(async () =>
            assert.ok(await fam.isMember(topo.rtr, "up0", G), "the router's kernel joined G on up0"),
          );

          const capH2 = await s.captureData(topo.h2, "eth0");
          s.send(topo.up, G, fam.s1);
          await sleep(2000);
          await stopTraffic(s, [capH2], 200);

          const n = h1.from(fam.s1).length;
          assert.ok(n >= 100, `h1 received ${n} packets`);
          assert.deepEqual(
            seqGaps(h1, fam.s1),
            [],
            "h1 got every packet from the first one on (no join or upcall delay)",
          );
          assert.deepEqual(h1.from(fam.s2), []);
          const e = await fam.mfcEntry(topo.rtr, fam.s1, G);
          assert.deepEqual(
            e && { iif: e.iif, oifs: e.oifs },
            { iif: "up0", oifs: ["dn1"] },
            "MFC (S1,G): up0 -> dn1 only",
          );
          const onH2 = await fam.dataPackets(capH2.file, s.port);
          assert.equal(onH2.length, 0, "no datagram of the stream appeared on h2's link");
        }));

      it(`${name}: 1. a join into a stream already flowing is served at once (no wait for a new upcall)`, (t: TestContext) =>
        stage(fam, async (s) => {
          const G = fam.asm(21);
          await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          s.send(topo.up, G, fam.s1);
          // The (S1,G) entry exists without outgoing links before anyone joins.
          const deadline = Date.now() + 3000;
          while (!(await fam.mfcEntry(topo.rtr, fam.s1, G)) && Date.now() < deadline) await sleep(50);
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s1, G), [], "(S1,G) known, forwarded nowhere");
          await sleep(1000);
          const tJoin = await h1.join(G);
          await sleep(1500);
          const got = h1.from(fam.s1);
          assert.ok(got.length >= 100, `h1 received ${got.length} packets`);
          const first = got[0]!;
          const delay = first.at - tJoin;
          t.diagnostic(`${name}: first packet ${delay} ms after the join into a flowing stream`);
          assert.ok(delay <= 200, `first packet ${delay} ms after the join`);
          assert.deepEqual(seqGaps(h1, fam.s1, undefined, first.seq), [], "no gap after the first packet");
        }));

      it(`${name}: 2. source-specific join (S1,G): only S1 reaches h1, upstream INCLUDE {S1}, S2 never leaves the router`, () =>
        stage(fam, async (s) => {
          const G = fam.ssm(2);
          const capUp = await s.captureControl(topo.up, "eth0");
          const d = await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          await h1.join(G, fam.s1);
          await fam.waitLinkState(d, "dn1", G, "include", [fam.s1]);
          await fam.waitUpstream(d, G, "include", [fam.s1]);
          // Kernel read-back: G is the newest group on up0 and has a source, so mcfilter shows it.
          await eventually(async () => {
            assert.ok(await fam.isMember(topo.rtr, "up0", G));
            assert.deepEqual(
              await fam.filterOf(topo.rtr, "up0", G),
              fam.filter("include", [fam.s1]),
              "upstream filter of G is INCLUDE {S1}",
            );
          });

          const capD1 = await s.captureData(topo.rtr, "dn1");
          const capD2 = await s.captureData(topo.rtr, "dn2");
          s.send(topo.up, G, fam.s1);
          s.send(topo.up, G, fam.s2);
          await sleep(2000);
          await stopTraffic(s, [capD1, capD2, capUp], 200);

          assert.ok(h1.from(fam.s1).length >= 100, `h1 received ${h1.from(fam.s1).length} packets from S1`);
          assert.deepEqual(seqGaps(h1, fam.s1), [], "every S1 packet");
          assert.equal(h1.from(fam.s2).length, 0, "nothing from S2 reached h1's socket");
          const d1 = await fam.dataPackets(capD1.file, s.port);
          assert.ok(d1.filter((x) => x.source === fam.s1).length >= 100, "S1 forwarded onto dn1");
          assert.deepEqual(
            d1.filter((x) => x.source !== fam.s1),
            [],
            "no packet from S2 (or anyone else) on dn1",
          );
          assert.deepEqual(await fam.dataPackets(capD2.file, s.port), [], "nothing on dn2");
          const e2 = await fam.mfcEntry(topo.rtr, fam.s2, G);
          assert.ok(e2, "the kernel holds an (S2,G) entry (installed from the upcall)");
          assert.deepEqual(
            { iif: e2.iif, oifs: e2.oifs },
            { iif: "up0", oifs: [] },
            "(S2,G) has no outgoing interface",
          );
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s1, G), ["dn1"]);

          const recs = (await fam.reportRecords(capUp.file)).filter((r) => r.group === G);
          assert.ok(recs.length >= 1, "the router's kernel reported G upstream");
          for (const r of recs) {
            assert.ok(
              ["ALLOW", "IS_IN", "TO_IN"].includes(r.type),
              `upstream record ${r.type} is an INCLUDE-mode record`,
            );
            assert.deepEqual(r.sources, [fam.s1], "upstream report names S1 only");
          }
        }));

      it(`${name}: 4. h1 INCLUDE {S1} and h2 any-source for one group: both served, upstream EXCLUDE {}`, () =>
        stage(fam, async (s) => {
          const G = fam.asm(4);
          const capUp = await s.captureControl(topo.up, "eth0");
          const d = await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          const h2 = await s.host(topo.h2);
          await h1.join(G, fam.s1);
          await fam.waitUpstream(d, G, "include", [fam.s1]);
          await h2.join(G);
          await fam.waitLinkState(d, "dn1", G, "include", [fam.s1]);
          await fam.waitLinkState(d, "dn2", G, "exclude", []);
          await fam.waitUpstream(d, G, "exclude", []);
          await eventually(async () => assert.ok(await fam.isMember(topo.rtr, "up0", G)));

          const capD1 = await s.captureData(topo.rtr, "dn1");
          s.send(topo.up, G, fam.s1);
          s.send(topo.up, G, fam.s2);
          await sleep(2000);
          await stopTraffic(s, [capD1, capUp], 200);

          assert.equal(d.proc.exitCode, null, "the daemon is still running");
          assert.ok(h1.from(fam.s1).length >= 100, "h1 gets S1");
          assert.equal(h1.from(fam.s2).length, 0, "h1 does not get S2");
          assert.ok(h2.from(fam.s1).length >= 100, "h2 gets S1");
          assert.ok(h2.from(fam.s2).length >= 100, "h2 gets S2");
          assert.deepEqual(seqGaps(h2, fam.s2), [], "h2 got every S2 packet");
          const d1 = await fam.dataPackets(capD1.file, s.port);
          assert.equal(d1.filter((x) => x.source === fam.s2).length, 0, "S2 never forwarded onto dn1");
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s1, G), ["dn1", "dn2"]);
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s2, G), ["dn2"]);

          const last = await fam.lastRecord(capUp.file, G);
          assert.ok(last, "the router's kernel reported G upstream");
          assert.deepEqual(
            { type: last.type, sources: last.sources },
            { type: "TO_EX", sources: [] },
            "upstream went to EXCLUDE {}",
          );
        }));

      it(`${name}: 4. back from EXCLUDE {} to INCLUDE: when the any-source host leaves, upstream becomes INCLUDE {S1} and S2 stops`, () =>
        stage(fam, async (s) => {
          const G = fam.asm(22);
          const capUp = await s.captureControl(topo.up, "eth0");
          const d = await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          const h2 = await s.host(topo.h2);
          await h2.join(G);
          await fam.waitUpstream(d, G, "exclude", []);
          await h1.join(G, fam.s1);
          await fam.waitLinkState(d, "dn1", G, "include", [fam.s1]);
          s.send(topo.up, G, fam.s1);
          s.send(topo.up, G, fam.s2);
          await sleep(1000);
          const capD2 = await s.captureData(topo.rtr, "dn2");
          const tLeave = await h2.leave(G);
          await fam.waitUpstream(d, G, "include", [fam.s1], 5000, tLeave - 5);
          await sleep(1000);
          await stopTraffic(s, [capD2, capUp], 100);

          assert.deepEqual(seqGaps(h1, fam.s1), [], "h1 kept S1 without a gap across the switch");
          assert.equal(h1.from(fam.s2).length, 0);
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s1, G), ["dn1"]);
          assert.deepEqual(await fam.oifs(topo.rtr, fam.s2, G), []);
          assert.deepEqual(
            await fam.filterOf(topo.rtr, "up0", G),
            fam.filter("include", [fam.s1]),
            "kernel upstream filter: INCLUDE {S1}",
          );
          const last = await fam.lastRecord(capUp.file, G);
          assert.ok(last);
          assert.deepEqual({ type: last.type, sources: last.sources }, { type: "TO_IN", sources: [fam.s1] });
          assert.ok(
            (await fam.dataPackets(capD2.file, s.port)).length > 0,
            "dn2 had the stream before the leave",
          );
        }));

      it(`${name}: 2. INCLUDE {S1} on dn1 and INCLUDE {S2} on dn2: upstream INCLUDE {S1, S2}, each link gets its own source only`, () =>
        stage(fam, async (s) => {
          const G = fam.ssm(23);
          const d = await s.proxy(topo, f.config(), f.format);
          const h1 = await s.host(topo.h1);
          const h2 = await s.host(topo.h2);
          await h1.join(G, fam.s1);
          await h2.join(G, fam.s2);
          await fam.waitUpstream(d, G, "include", [fam.s1, fam.s2]);
          const capD1 = await s.captureData(topo.rtr, "dn1");
          const capD2 = await s.captureData(topo.rtr, "dn2");
          s.send(topo.up, G, fam.s1);
          s.send(topo.up, G, fam.s2);
          await sleep(1500);
          await stopTraffic(s, [capD1, capD2], 100);
          const d1 = await fam.dataPackets(capD1.file, s.port);
          const d2 = await fam.dataPackets(capD2.file, s.port);
          assert.ok(d1.length >= 100 && d1.every((x) => x.source === fam.s1), "dn1: S1 only");
          assert.ok(d2.length >= 100 && d2.every((x) => x.source === fam.s2), "dn2: S2 only");
          assert.deepEqual(
            await fam.filterOf(topo.rtr, "up0", G),
            fam.filter("include", [fam.s1, fam.s2]),
            "kernel upstream filter lists both sources, each included once",
          );
        }));
    }
  }

  for (const fam of FAMILIES) {
    const remote = fam.v4 ? "198.18.0.5" : "fd00:99::5";

    it(`${fam.name}, IMProxy format: 2. a source beyond the upstream link (not on its subnet): source-specific and any-source joins both served`, () =>
      stage(fam, async (s) => {
        const Gs = fam.ssm(24);
        const G = fam.asm(24);
        // The sender sits behind the upstream host (a router in real life): a host route on
        // `up`'s eth0, outside the upstream subnet. (Not on `lo`: IPv4 would then send the
        // group's datagrams out of `lo`, the interface owning the bound source.)
        await topo.up.addAddress("eth0", fam.hostPrefix(remote));
        s.defer(async () => {
          await topo.up.ip(...(fam.v4 ? [] : ["-6"]), "addr", "del", fam.hostPrefix(remote), "dev", "eth0");
        });
        const d = await s.proxy(topo, legacyConfig());
        const h1 = await s.host(topo.h1);
        const h2 = await s.host(topo.h2);
        await h1.join(Gs, remote);
        await h2.join(G);
        await fam.waitUpstream(d, Gs, "include", [remote]);
        await fam.waitUpstream(d, G, "exclude", []);
        s.send(topo.up, Gs, remote);
        s.send(topo.up, G, remote);
        await sleep(1500);
        await stopTraffic(s, [], 100);
        const a = h1.from(remote);
        const b = h2.from(remote);
        assert.ok(a.length >= 100, `h1 got ${a.length} packets of (R,Gs)`);
        assert.ok(b.length >= 100, `h2 got ${b.length} packets of (R,G)`);
        assert.deepEqual(seqGaps(h1, remote), []);
        assert.deepEqual(seqGaps(h2, remote), []);
        assert.deepEqual(await fam.oifs(topo.rtr, remote, Gs), ["dn1"]);
        assert.deepEqual(await fam.oifs(topo.rtr, remote, G), ["dn2"]);
      }));
  }
});
