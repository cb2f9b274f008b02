/**
 * Issue 4, scenario 6 with two hosts on one downstream link (a bridge with snooping off
 * between dn1 and the hosts h1, h3), IPv4 and IPv6: with fast leave (IMProxy `quickleave`,
 * explicit host tracking), the first host leaving must not cut the stream of the second;
 * the last host leaving stops forwarding within 50 ms. Without fast leave the RFC timing
 * holds and the remaining host answers the Q(G), so its stream never stops.
 *
 *   [up] eth0 --- up0 [rtr] dn1 --- p0 [sw: br0] p1 --- eth0 [h1]
 *                                               p2 --- eth0 [h3]
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import type { DaemonRun } from "../support/daemon.js";
import { FAMILIES } from "../support/family.js";
import { buildBridgeLab } from "../support/labs.js";
import { sleep } from "../support/scenario.js";
import { seqGaps, stage, stopTraffic, useLab } from "../support/stage.js";

/** The router's IPv6 address on dn1 (its link-local one) as the daemon logged it. */
function routerLinkLocal(d: DaemonRun): string {
  const l = d.lines.find(
    (x) => x.msg === "interface attached" && x.family === "ipv6" && x.interface === "dn1",
  );
  return String(l?.address);
}

const CONFIG = (quickleave: boolean) =>
  [
    "igmp enable version 3",
    "mld enable",
    "upstream up0",
    "downstream dn1",
    ...(quickleave ? ["quickleave enable"] : []),
    "",
  ].join("\n");

describe("proxy: leave with two hosts on one link (issue 4 scenario 6, fast leave)", {
  timeout: 300_000,
}, () => {
  const lab = useLab(buildBridgeLab);

  for (const fam of FAMILIES) {
    for (const quickleave of [true, false]) {
      it(`${fam.name}, ${quickleave ? "quickleave" : "no quickleave"}: the first host's leave keeps the second host's stream; the last leave stops it ${quickleave ? "within 50 ms" : "after the LMQT"}`, (t: TestContext) =>
        stage(fam, async (s) => {
          const G = fam.asm(quickleave ? 31 : 32);
          const d = await s.proxy(lab, CONFIG(quickleave), "improxy", ["dn1"]);
          const a = await s.host(lab.h1);
          const b = await s.host(lab.h3);
          await a.join(G);
          await b.join(G);
          await fam.waitUpstream(d, G, "exclude", []);
          const cap = await s.captureData(lab.rtr, "dn1");
          const ctl = await s.captureControl(lab.rtr, "dn1");
          s.send(lab.up, G, fam.s1);
          await sleep(1000);
          const tLeaveA = await a.leave(G);
          await sleep(3000);
          const bGot = b.from(fam.s1).length;
          assert.ok(bGot >= 300, `h3 received ${bGot}`);
          assert.deepEqual(seqGaps(b, fam.s1), [], "h3's stream had no gap when h1 left");
          assert.ok(await fam.isMember(lab.rtr, "up0", G), "upstream kept for h3");

          const tLeaveB = await b.leave(G);
          await fam.waitLinkState(d, "dn1", G, "include", [], 5000, tLeaveB - 5);
          await fam.waitUpstream(d, G, "include", [], 1000, tLeaveB - 5);
          await sleep(500);
          await stopTraffic(s, [cap, ctl]);
          const pk = await fam.dataPackets(cap.file, s.port);
          const lastMs = (pk.at(-1)?.at ?? 0) - tLeaveB;
          t.diagnostic(
            `${fam.name} quickleave=${quickleave}: last packet on dn1 ${lastMs.toFixed(0)} ms after the last host's leave`,
          );
          assert.ok(
            pk.filter((x) => x.at > tLeaveA && x.at < tLeaveB).length >= 250,
            "dn1 kept the stream between the two leaves",
          );
          if (quickleave) assert.ok(lastMs <= 50, `fast leave: ${lastMs.toFixed(0)} ms`);
          else assert.ok(lastMs >= 1800 && lastMs <= 2600, `RFC timing: ${lastMs.toFixed(0)} ms`);
          assert.ok(!(await fam.isMember(lab.rtr, "up0", G)), "upstream membership dropped");

          // The router asked for G after h1's leave, from its link-local address (MLD, RFC
          // 9777 §5; hosts ignore MLD queries from other sources), and h3 answered.
          const queries = await fam.groupQueries(ctl.file, G);
          const afterA = queries.filter((q) => q.at >= tLeaveA && q.at < tLeaveB);
          assert.ok(afterA.length >= 1, "Q(G) sent after the first leave");
          for (const q of queries) {
            assert.equal(q.from, fam.v4 ? "10.11.0.1" : routerLinkLocal(d), "query source address");
          }
          const answers = (await fam.reportRecords(ctl.file)).filter(
            (r) => r.group === G && r.type === "IS_EX" && r.at > tLeaveA && r.at < tLeaveB,
          );
          assert.ok(answers.length >= 1, "h3 answered the Q(G) with IS_EX");
        }));
    }
  }
});
