/**
 * Issue 4: a join into a stream that already flows is served with the next packets, not
 * after a new upcall (the C IMProxy took up to 10 s here).
 *
 * Why it can work: the kernel upcalls NOCACHE for the first packet of (S,G) even with no
 * receiver; the daemon installs the entry with no outgoing VIF (src/proxy/forwarding.ts), so
 * a join only has to update the entry and the next packet of the stream goes out.
 *
 * Measure: a probe on h1 (test/support/probe.ts) joins with a plain socket, takes the time
 * when addMembership returns and when the first datagram arrives (same host clock), leaves,
 * waits until the link is quiet (fast leave makes that quick), 20 times per family. The
 * stream runs at 10 ms intervals, so the first packet must come within 2 intervals (< 25 ms).
 * The probe also sees the host's report leave the link, which splits the time into the host
 * kernel's own report delay and what follows it (proxy + waiting for the next packet).
 *
 * The host kernel's part is not the proxy's: Linux holds a new membership's first IGMPv3 /
 * MLDv2 report for a few jiffies (8-16 ms measured on this VM, occasionally 30 ms), so
 * "< 25 ms from the join call" on every try would fail on the host's delay alone in about one
 * run out of three. The assertions are therefore: every try < 2 intervals after the report
 * reached the link; every try where the host reported within one interval < 25 ms from the
 * join call; the median of all tries < 25 ms; none above 50 ms.
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { startSender, type Sender } from "../../src/lab/hosts.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import { type DaemonRun, startDaemon, writeConfig } from "../support/daemon.js";
import { type Fam, FAMILIES } from "../support/family.js";
import { percentile, type ProbeTry, runProbe } from "../support/probe.js";

const INTERVAL_MS = 10;
const TRIES = 20;
const BOUND_MS = 25;
const CONFIG =
  "igmp enable version 3\nmld enable\nupstream up0\ndownstream dn1\ndownstream dn2\nquickleave enable\n";

function summary(values: number[]): string {
  const f = (n: number) => n.toFixed(1);
  return `p50 ${f(percentile(values, 50))} p95 ${f(percentile(values, 95))} max ${f(Math.max(...values))} ms`;
}

/** Waits until the router's MFC lists (source, group): the NOCACHE upcall was handled. */
async function waitForEntry(topo: Topology, fam: Fam, source: string, group: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await fam.mfcEntry(topo.rtr, source, group))) {
    if (Date.now() > deadline)
      throw new Error(`no forwarding entry (${source},${group}); mroute:\n${JSON.stringify(await fam.mfc(topo.rtr))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function check(t: TestContext, family: string, tries: ProbeTry[]): void {
  const missing = tries.filter((x) => x.joinMs === null).length;
  assert.equal(tries.length, TRIES);
  assert.equal(missing, 0, `${missing} of ${TRIES} joins got no packet at all`);
  const join = tries.map((x) => x.joinMs!);
  const report = tries.flatMap((x) => (x.reportMs === null ? [] : [x.reportMs]));
  const rest = tries.flatMap((x) => (x.reportMs === null ? [] : [x.joinMs! - x.reportMs]));
  t.diagnostic(`${family} join -> first packet: ${summary(join)}`);
  t.diagnostic(`${family}   host kernel's report delay: ${summary(report)}`);
  t.diagnostic(`${family}   report on the link -> first packet (proxy + next packet): ${summary(rest)}`);
  t.diagnostic(`${family}   all: ${join.map((v) => v.toFixed(1)).join(" ")}`);
  // Every try names its parts in a failure: the host kernel's report delay (not the
  // proxy's doing) and when the first forwarded packet had been sent.
  const describe = (x: ProbeTry) =>
    `${x.joinMs!.toFixed(1)} ms (host report after ${x.reportMs?.toFixed(1) ?? "?"} ms, ` +
    `first packet sent at ${x.firstSentMs?.toFixed(0) ?? "?"} ms)`;
  // The proxy's share: once the report is on the link, the next packet or the one after
  // reaches the receiver (2 intervals).
  const lateAfterReport = tries.filter(
    (x) => x.reportMs !== null && x.joinMs! - x.reportMs >= 2 * INTERVAL_MS,
  );
  assert.deepEqual(
    lateAfterReport.map(describe),
    [],
    `first packet 2 intervals or more after the host's report`,
  );
  // From the join call: < 25 ms whenever the host kernel sent its report within one interval.
  // The kernel holds a new membership's first report for a few jiffies (8-16 ms measured
  // here, beyond any proxy's reach); tries where it held it longer than an interval are
  // judged by the bound above, and the median of all tries must still meet 25 ms.
  const slow = tries.filter(
    (x) => (x.reportMs === null || x.reportMs <= INTERVAL_MS) && x.joinMs! >= BOUND_MS,
  );
  assert.deepEqual(slow.map(describe), [], `joins served in ${BOUND_MS} ms or more (2 packet intervals)`);
  assert.ok(percentile(join, 50) < BOUND_MS, `median join -> first packet ${percentile(join, 50)} ms`);
  assert.ok(Math.max(...join) < 2 * BOUND_MS, `slowest join -> first packet ${Math.max(...join)} ms`);
}

describe("join into a flowing stream (fast leave on, stream every 10 ms)", { timeout: 120_000 }, () => {
  let topo: Topology;
  let daemon: DaemonRun | undefined;
  const senders: Sender[] = [];

  before(async () => {
    topo = await buildTopology();
    daemon = startDaemon(topo.rtr, ["-c", writeConfig("latency.conf", CONFIG), "-d", "3"]);
    for (const { name: family } of FAMILIES) {
      await daemon.waitFor(
        (l) =>
          l.msg === "querier status" && l.family === family && l.interface === "dn1" && l.querier === true,
        10_000,
        `${family} querier on dn1`,
      );
    }
  });
  after(async () => {
    for (const s of senders.splice(0)) await s.stop();
    const code = await daemon?.stop();
    await topo?.destroy();
    assert.equal(code, 0, `daemon exit code; stderr:\n${daemon?.stderr().slice(-2000)}`);
  });

  for (const fam of FAMILIES) {
    const group = fam.v4 ? "239.1.2.3" : "ff05::1:2";
    const port = fam.v4 ? 5001 : 5002;

    it(`${fam.label}: the first packet reaches a new receiver within 2 intervals, 20 times out of 20`, async (t) => {
      senders.push(startSender(topo.up, group, { intervalMs: INTERVAL_MS, port }));
      // fam.s1 is up's address, the sender's source.
      await waitForEntry(topo, fam, fam.s1, group);
      const tries = await runProbe(topo.h1, { group, port, tries: TRIES });
      check(t, fam.label, tries);
    });
  }
});
