/**
 * Interfaces that go away and come back while a stream flows (PPPoE reconnects, cable
 * pulls), IPv4 and IPv6: the daemon detaches the link and re-attaches it, re-applies the
 * upstream memberships, re-learns the downstream state from the hosts' answers to its
 * startup queries, and the stream reaches the host again.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, sleep, yamlConfig } from "../support/scenario.js";
import { stage, useLab } from "../support/stage.js";

describe("proxy: links that go down and come back", { timeout: 300_000 }, () => {
  const topo = useLab(buildProxyLab, async (t) => {
    // Keep the static IPv6 addresses across down/up (Linux flushes them otherwise).
    for (const ifname of ["up0", "dn1", "dn2"]) await t.rtr.sysctl(`net.ipv6.conf.${ifname}.keep_addr_on_down`, 1);
  });

  for (const fam of FAMILIES) {
    for (const ifname of ["up0", "dn1"]) {
      it(`${fam.name}: ${ifname} down and up again: the stream comes back to h1`, (t: TestContext) =>
        stage(fam, async (s) => {
          const G = fam.asm(ifname === "up0" ? 40 : 41);
          const d = await s.proxy(topo, yamlConfig({ queryMaxResponseTime: 1 }), "yaml");
          s.defer(() => topo.rtr.linkUp(ifname));
          const h1 = await s.host(topo.h1);
          await h1.join(G);
          await fam.waitUpstream(d, G, "exclude", []);
          s.send(topo.up, G, fam.s1);
          await sleep(1000);
          assert.ok(h1.from(fam.s1).length >= 50, "flowing before the flap");

          const nAttached = d.lines.filter((l) => l.msg === "interface attached").length;
          await topo.rtr.linkDown(ifname);
          await d.waitFor(
            (l) => l.msg === "interface detached" && l.family === fam.name && l.interface === ifname,
            5000,
            `${ifname} detached`,
          );
          await sleep(500);
          const tUp = Date.now();
          await topo.rtr.linkUp(ifname);
          await d.waitFor(
            (l) =>
              l.msg === "interface attached" &&
              l.family === fam.name &&
              l.interface === ifname &&
              d.lines.indexOf(l) >= nAttached,
            10_000,
            `${ifname} attached again`,
          );
          // Startup queries (max response 1 s) bring h1's report back; upstream is re-applied.
          const deadline = Date.now() + 6000;
          while (h1.from(fam.s1, tUp).length < 50 && Date.now() < deadline) await sleep(100);
          const back = h1.from(fam.s1, tUp);
          assert.ok(back.length >= 50, `h1 receives again after ${ifname} came back (${back.length} packets)`);
          t.diagnostic(`${fam.name} ${ifname}: first packet ${back[0]!.at - tUp} ms after the link came up`);
          assert.ok(await fam.isMember(topo.rtr, "up0", G), "upstream membership re-applied");
        }));
    }
  }
});
