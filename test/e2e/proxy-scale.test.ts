/**
 * The proxy past the kernel's per-socket limits, end to end, IPv4 and IPv6: more groups
 * than `net.ipv4.igmp_max_memberships` (20) and an INCLUDE list longer than
 * `net.ipv4.igmp_max_msf` (10) / `net.ipv6.mld_max_msf` (64) on the upstream interface.
 * The router keeps its kernel defaults (the daemon spreads its memberships over sockets);
 * only the downstream host's limits are raised so one test socket can ask for that much.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, eventually, legacyConfig, sleep } from "../support/scenario.js";
import { stage, stopTraffic, useLab } from "../support/stage.js";

const GROUPS = 30;

describe("proxy past the kernel's per-socket membership limits", { timeout: 300_000 }, () => {
  const topo = useLab(buildProxyLab, async (t) => {
    await t.h1.sysctl("net.ipv4.igmp_max_memberships", 200);
    await t.h1.sysctl("net.ipv4.igmp_max_msf", 200);
    // net.ipv6.mld_max_msf (64) is not per namespace: IPv6 uses two host sockets instead.
  });

  for (const fam of FAMILIES) {
    // More sources than the router's default per-filter limit (10 IPv4, 64 IPv6).
    const nSources = fam.v4 ? 12 : 70;
    const extra = Array.from({ length: nSources - 1 }, (_, i) =>
      fam.v4 ? `10.10.0.${100 + i}` : `fd00:10::${(0x100 + i).toString(16)}`,
    );

    it(`${fam.name}: ${GROUPS} groups and an INCLUDE list of ${nSources} sources reach the upstream interface; streams flow`, () =>
      stage(fam, async (s) => {
        const groups = Array.from({ length: GROUPS }, (_, i) => fam.asm(100 + i));
        const Gs = fam.ssm(100);
        const d = await s.proxy(topo, legacyConfig());
        const h1 = await s.host(topo.h1);
        for (const g of groups) await h1.join(g);
        for (const g of groups) await fam.waitUpstream(d, g, "exclude", [], 10_000);
        const up0 = (await fam.memberships(topo.rtr)).get("up0") ?? [];
        const missing = groups.filter((g) => !up0.includes(fam.procAddress(g)));
        assert.deepEqual(missing, [], `all ${GROUPS} groups joined upstream`);

        const sources = [fam.s1, ...extra];
        const h1b = await s.host(topo.h1, s.port + 500);
        for (const [i, src] of sources.entries()) await (i % 2 === 0 ? h1 : h1b).join(Gs, src);
        await fam.waitUpstream(d, Gs, "include", sources, 10_000);
        // Gs is the newest group on up0 and has sources: mcfilter shows its merged filter.
        await eventually(async () => {
          assert.deepEqual(
            await fam.filterOf(topo.rtr, "up0", Gs),
            fam.filter("include", sources),
            `the kernel's upstream filter holds all ${nSources} sources, each included once`,
          );
        });

        s.send(topo.up, groups.at(-1)!, fam.s1, 20);
        s.send(topo.up, Gs, fam.s1, 20);
        await sleep(1500);
        await stopTraffic(s, [], 100);
        const got = h1.from(fam.s1);
        assert.ok(got.length >= 100, `h1 received ${got.length} packets of the two streams`);
        assert.deepEqual(
          d.lines.filter((l) => l.level >= 40 && l.family === fam.name && l.msg !== "interface detached"),
          [],
          "no warning or error from the daemon",
        );
      }));
  }
});
