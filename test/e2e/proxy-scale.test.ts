/**
 * The proxy past the kernel's per-socket limits, end to end, IPv4 and IPv6: more groups
 * than `net.ipv4.igmp_max_memberships` (20) and an INCLUDE list longer than
 * `net.ipv4.igmp_max_msf` (10) / `net.ipv6.mld_max_msf` (64) on the upstream interface.
 * The router keeps its kernel defaults (the daemon spreads its memberships over sockets);
 * only the downstream host's limits are raised so one test socket can ask for that much.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSender } from "../../src/lab/hosts.js";
import type { Topology } from "../../src/lab/topology.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import {
  buildProxyLab,
  eventually,
  FAMILIES,
  memberships,
  hex6,
  legacyConfig,
  plan,
  procSource,
  sleep,
  startProxy,
  stopProxy,
  upstreamSourceRows,
  waitUpstream,
} from "../support/scenario.js";

const GROUPS = 30;

describe("proxy past the kernel's per-socket membership limits", { timeout: 300_000 }, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
    await topo.h1.sysctl("net.ipv4.igmp_max_memberships", 200);
    await topo.h1.sysctl("net.ipv4.igmp_max_msf", 200);
    // net.ipv6.mld_max_msf (64) is not per namespace: IPv6 uses two host sockets instead.
  });
  after(async () => {
    await topo?.destroy();
  });
  let port = 9500;

  for (const family of FAMILIES) {
    const p = plan(family);
    const v4 = family === "ipv4";
    // More sources than the router's default per-filter limit (10 IPv4, 64 IPv6).
    const nSources = v4 ? 12 : 70;
    const extra = Array.from({ length: nSources - 1 }, (_, i) =>
      v4 ? `10.10.0.${100 + i}` : `fd00:10::${(0x100 + i).toString(16)}`,
    );

    it(`${family}: ${GROUPS} groups and an INCLUDE list of ${nSources} sources reach the upstream interface; streams flow`, async () => {
      const prt = ++port;
      const groups = Array.from({ length: GROUPS }, (_, i) => p.asm(100 + i));
      const Gs = p.ssm(100);
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        hosts.push(h1);
        for (const g of groups) await h1.join(g);
        for (const g of groups) await waitUpstream(d, family, g, "exclude", [], 10_000);
        const up0 = (await memberships(topo.rtr, family)).get("up0") ?? [];
        const missing = groups.filter((g) => !up0.includes(v4 ? g : hex6(g)));
        assert.deepEqual(missing, [], `all ${GROUPS} groups joined upstream`);

        const sources = [p.s1, ...extra];
        const h1b = await startHost(topo.h1, family, { port: prt + 500 });
        hosts.push(h1b);
        for (const [i, s] of sources.entries()) await (i % 2 === 0 ? h1 : h1b).join(Gs, s);
        await waitUpstream(d, family, Gs, "include", sources, 10_000);
        // Gs is the newest group on up0 and has sources: mcfilter shows its merged filter.
        await eventually(async () => {
          const rows = await upstreamSourceRows(topo.rtr, family, "up0", Gs);
          assert.deepEqual(
            rows.map((r) => r.source).sort(),
            sources.map((s) => procSource(family, s)).sort(),
            `the kernel's upstream filter holds all ${nSources} sources`,
          );
          assert.ok(rows.every((r) => r.include === 1 && r.exclude === 0));
        });

        const last = groups.at(-1)!;
        senders.push(startSender(topo.up, last, { port: prt, intervalMs: 20, bind: p.s1 }));
        senders.push(startSender(topo.up, Gs, { port: prt, intervalMs: 20, bind: p.s1 }));
        await sleep(1500);
        for (const s of senders.splice(0)) await s.stop();
        await sleep(100);
        const got = h1.from(p.s1);
        assert.ok(got.length >= 100, `h1 received ${got.length} packets of the two streams`);
        assert.deepEqual(
          d.lines.filter((l) => l.level >= 40 && l.family === family && l.msg !== "interface detached"),
          [],
          "no warning or error from the daemon",
        );
      } finally {
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
        await stopProxy(d);
      }
    });
  }
});
