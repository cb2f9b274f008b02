/**
 * Issue 4, scenarios about the upstream side and the daemon's exit, IPv4 and IPv6, from the
 * IMProxy-format config:
 *   7. a sender on h2 reaches a receiver on h1; with `down_to_up enable` also a receiver on
 *      the upstream host `up`, without it not;
 *   8. a host on the upstream link joining a group (its kernel reports it) and sending a
 *      General Query creates no downstream state: the daemon sees the packets (debug log
 *      "ignored on the upstream interface"), learns nothing, changes no querier status and
 *      no upstream membership; the router's kernel (host part) answers the query;
 *   9. after SIGTERM no VIF/MIF, MFC entry, report-group or upstream membership is left.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSender } from "../../src/lab/hosts.js";
import type { Topology } from "../../src/lab/topology.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import {
  buildProxyLab,
  captureControl,
  FAMILIES,
  gaps,
  hex6,
  isMember,
  legacyConfig,
  linesOf,
  memberships,
  mfc,
  mfcEntry,
  plan,
  reportRecords,
  sleep,
  startProxy,
  stopProxy,
  waitLinkState,
  waitUpstream,
} from "../support/scenario.js";

/** Non-empty lines of a /proc file after its header. */
function rowsAfterHeader(text: string): string[] {
  return text
    .split("\n")
    .slice(1)
    .filter((l) => l.trim().length > 0);
}

