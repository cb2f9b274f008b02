/**
 * The router configured for the older protocol versions (IMProxy `igmp enable version 2`,
 * `mld enable version 1`), IPv4 and IPv6: it sends only older-version queries, the hosts'
 * kernels fall back to IGMPv2 / MLDv1 on hearing them, and join, forwarding and leave
 * (Q(G) twice, forwarding stops after the Last Member Query Time) work in that mode.
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
  plan,
  sleep,
  startProxy,
  stopProxy,
  waitLinkState,
  waitUpstream,
} from "../support/scenario.js";

const OLD_VERSIONS =
  "igmp enable version 2\nmld enable version 1\nupstream up0\ndownstream dn1\ndownstream dn2\n";

describe("proxy with older protocol versions configured (IGMPv2, MLDv1)", { timeout: 300_000 }, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
  });
  after(async () => {
    await topo?.destroy();
  });
  let port = 9800;

  for (const family of FAMILIES) {
    const p = plan(family);
    const v4 = family === "ipv4";
    const name = v4 ? "IGMPv2" : "MLDv1";

    it(`${family}: as ${name} querier: older-version queries only, hosts report in that version, leave stops forwarding after the LMQT`, async (t: TestContext) => {
      const prt = ++port;
      const G = p.asm(70);
      const ctl = await captureControl(topo.h1, "eth0");
      const d = await startProxy(topo, OLD_VERSIONS);
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        await sleep(300); // the startup general query reaches h1 and puts its kernel in the older mode
        const h1 = await startHost(topo.h1, family, { port: prt });
        hosts.push(h1);
        await h1.join(G);
        await waitLinkState(d, family, "dn1", G, "exclude", []);
        await waitUpstream(d, family, G, "exclude", []);
        const cap = await captureData(topo.rtr, "dn1");
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
        await sleep(1000);
        const tLeave = await h1.leave(G);
        await waitUpstream(d, family, G, "include", [], 5000, tLeave - 5);
        await sleep(500);
        for (const s of senders.splice(0)) await s.stop();
        await cap.stop();
        await ctl.stop();

        const got = h1.from(p.s1);
        assert.ok(got.length >= 50, `h1 received ${got.length}`);
        assert.deepEqual(gaps(got.map((x) => x.seq)), []);
        const pk = await dataPackets(cap.file, family, prt);
        const stopMs = (pk.at(-1)?.at ?? 0) - tLeave;
        t.diagnostic(`${family} ${name}: forwarding stopped ${stopMs.toFixed(0)} ms after the leave`);
        assert.ok(stopMs >= 1800 && stopMs <= 2600, `stop ${stopMs.toFixed(0)} ms after the leave`);
        assert.ok(!(await isMember(topo.rtr, family, "up0", G)));

        // Wire: only older-version queries from the router; the host answered in that version.
        const queries = v4
          ? await tsharkFields(ctl.file, "igmp.type == 0x11", [
              "igmp.version",
              "igmp.maddr",
              "frame.time_epoch",
            ])
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
        const specific = queries.filter((q) => (v4 ? q[1] : q[0]) === G && Number(q[2]) * 1000 >= tLeave);
        assert.equal(specific.length, 2, "Q(G) twice after the leave (Last Member Query Count)");
        const hostMsgs = v4
          ? await tsharkFields(ctl.file, `igmp && ip.src == ${p.h1}`, ["igmp.type"])
          : await tsharkFields(ctl.file, "icmpv6.type == 131 || icmpv6.type == 132 || icmpv6.type == 143", [
              "icmpv6.type",
              "icmpv6.mld.multicast_address",
              "icmpv6.mldr.mar.multicast_address",
            ]);
        const types = hostMsgs
          .filter((m) => v4 || m[1] === G || (m[2] ?? "").split(",").includes(G))
          .map((m) => Number(m[0]));
        assert.ok(types.includes(v4 ? 0x16 : 131), `${name} report: ${types}`);
        assert.ok(types.includes(v4 ? 0x17 : 132), `${name} leave/done: ${types}`);
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
        await ctl.stop();
      }
    });
  }
});
