/**
 * Interfaces that go away and come back while a stream flows (PPPoE reconnects, cable
 * pulls), IPv4 and IPv6: the daemon detaches the link and re-attaches it, re-applies the
 * upstream memberships, re-learns the downstream state from the hosts' answers to its
 * startup queries, and the stream reaches the host again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { startSender } from "../../src/lab/hosts.js";
import type { Topology } from "../../src/lab/topology.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import {
  buildProxyLab,
  FAMILIES,
  isMember,
  plan,
  sleep,
  startProxy,
  stopProxy,
  waitUpstream,
  yamlConfig,
} from "../support/scenario.js";

describe("proxy: links that go down and come back", { timeout: 300_000 }, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
    // Keep the static IPv6 addresses across down/up (Linux flushes them otherwise).
    for (const ifname of ["up0", "dn1", "dn2"])
      await topo.rtr.sysctl(`net.ipv6.conf.${ifname}.keep_addr_on_down`, 1);
  });
  after(async () => {
    await topo?.destroy();
  });
  let port = 9700;

  for (const family of FAMILIES) {
    const p = plan(family);
    for (const ifname of ["up0", "dn1"]) {
      it(`${family}: ${ifname} down and up again: the stream comes back to h1`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(ifname === "up0" ? 40 : 41);
        const d = await startProxy(topo, yamlConfig({ queryMaxResponseTime: 1 }), "yaml");
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          hosts.push(h1);
          await h1.join(G);
          await waitUpstream(d, family, G, "exclude", []);
          senders.push(startSender(topo.up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          await sleep(1000);
          assert.ok(h1.from(p.s1).length >= 50, "flowing before the flap");

          const nAttached = d.lines.filter((l) => l.msg === "interface attached").length;
          await topo.rtr.linkDown(ifname);
          await d.waitFor(
            (l) => l.msg === "interface detached" && l.family === family && l.interface === ifname,
            5000,
            `${ifname} detached`,
          );
          await sleep(500);
          const tUp = Date.now();
          await topo.rtr.linkUp(ifname);
          await d.waitFor(
            (l) =>
              l.msg === "interface attached" &&
              l.family === family &&
              l.interface === ifname &&
              d.lines.indexOf(l) >= nAttached,
            10_000,
            `${ifname} attached again`,
          );
          // Startup queries (max response 1 s) bring h1's report back; upstream is re-applied.
          const deadline = Date.now() + 6000;
          while (h1.from(p.s1, tUp).length < 50 && Date.now() < deadline) await sleep(100);
          const back = h1.from(p.s1, tUp);
          assert.ok(
            back.length >= 50,
            `h1 receives again after ${ifname} came back (${back.length} packets)`,
          );
          t.diagnostic(`${family} ${ifname}: first packet ${back[0]!.at - tUp} ms after the link came up`);
          assert.ok(await isMember(topo.rtr, family, "up0", G), "upstream membership re-applied");
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await topo.rtr.linkUp(ifname);
          await stopProxy(d);
        }
      });
    }
  }
});
