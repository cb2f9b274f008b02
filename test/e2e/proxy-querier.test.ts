/**
 * RFC 4605 §4.2: the proxy forwards onto a downstream link only while it is that link's
 * querier; `forward-when-not-querier: true` overrides that per link. A host with a lower
 * address than the router's sends a query on dn1 and wins the election (IPv4: the
 * router's dn1 is renumbered above the host; IPv6: the host sends from fe80::1).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, sleep } from "../support/scenario.js";
import { stage, useLab } from "../support/stage.js";
import { runCli, testControlSocket } from "../support/daemon.js";

const config = (forward: boolean, socket: string) => `
control-socket: ${socket}
upstream: up0
forward-when-not-querier: ${forward}
query-max-response-time: 1
downstream: [dn1, dn2]
`;

describe("forwarding only where the proxy is querier (RFC 4605 §4.2)", { timeout: 180_000 }, () => {
  const topo = useLab(buildProxyLab, async (t) => {
    // IPv4: router dn1 at .200, above h1's .2; IPv6: h1 gets fe80::1, below any EUI-64 address.
    await t.rtr.sysctl("net.ipv4.conf.dn1.promote_secondaries", 1);
    await t.rtr.addAddress("dn1", "10.11.0.200/24");
    await t.rtr.ip("addr", "del", "10.11.0.1/24", "dev", "dn1");
    await t.h1.ip("route", "replace", "default", "via", "10.11.0.200");
    await t.h1.ip("-6", "addr", "flush", "dev", "eth0", "scope", "link");
    await t.h1.ip("-6", "addr", "add", "fe80::1/64", "dev", "eth0", "nodad");
  });

  for (const fam of FAMILIES) {
    for (const forward of [false, true]) {
      it(`${fam.name}: another querier on dn1 ${forward ? "does not stop forwarding with forward-when-not-querier" : "stops forwarding there"}`, () =>
        stage(fam, async (s) => {
          const G = fam.asm(40 + (forward ? 1 : 0));
          const socket = testControlSocket();
          const d = await s.proxy(topo, config(forward, socket), "yaml");
          s.send(topo.up, G, fam.s1);
          const h1 = await s.host(topo.h1);
          await h1.join(G);
          await fam.waitLinkState(d, "dn1", G, "exclude", []);
          await sleep(500);
          assert.ok(h1.from(fam.s1).length >= 20, "h1 receives while the proxy is querier");
          // The host's query (from a lower address) takes the querier role on dn1.
          await h1.query({ version: fam.version, maxRespMs: 1000 });
          const lost = await d.waitFor(
            (l) => l.family === fam.name && l.interface === "dn1" && l.querier === false,
            5000,
            "the proxy is no longer querier on dn1",
          );
          const other = fam.v4 ? "10.11.0.2" : "fe80::1";
          assert.equal(lost.querierAddress, other);
          if (forward) {
            assert.deepEqual([lost.levelName, lost.msg, lost.forwarding], ["info", "querier status", true]);
          } else {
            // The warning names the other querier and the setting that would keep traffic flowing.
            assert.equal(lost.levelName, "warn");
            assert.equal(lost.setting, "forward-when-not-querier");
            assert.match(String(lost.msg), new RegExp(`^${other} won the querier election on dn1.*no multicast is forwarded onto dn1.*forward-when-not-querier: true`));
          }
          const r = await runCli(topo.rtr, ["show", "interfaces", "--json", "--family", fam.name, "--socket", socket]);
          const dn1 = (JSON.parse(r.stdout) as { families: Array<{ interfaces: Array<Record<string, unknown>> }> })
            .families[0]!.interfaces.find((i) => i.name === "dn1")!;
          assert.deepEqual([dn1.querier, dn1.querierAddress, dn1.forwarded], [false, other, forward]);
          assert.deepEqual(
            dn1.warnings,
            forward ? [] : [`not forwarded: ${other} is the querier (set forward-when-not-querier: true)`],
          );
          const text = await runCli(topo.rtr, ["show", "interfaces", "--family", fam.name, "--socket", socket]);
          const row = text.stdout.split("\n").find((l) => /^\S+\s+dn1\s/.test(l))!.split(/\s+/);
          assert.equal(row.at(-1), forward ? "yes" : "no", "FORWARDED");
          const t = Date.now();
          await sleep(800);
          const after = h1.from(fam.s1, t + 100).length;
          if (forward) assert.ok(after >= 40, `still forwarded to dn1 (${after} packets)`);
          else assert.equal(after, 0, "nothing forwarded to dn1 once another router is querier");
        }));
    }
  }
});
