/**
 * The router configured for the older protocol versions (IMProxy `igmp enable version 2`,
 * `mld enable version 1`), IPv4 and IPv6: it sends only older-version queries, the hosts'
 * kernels fall back to IGMPv2 / MLDv1 on hearing them, and join, forwarding and leave
 * (Q(G) twice, forwarding stops after the Last Member Query Time) work in that mode.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { tsharkFields } from "../support/capture.js";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, sleep } from "../support/scenario.js";
import { seqGaps, stage, stopDelay, stopTraffic, useLab } from "../support/stage.js";

const OLD_VERSIONS =
  "igmp enable version 2\nmld enable version 1\nupstream up0\ndownstream dn1\ndownstream dn2\n";

describe("proxy with older protocol versions configured (IGMPv2, MLDv1)", { timeout: 300_000 }, () => {
  const topo = useLab(buildProxyLab);

  for (const fam of FAMILIES) {
    const v4 = fam.v4;
    const name = fam.older;

    it(`${fam.name}: as ${name} querier: older-version queries only, hosts report in that version, leave stops forwarding after the LMQT`, (t: TestContext) =>
      stage(fam, async (s) => {
        const G = fam.asm(70);
        const ctl = await s.captureControl(topo.h1, "eth0");
        const d = await s.proxy(topo, OLD_VERSIONS);
        await sleep(300); // the startup general query reaches h1 and puts its kernel in the older mode
        const h1 = await s.host(topo.h1);
        await h1.join(G);
        await fam.waitLinkState(d, "dn1", G, "exclude", []);
        await fam.waitUpstream(d, G, "exclude", []);
        const cap = await s.captureData(topo.rtr, "dn1");
        s.send(topo.up, G, fam.s1);
        await sleep(1000);
        const tLeave = await h1.leave(G);
        await fam.waitUpstream(d, G, "include", [], 5000, tLeave - 5);
        await sleep(500);
        await stopTraffic(s, [cap, ctl]);

        const got = h1.from(fam.s1);
        assert.ok(got.length >= 50, `h1 received ${got.length}`);
        assert.deepEqual(seqGaps(h1, fam.s1), []);
        const stopMs = (await stopDelay(fam, cap.file, s.port, fam.s1, tLeave)).afterMs;
        t.diagnostic(`${fam.name} ${name}: forwarding stopped ${stopMs.toFixed(0)} ms after the leave`);
        assert.ok(stopMs >= 1800 && stopMs <= 2600, `stop ${stopMs.toFixed(0)} ms after the leave`);
        assert.ok(!(await fam.isMember(topo.rtr, "up0", G)));

        // Wire: only older-version queries from the router; the host answered in that version.
        const queries = v4
          ? await tsharkFields(ctl.file, "igmp.type == 0x11", ["igmp.version", "igmp.maddr", "frame.time_epoch"])
          : await tsharkFields(ctl.file, "icmpv6.type == 130", [
              "icmpv6.mld.multicast_address",
              "ipv6.plen",
              "frame.time_epoch",
            ]);
        assert.ok(queries.length >= 3, `general and group-specific queries seen: ${queries.length}`);
        for (const q of queries) {
          if (v4) assert.equal(q[0], "2", "IGMPv2 query");
          else assert.equal(q[1], "32", "MLDv1 query: 8-byte hop-by-hop header + 24-byte MLD message");
        }
        const specific = (await fam.groupQueries(ctl.file, G)).filter((q) => q.at >= tLeave);
        assert.equal(specific.length, 2, "Q(G) twice after the leave (Last Member Query Count)");
        const types = await fam.hostMessageTypes(ctl.file, G, fam.h1);
        assert.ok(types.includes(fam.type.oldReport), `${name} report: ${types}`);
        assert.ok(types.includes(fam.type.oldLeave), `${name} leave/done: ${types}`);
      }));
  }
});
