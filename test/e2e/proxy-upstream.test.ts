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
import { describe, it } from "node:test";
import { FAMILIES } from "../support/family.js";
import { buildProxyLab, hex6, legacyConfig, sleep } from "../support/scenario.js";
import { seqGaps, stage, stopTraffic, useLab } from "../support/stage.js";

/** Non-empty lines of a /proc file after its header. */
function rowsAfterHeader(text: string): string[] {
  return text
    .split("\n")
    .slice(1)
    .filter((l) => l.trim().length > 0);
}

describe("proxy: upstream side and shutdown (issue 4 scenarios 7, 8, 9)", { timeout: 600_000 }, () => {
  const topo = useLab(buildProxyLab);

  for (const fam of FAMILIES) {
    for (const downToUp of [true, false]) {
      it(`${fam.name}: 7. a sender on h2 reaches h1${downToUp ? " and, with down_to_up, the upstream host" : "; without down_to_up not the upstream host"}`, () =>
        stage(fam, async (s) => {
          const G = fam.asm(downToUp ? 11 : 12);
          const d = await s.proxy(topo, legacyConfig({ downToUp }));
          const h1 = await s.host(topo.h1);
          const up = await s.host(topo.up);
          await h1.join(G);
          await up.join(G);
          await fam.waitLinkState(d, "dn1", G, "exclude", []);
          s.send(topo.h2, G, fam.h2);
          await sleep(2000);
          await stopTraffic(s, [], 200);

          const onH1 = h1.from(fam.h2);
          assert.ok(onH1.length >= 100, `h1 received ${onH1.length} packets from h2`);
          assert.deepEqual(seqGaps(h1, fam.h2), [], "h1 got every packet");
          const onUp = up.from(fam.h2);
          const e = await fam.mfcEntry(topo.rtr, fam.h2, G);
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
            fam.lines(d, "link state").filter((l) => l.interface === "up0").length,
            0,
            "no link state on the upstream interface",
          );
        }));
    }

    it(`${fam.name}: 8. reports and a query from a host on the upstream link create no downstream state; the router's kernel answers the query`, () =>
      stage(fam, async (s) => {
        const Gdown = fam.asm(13);
        const Gup = fam.asm(14);
        const Gup2 = fam.asm(16);
        const oldSysctl = fam.forceVersionSysctl("eth0");
        s.defer(() => topo.up.sysctl(oldSysctl, 0));
        const capUp = await s.captureControl(topo.up, "eth0");
        const d = await s.proxy(topo, legacyConfig());
        const h1 = await s.host(topo.h1);
        const up = await s.host(topo.up);
        await h1.join(Gdown);
        await fam.waitUpstream(d, Gdown, "exclude", []);
        const before = d.lines.length;
        const querierLines = fam.lines(d, "querier status").length;

        // A current-version report (to 224.0.0.22 / ff02::16, which the daemon does not join
        // upstream), then an older-version one sent to the group itself, which the router's
        // kernel hands to the multicast routing socket (Router Alert): it must be ignored.
        await up.join(Gup);
        await sleep(300);
        await topo.up.sysctl(oldSysctl, fam.olderForce);
        await up.join(Gup2);
        await d.waitFor(
          (l) =>
            l.msg === "ignored on the upstream interface" && l.family === fam.name && l.type === fam.type.oldReport,
          5000,
          "the upstream host's older-version report reached the daemon and was ignored",
        );
        const tQuery = await up.query({ version: 3, maxRespMs: 1000 });
        await d.waitFor(
          (l) => l.msg === "ignored on the upstream interface" && l.family === fam.name && l.type === fam.type.query,
          5000,
          "the upstream query reached the daemon and was ignored",
        );
        await sleep(2000);
        await capUp.stop();

        const later = d.lines.slice(before).filter((l) => l.family === fam.name);
        assert.deepEqual(
          later.filter((l) => l.msg === "link state" || l.msg === "upstream membership"),
          [],
          "nothing learned, no upstream membership change",
        );
        assert.equal(fam.lines(d, "querier status").length, querierLines, "no querier status change");
        for (const g of [Gup, Gup2]) {
          for (const dev of ["up0", "dn1", "dn2"]) {
            assert.ok(!(await fam.isMember(topo.rtr, dev, g)), `the router holds no membership of ${g} on ${dev}`);
          }
        }
        assert.equal(
          (await fam.mfc(topo.rtr)).filter((e) => e.group === Gup || e.group === Gup2).length,
          0,
          "no forwarding entry for the upstream host's groups",
        );
        // The router's kernel is a host upstream (RFC 4605 §4.1): it answered the query with a
        // current-state record of its membership (Gdown), and never reported Gup.
        const recs = await fam.reportRecords(capUp.file);
        const attached = await d.waitFor(
          (l) => l.msg === "interface attached" && l.family === fam.name && l.interface === "up0",
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
      }));

    it(`${fam.name}: 9. after SIGTERM no VIF/MIF, MFC entry, report-group or upstream membership is left`, async () => {
      const rtr = topo.rtr;
      const rows = async (file: string) => rowsAfterHeader(await rtr.readProc(file));
      await stage(fam, async (s) => {
        const G = fam.asm(15);
        const Gs = fam.ssm(15);
        const d = await s.proxy(topo, legacyConfig());
        const h1 = await s.host(topo.h1);
        const h2 = await s.host(topo.h2);
        // G (no sources) first, then Gs (with a source): the newest group on up0 has a
        // source, so /proc/net/mcfilter(6) shows the filters (kernel quirk, see scenario.ts).
        await h1.join(G);
        await fam.waitUpstream(d, G, "exclude", []);
        await h2.join(Gs, fam.s1);
        await fam.waitUpstream(d, Gs, "include", [fam.s1]);
        s.send(topo.up, G, fam.s1, 20);
        s.send(topo.up, Gs, fam.s1, 20);
        s.send(topo.up, Gs, fam.s2, 20);
        await sleep(1000);
        // State to remove is really there before the stop.
        assert.equal((await rows(fam.proc.vif)).length, 3, "three VIFs/MIFs");
        assert.ok((await rows(fam.proc.cache)).length >= 3, "MFC entries present");
        assert.ok(await fam.isMember(rtr, "up0", G));
        assert.ok(await fam.isMember(rtr, "up0", Gs));
        assert.ok((await rows(fam.proc.mcfilter)).length >= 1, "an upstream source filter present");
        // SIGTERM while the streams still flow; the stage then stops senders and hosts.
        await s.stopProxy();
      });
      assert.deepEqual(await rows(fam.proc.vif), [], fam.v4 ? "no VIF" : "no MIF");
      assert.deepEqual(await rows(fam.proc.cache), [], "no MFC entry");
      assert.deepEqual(await rows(fam.proc.mcfilter), [], "no source filter");
      for (const [dev, groups] of await fam.memberships(rtr)) {
        // Left: all-systems (224.0.0.1); IPv6 all-nodes (ff02::1, ff01::1) and solicited-node
        // groups (ff02::1:ffXX:XXXX).
        const extra = fam.v4
          ? groups.filter((g) => g !== "224.0.0.1")
          : groups.filter(
              (g) => g !== hex6("ff02::1") && g !== hex6("ff01::1") && !g.startsWith("ff0200000000000000000001ff"),
            );
        assert.deepEqual(extra, [], `${dev}: ${fam.v4 ? "only all-systems" : "only the kernel's own groups"} left`);
      }
      assert.equal((await rtr.readProc(fam.proc.mcForwarding)).trim(), "0");
    });
  }
});
