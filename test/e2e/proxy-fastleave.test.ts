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
import { after, before, describe, it, type TestContext } from "node:test";
import { startSender } from "../../src/lab/hosts.js";
import { Lab, type Netns } from "../../src/lab/netns.js";
import { type HostAgent, startHost } from "../support/hostsock.js";
import { tsharkFields } from "../support/capture.js";
import type { DaemonRun } from "../support/daemon.js";
import {
  captureControl,
  captureData,
  dataPackets,
  FAMILIES,
  gaps,
  isMember,
  plan,
  reportRecords,
  sleep,
  startProxy,
  stopProxy,
  waitLinkState,
  waitUpstream,
} from "../support/scenario.js";

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
  let lab: Lab;
  let rtr: Netns;
  let up: Netns;
  let h1: Netns;
  let h3: Netns;
  before(async () => {
    lab = await Lab.create();
    rtr = await lab.addNamespace("rtr");
    up = await lab.addNamespace("up");
    const sw = await lab.addNamespace("sw");
    h1 = await lab.addNamespace("h1");
    h3 = await lab.addNamespace("h3");
    await lab.addLink(rtr, "up0", up, "eth0");
    await lab.addLink(rtr, "dn1", sw, "p0");
    await lab.addLink(sw, "p1", h1, "eth0");
    await lab.addLink(sw, "p2", h3, "eth0");
    await lab.addBridge(sw, "br0");
    for (const port of ["p0", "p1", "p2"]) await lab.attach(sw, port, "br0");
    await rtr.addAddress("up0", "10.10.0.1/24");
    await rtr.addAddress("up0", "fd00:10::1/64");
    await rtr.addAddress("dn1", "10.11.0.1/24");
    await rtr.addAddress("dn1", "fd00:11::1/64");
    await up.addAddress("eth0", "10.10.0.2/24");
    await up.addAddress("eth0", "fd00:10::2/64");
    await up.ip("route", "add", "default", "via", "10.10.0.1");
    await up.ip("-6", "route", "add", "default", "via", "fd00:10::1");
    for (const [ns, n] of [
      [h1, 2],
      [h3, 3],
    ] as const) {
      await ns.addAddress("eth0", `10.11.0.${n}/24`);
      await ns.addAddress("eth0", `fd00:11::${n}/64`);
      await ns.ip("route", "add", "default", "via", "10.11.0.1");
      await ns.ip("-6", "route", "add", "default", "via", "fd00:11::1");
    }
  });
  after(async () => {
    await lab?.destroy();
  });
  let port = 9000;

  for (const family of FAMILIES) {
    const p = plan(family);
    for (const quickleave of [true, false]) {
      it(`${family}, ${quickleave ? "quickleave" : "no quickleave"}: the first host's leave keeps the second host's stream; the last leave stops it ${quickleave ? "within 50 ms" : "after the LMQT"}`, async (t: TestContext) => {
        const prt = ++port;
        const G = p.asm(quickleave ? 31 : 32);
        const d = await startProxy({ rtr }, CONFIG(quickleave), "improxy", ["dn1"]);
        const hosts: HostAgent[] = [];
        const senders: Array<{ stop(): Promise<void> }> = [];
        try {
          const a = await startHost(h1, family, { port: prt });
          const b = await startHost(h3, family, { port: prt });
          hosts.push(a, b);
          await a.join(G);
          await b.join(G);
          await waitUpstream(d, family, G, "exclude", []);
          const cap = await captureData(rtr, "dn1");
          const ctl = await captureControl(rtr, "dn1");
          senders.push(startSender(up, G, { port: prt, intervalMs: 10, bind: p.s1 }));
          await sleep(1000);
          const tLeaveA = await a.leave(G);
          await sleep(3000);
          const bSeqs = b.from(p.s1).map((x) => x.seq);
          assert.ok(bSeqs.length >= 300, `h3 received ${bSeqs.length}`);
          assert.deepEqual(gaps(bSeqs), [], "h3's stream had no gap when h1 left");
          assert.ok(await isMember(rtr, family, "up0", G), "upstream kept for h3");

          const tLeaveB = await b.leave(G);
          await waitLinkState(d, family, "dn1", G, "include", [], 5000, tLeaveB - 5);
          await waitUpstream(d, family, G, "include", [], 1000, tLeaveB - 5);
          await sleep(500);
          for (const s of senders.splice(0)) await s.stop();
          await cap.stop();
          await ctl.stop();
          const pk = await dataPackets(cap.file, family, prt);
          const lastMs = (pk.at(-1)?.at ?? 0) - tLeaveB;
          t.diagnostic(
            `${family} quickleave=${quickleave}: last packet on dn1 ${lastMs.toFixed(0)} ms after the last host's leave`,
          );
          assert.ok(
            pk.filter((x) => x.at > tLeaveA && x.at < tLeaveB).length >= 250,
            "dn1 kept the stream between the two leaves",
          );
          if (quickleave) assert.ok(lastMs <= 50, `fast leave: ${lastMs.toFixed(0)} ms`);
          else assert.ok(lastMs >= 1800 && lastMs <= 2600, `RFC timing: ${lastMs.toFixed(0)} ms`);
          assert.ok(!(await isMember(rtr, family, "up0", G)), "upstream membership dropped");

          // The router asked for G after h1's leave, from its link-local address (MLD, RFC
          // 9777 §5; hosts ignore MLD queries from other sources), and h3 answered.
          const v4 = family === "ipv4";
          const queries = await tsharkFields(
            ctl.file,
            v4
              ? `igmp.type == 0x11 && igmp.maddr == ${G}`
              : `icmpv6.type == 130 && icmpv6.mld.multicast_address == ${G}`,
            ["frame.time_epoch", v4 ? "ip.src" : "ipv6.src"],
          );
          const afterA = queries.filter(
            ([ts]) => Number(ts) * 1000 >= tLeaveA && Number(ts) * 1000 < tLeaveB,
          );
          assert.ok(afterA.length >= 1, "Q(G) sent after the first leave");
          for (const [, src] of queries) {
            assert.equal(src, v4 ? "10.11.0.1" : routerLinkLocal(d), "query source address");
          }
          const answers = (await reportRecords(ctl.file, family)).filter(
            (r) => r.group === G && r.type === "IS_EX" && r.at > tLeaveA && r.at < tLeaveB,
          );
          assert.ok(answers.length >= 1, "h3 answered the Q(G) with IS_EX");
        } finally {
          for (const s of senders) await s.stop();
          for (const h of hosts) await h.stop();
          await stopProxy(d);
        }
      });
    }
  }
});