describe("proxy: upstream side and shutdown (issue 4 scenarios 7, 8, 9)", { timeout: 600_000 }, () => {
  let topo: Topology;
  before(async () => {
    topo = await buildProxyLab();
  });
  after(async () => {
    await topo?.destroy();
  });
  let port = 8000;

  for (const family of FAMILIES) {
    const p = plan(family);

    for (const downToUp of [true, false]) {
      it(`${family}: 7. a sender on h2 reaches h1${downToUp ? " and, with down_to_up, the upstream host" : "; without down_to_up not the upstream host"}`, async () => {
        const prt = ++port;
        const G = p.asm(downToUp ? 11 : 12);
        const d = await startProxy(topo, legacyConfig({ downToUp }));
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const h1 = await startHost(topo.h1, family, { port: prt });
          const up = await startHost(topo.up, family, { port: prt });
          hosts.push(h1, up);
          await h1.join(G);
          await up.join(G);
          await waitLinkState(d, family, "dn1", G, "exclude", []);
          senders.push(startSender(topo.h2, G, { port: prt, intervalMs: 10, bind: p.h2 }));
          await sleep(2000);
          for (const s of senders.splice(0)) await s.stop();
          await sleep(200);

          const onH1 = h1.from(p.h2);
          assert.ok(onH1.length >= 100, `h1 received ${onH1.length} packets from h2`);
          assert.deepEqual(gaps(onH1.map((x) => x.seq)), [], "h1 got every packet");
          const onUp = up.from(p.h2);
          const e = await mfcEntry(topo.rtr, family, p.h2, G);
          assert.equal(e?.iif, "dn2");
          if (downToUp) {
            assert.ok(onUp.length >= 100, `the upstream host received ${onUp.length} packets`);
            assert.deepEqual(e?.oifs, ["dn1", "up0"]);
          } else {
            assert.equal(onUp.length, 0, "nothing forwarded upstream without down_to_up");
            assert.deepEqual(e?.oifs, ["dn1"]);
          }
          // The upstream host's own report never became downstream state (scenario 8 in passing).
          assert.equal(
            linesOf(d, family, "link state").filter((l) => l.interface === "up0").length,
            0,
            "no link state on the upstream interface",
          );
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
        }
      });
    }

    it(`${family}: 8. reports and a query from a host on the upstream link create no downstream state; the router's kernel answers the query`, async () => {
      const prt = ++port;
      const Gdown = p.asm(13);
      const Gup = p.asm(14);
      const Gup2 = p.asm(16);
      const oldSysctl =
        family === "ipv4" ? "net.ipv4.conf.eth0.force_igmp_version" : "net.ipv6.conf.eth0.force_mld_version";
      const capUp = await captureControl(topo.up, "eth0");
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        const up = await startHost(topo.up, family, { port: prt });
        hosts.push(h1, up);
        await h1.join(Gdown);
        await waitUpstream(d, family, Gdown, "exclude", []);
        const before = d.lines.length;
        const querierLines = linesOf(d, family, "querier status").length;

        // A current-version report (to 224.0.0.22 / ff02::16, which the daemon does not join
        // upstream), then an older-version one sent to the group itself, which the router's
        // kernel hands to the multicast routing socket (Router Alert): it must be ignored.
        await up.join(Gup);
        await sleep(300);
        await topo.up.sysctl(oldSysctl, family === "ipv4" ? 2 : 1);
        await up.join(Gup2);
        await d.waitFor(
          (l) =>
            l.msg === "ignored on the upstream interface" &&
            l.family === family &&
            l.type === (family === "ipv4" ? 0x16 : 131),
          5000,
          "the upstream host's older-version report reached the daemon and was ignored",
        );
        const tQuery = await up.query({ version: 3, maxRespMs: 1000 });
        await d.waitFor(
          (l) =>
            l.msg === "ignored on the upstream interface" &&
            l.family === family &&
            l.type === (family === "ipv4" ? 0x11 : 130),
          5000,
          "the upstream query reached the daemon and was ignored",
        );
        await sleep(2000);
        await capUp.stop();

        const later = d.lines.slice(before).filter((l) => l.family === family);
        assert.deepEqual(
          later.filter((l) => l.msg === "link state" || l.msg === "upstream membership"),
          [],
          "nothing learned, no upstream membership change",
        );
        assert.equal(linesOf(d, family, "querier status").length, querierLines, "no querier status change");
        for (const g of [Gup, Gup2]) {
          for (const dev of ["up0", "dn1", "dn2"]) {
            assert.ok(
              !(await isMember(topo.rtr, family, dev, g)),
              `the router holds no membership of ${g} on ${dev}`,
            );
          }
        }
        assert.equal(
          (await mfc(topo.rtr, family)).filter((e) => e.group === Gup || e.group === Gup2).length,
          0,
          "no forwarding entry for the upstream host's groups",
        );
        // The router's kernel is a host upstream (RFC 4605 §4.1): it answered the query with a
        // current-state record of its membership (Gdown), and never reported Gup.
        const recs = await reportRecords(capUp.file, family);
        const attached = await d.waitFor(
          (l) => l.msg === "interface attached" && l.family === family && l.interface === "up0",
        );
        const fromRouter = recs.filter((r) => r.from === attached.address);
        assert.ok(
          recs.some((r) => r.from !== attached.address && r.group === Gup),
          "the upstream host's own report was on the link",
        );
        assert.ok(
          fromRouter.some((r) => r.group === Gdown && r.type === "IS_EX" && r.at >= tQuery),
          `the router answered the query for its membership: ${JSON.stringify(fromRouter)}`,
        );
        assert.ok(
          !fromRouter.some((r) => r.group === Gup || r.group === Gup2),
          "the router never reported the upstream host's groups",
        );
      } finally {
        for (const h of hosts) await h.stop();
        await stopProxy(d);
        await capUp.stop();
        await topo.up.sysctl(oldSysctl, 0);
      }
    });

    it(`${family}: 9. after SIGTERM no VIF/MIF, MFC entry, report-group or upstream membership is left`, async () => {
      const prt = ++port;
      const G = p.asm(15);
      const Gs = p.ssm(15);
      const d = await startProxy(topo, legacyConfig());
      const hosts: HostAgent[] = [];
      const senders: Array<{ stop(): Promise<void> }> = [];
      try {
        const h1 = await startHost(topo.h1, family, { port: prt });
        const h2 = await startHost(topo.h2, family, { port: prt });
        hosts.push(h1, h2);
        // G (no sources) first, then Gs (with a source): the newest group on up0 has a
        // source, so /proc/net/mcfilter(6) shows the filters (kernel quirk, see scenario.ts).
        await h1.join(G);
        await waitUpstream(d, family, G, "exclude", []);
        await h2.join(Gs, p.s1);
        await waitUpstream(d, family, Gs, "include", [p.s1]);
        senders.push(startSender(topo.up, G, { port: prt, intervalMs: 20, bind: p.s1 }));
        senders.push(startSender(topo.up, Gs, { port: prt, intervalMs: 20, bind: p.s1 }));
        senders.push(startSender(topo.up, Gs, { port: prt, intervalMs: 20, bind: p.s2 }));
        await sleep(1000);
        // State to remove is really there before the stop.
        const vifFile = family === "ipv4" ? "/proc/net/ip_mr_vif" : "/proc/net/ip6_mr_vif";
        const cacheFile = family === "ipv4" ? "/proc/net/ip_mr_cache" : "/proc/net/ip6_mr_cache";
        const filterFile = family === "ipv4" ? "/proc/net/mcfilter" : "/proc/net/mcfilter6";
        assert.equal(rowsAfterHeader(await topo.rtr.readProc(vifFile)).length, 3, "three VIFs/MIFs");
        assert.ok(rowsAfterHeader(await topo.rtr.readProc(cacheFile)).length >= 3, "MFC entries present");
        assert.ok(await isMember(topo.rtr, family, "up0", G));
        assert.ok(await isMember(topo.rtr, family, "up0", Gs));
        assert.ok(
          rowsAfterHeader(await topo.rtr.readProc(filterFile)).length >= 1,
          "an upstream source filter present",
        );
      } finally {
        await stopProxy(d);
        for (const s of senders) await s.stop();
        for (const h of hosts) await h.stop();
      }
      const rtr = topo.rtr;
      if (family === "ipv4") {
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/ip_mr_vif")), [], "no VIF");
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/ip_mr_cache")), [], "no MFC entry");
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/mcfilter")), [], "no source filter");
        for (const [dev, groups] of await memberships(rtr, "ipv4")) {
          assert.deepEqual(
            groups.filter((g) => g !== "224.0.0.1"),
            [],
            `${dev}: only all-systems left`,
          );
        }
        assert.equal((await rtr.readProc("/proc/sys/net/ipv4/conf/all/mc_forwarding")).trim(), "0");
      } else {
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/ip6_mr_vif")), [], "no MIF");
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/ip6_mr_cache")), [], "no MFC entry");
        assert.deepEqual(rowsAfterHeader(await rtr.readProc("/proc/net/mcfilter6")), [], "no source filter");
        for (const [dev, groups] of await memberships(rtr, "ipv6")) {
          // Left: all-nodes (ff02::1, ff01::1) and solicited-node groups (ff02::1:ffXX:XXXX).
          const extra = groups.filter(
            (g) =>
              g !== hex6("ff02::1") && g !== hex6("ff01::1") && !g.startsWith("ff0200000000000000000001ff"),
          );
          assert.deepEqual(extra, [], `${dev}: only the kernel's own groups left`);
        }
        assert.equal((await rtr.readProc("/proc/sys/net/ipv6/conf/all/mc_forwarding")).trim(), "0");
      }
    });
  }
});
