/**
 * Issue 10 point 6: several upstreams against the real kernel (README "YAML format",
 * docs/protocol.md "Proxy merge"). The router has an IPTV-like upstream iptv0 serving
 * 239.0.0.0/8 and ff0e::/16 (sources: its own subnet) and an internet-like upstream wan0
 * for every other group, and a host h1 on lan0. For IPv4 and IPv6:
 *   1. each group h1 joins is joined only on the upstream that serves it (/proc/net/igmp and
 *      mcfilter, igmp6 and mcfilter6 of the router); each upstream's stream reaches h1 with
 *      the group's upstream as the MFC's incoming interface; wan0's data for a TV group is
 *      not forwarded (an entry with no outgoing interface, counted as wrong-upstream);
 *      `show groups` / `show routes` name the upstream of each group;
 *   2. deleting iptv0's veth and creating it again leaves wan0's stream without a missing
 *      sequence number and joins the TV group on the new iptv0, where its stream resumes.
 * And an igmpproxy file with two upstream phyints (the first with a whitelist) does the
 * same (IPv4; a private /run/improxy, as igmpproxy files cannot name a control socket).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Netns } from "../../src/lab/netns.js";
import type { Address } from "../../src/wire/types.js";
import { CLI, type DaemonRun, privateRunDir, startDaemon } from "../support/daemon.js";
import { FAMILIES, type Fam, IPV4 } from "../support/family.js";
import type { HostAgent } from "../support/hostsock.js";
import { buildUpstreamsLab } from "../support/labs.js";
import { eventually, sleep, stopProxy, until } from "../support/scenario.js";
import { type Stage, seqGaps, stage, useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

/** Addresses and groups of one family in the lab (test/support/labs.ts `buildUpstreamsLab`). */
function plan(fam: Fam) {
  const v4 = fam.v4;
  return {
    /** The IPTV head-end (iptv's first address) and the internet sender (wan's first). */
    tvSource: v4 ? "10.20.0.2" : "fd00:20::2",
    webSource: v4 ? "10.30.0.2" : "fd00:30::2",
    /** wan's second address: it sends to a TV group, from the wrong upstream. */
    strayTvSource: v4 ? "10.30.0.3" : "fd00:30::3",
    /** Any-source groups: a TV one (iptv0) and an internet one (wan0). */
    tv: v4 ? "239.1.1.1" : "ff0e::1:1",
    web: v4 ? "233.252.0.1" : "ff05::2:1",
    /** Source-specific joins (INCLUDE {S}): their upstream filters show in mcfilter(6). */
    tvSsm: v4 ? "239.1.1.3" : "ff0e::1:3",
    webSsm: v4 ? "233.252.0.3" : "ff05::2:3",
  };
}

function yamlConfig(socket: string): string {
  return [
    `control-socket: ${socket}`,
    "upstream:",
    "  - name: iptv0",
    "    groups: [239.0.0.0/8, 'ff0e::/16']",
    "    sources: [10.20.0.0/24, 'fd00:20::/64']",
    "  - wan0",
    "downstream: [lan0]",
    "query-interval: 20",
    "query-max-response-time: 2",
    "last-member-query-interval: 1",
    "",
  ].join("\n");
}

const IGMPPROXY_CONFIG = [
  "quickleave",
  "phyint iptv0 upstream ratelimit 0 threshold 1",
  "  altnet 10.20.0.0/24",
  "  whitelist 239.0.0.0/8",
  "phyint wan0 upstream ratelimit 0 threshold 1",
  "phyint lan0 downstream ratelimit 0 threshold 1",
  "",
].join("\n");

const UPSTREAMS = ["iptv0", "wan0"] as const;

/** `improxy show VIEW --json --family F` of the daemon on `socket`: the family's part. */
async function show<T>(ns: Netns, socket: string, view: string, fam: Fam): Promise<T> {
  const { stdout } = await ns.exec("node", [CLI, "show", view, "--json", "--family", fam.name, "--socket", socket]);
  return (JSON.parse(stdout) as { families: T[] }).families[0]!;
}

interface Shown {
  groups?: Array<{ interface: string; group: string; upstream: string | null }>;
  upstream?: Array<{ interface: string | null; group: string }>;
  routes?: Array<{ source: string; group: string; incoming: string; upstream: string | null; outgoing: string[] }>;
  stats?: { wrongUpstream: number; noUpstream: number; upstreamPackets: number };
}

/** Which of the router's upstreams hold a membership of `group` (/proc/net/igmp, igmp6). */
async function joinedOn(rtr: Netns, fam: Fam, group: Address): Promise<string[]> {
  const held = await fam.memberships(rtr);
  return UPSTREAMS.filter((u) => (held.get(u) ?? []).includes(fam.procAddress(group)));
}

/** The upstreams whose source filter (mcfilter, mcfilter6) lists `source` for `group`. */
async function filteredOn(rtr: Netns, fam: Fam, group: Address, source: Address): Promise<string[]> {
  const out: string[] = [];
  for (const u of UPSTREAMS) {
    const rows = await fam.filterOf(rtr, u, group);
    if (rows.some((r) => r.source === fam.procAddress(source) && r.include === 1)) out.push(u);
  }
  return out;
}

/**
 * h1 joins the any-source groups, then the source-specific ones, one after the other (so
 * that the source-specific group is the newest membership of each upstream: mcfilter shows
 * an interface's rows only then, scenario.ts `sourceFilters`); each time waits until the
 * daemon applied it upstream (its "upstream membership" line names the upstream). Then
 * checks that the kernel holds each on that upstream only.
 */
async function joinAll(s: Stage, rtr: Netns, h1: HostAgent, d: DaemonRun): Promise<void> {
  const p = plan(s.fam);
  for (const [group, source, on] of [
    [p.tv, undefined, "iptv0"],
    [p.web, undefined, "wan0"],
    [p.tvSsm, p.tvSource, "iptv0"],
    [p.webSsm, p.webSource, "wan0"],
  ] as const) {
    await h1.join(group, source);
    const mode = source === undefined ? "exclude" : "include";
    const line = await s.fam.waitUpstream(d, group, mode, source === undefined ? [] : [source], 8000);
    assert.equal(line.interface, on, `${group} is applied on ${on}`);
  }
  await eventually(async () => {
    assert.deepEqual(await joinedOn(rtr, s.fam, p.tv), ["iptv0"]);
    assert.deepEqual(await joinedOn(rtr, s.fam, p.web), ["wan0"]);
    assert.deepEqual(await joinedOn(rtr, s.fam, p.tvSsm), ["iptv0"]);
    assert.deepEqual(await joinedOn(rtr, s.fam, p.webSsm), ["wan0"]);
  }, 3000);
}

/** h1 receives at least `n` datagrams from `source` after `since`. */
function receives(h1: HostAgent, source: Address, n: number, since = 0, timeoutMs = 8000): Promise<void> {
  return until(
    () => h1.from(source, since).length >= n,
    timeoutMs,
    () => `h1 got ${h1.from(source, since).length} of ${n} datagrams from ${source}`,
  );
}

/** Sends each upstream's stream, and wan's stray TV stream; waits until h1 gets both real ones. */
async function streams(s: Stage, lab: { iptv: Netns; wan: Netns }, h1: HostAgent): Promise<void> {
  const p = plan(s.fam);
  s.send(lab.iptv, p.tv, p.tvSource);
  s.send(lab.wan, p.web, p.webSource);
  s.send(lab.wan, p.tv, p.strayTvSource);
  await receives(h1, p.tvSource, 20);
  await receives(h1, p.webSource, 20);
}

const socketPath = () => join(tempDir("improxy-upstreams-"), "improxy.sock");

describe("several upstreams: each group joined and forwarded on its own upstream", () => {
  const lab = useLab(buildUpstreamsLab);

  for (const fam of FAMILIES) {
    it(`${fam.name}: groups are joined only on their upstream; each stream comes from its group's upstream; the other upstream's data for a group is not forwarded`, () =>
      stage(fam, async (s) => {
        const p = plan(fam);
        const socket = socketPath();
        const d = await s.proxy(lab, yamlConfig(socket), "yaml", ["lan0"], UPSTREAMS);
        const h1 = await s.host(lab.h1);
        await joinAll(s, lab.rtr, h1, d);
        const mcfilter = await lab.rtr.readProc(fam.proc.mcfilter);
        assert.deepEqual(await filteredOn(lab.rtr, fam, p.webSsm, p.webSource), ["wan0"], mcfilter);
        assert.deepEqual(await filteredOn(lab.rtr, fam, p.tvSsm, p.tvSource), ["iptv0"], mcfilter);

        await streams(s, lab, h1);
        await sleep(500);
        assert.deepEqual(h1.from(p.strayTvSource), [], "the TV group from wan0 never reaches h1");
        await eventually(async () => {
          const tv = await fam.mfcEntry(lab.rtr, p.tvSource, p.tv);
          assert.deepEqual([tv?.iif, tv?.oifs], ["iptv0", ["lan0"]]);
          const web = await fam.mfcEntry(lab.rtr, p.webSource, p.web);
          assert.deepEqual([web?.iif, web?.oifs], ["wan0", ["lan0"]]);
          const stray = await fam.mfcEntry(lab.rtr, p.strayTvSource, p.tv);
          assert.deepEqual([stray?.iif, stray?.oifs], ["wan0", []], "installed with no outgoing interface");
        });

        const routes = (await show<Shown>(lab.rtr, socket, "routes", fam)).routes ?? [];
        const route = (source: Address, group: Address) =>
          routes.find((r) => r.source === source && r.group === group);
        assert.deepEqual(route(p.tvSource, p.tv)?.upstream, "iptv0");
        assert.deepEqual(route(p.webSource, p.web)?.upstream, "wan0");
        assert.deepEqual(
          [route(p.strayTvSource, p.tv)?.incoming, route(p.strayTvSource, p.tv)?.upstream],
          ["wan0", "iptv0"],
        );
        const groups = await show<Shown>(lab.rtr, socket, "groups", fam);
        assert.deepEqual(
          Object.fromEntries((groups.upstream ?? []).map((u) => [u.group, u.interface])),
          { [p.tv]: "iptv0", [p.tvSsm]: "iptv0", [p.web]: "wan0", [p.webSsm]: "wan0" },
        );
        assert.ok(
          (groups.groups ?? []).filter((g) => g.interface === "lan0").every((g) => g.upstream === (g.group === p.tv || g.group === p.tvSsm ? "iptv0" : "wan0")),
          JSON.stringify(groups.groups),
        );
        const stats = (await show<Shown>(lab.rtr, socket, "stats", fam)).stats!;
        assert.ok(stats.wrongUpstream >= 1, `wrong-upstream counted: ${stats.wrongUpstream}`);
        assert.equal(stats.noUpstream, 0);
      }));

    it(`${fam.name}: deleting and re-creating iptv0 leaves wan0's stream without a gap and joins the TV groups on the new iptv0`, () =>
      stage(fam, async (s) => {
        const p = plan(fam);
        const socket = socketPath();
        const d = await s.proxy(lab, yamlConfig(socket), "yaml", ["lan0"], UPSTREAMS);
        const h1 = await s.host(lab.h1);
        await joinAll(s, lab.rtr, h1, d);
        await streams(s, lab, h1);

        const attachedBefore = fam.lines(d, "interface attached").filter((l) => l.interface === "iptv0").length;
        const wanChanges = () =>
          fam.lines(d, "upstream membership").filter((l) => l.interface === "wan0").length;
        const wanChangesBefore = wanChanges();
        await lab.rtr.ip("link", "del", "iptv0");
        await d.waitFor(
          (l) => l.msg === "interface detached" && l.family === fam.name && l.interface === "iptv0",
          8000,
          "iptv0 detached",
        );
        await sleep(1000);
        assert.deepEqual(await joinedOn(lab.rtr, fam, p.web), ["wan0"], "wan0 keeps its group");
        const gone = Date.now();
        await sleep(300);
        assert.equal(h1.from(p.tvSource, gone).length, 0, "no TV stream while iptv0 is gone");

        await lab.wireIptv();
        await until(
          () => fam.lines(d, "interface attached").filter((l) => l.interface === "iptv0").length > attachedBefore,
          10_000,
          "iptv0 attached again",
        );
        await eventually(async () => {
          assert.deepEqual(await joinedOn(lab.rtr, fam, p.tv), ["iptv0"]);
          assert.deepEqual(await joinedOn(lab.rtr, fam, p.tvSsm), ["iptv0"]);
        }, 5000);
        // The head-end's sender died with its interface: a new one, as a re-created VLAN's would.
        const back = Date.now();
        s.send(lab.iptv, p.tv, p.tvSource);
        await receives(h1, p.tvSource, 20, back);
        await sleep(300);

        const first = h1.from(p.webSource)[0]!.seq;
        assert.deepEqual(seqGaps(h1, p.webSource, undefined, first), [], "wan0's stream lost no datagram");
        assert.deepEqual(h1.from(p.strayTvSource), []);
        assert.equal(wanChanges(), wanChangesBefore, "no membership change on wan0 meanwhile");
        const web = await fam.mfcEntry(lab.rtr, p.webSource, p.web);
        assert.deepEqual([web?.iif, web?.oifs], ["wan0", ["lan0"]]);
        const tv = await fam.mfcEntry(lab.rtr, p.tvSource, p.tv);
        assert.deepEqual([tv?.iif, tv?.oifs], ["iptv0", ["lan0"]]);
      }));
  }

  it("ipv4: an igmpproxy file with two upstream phyints (the first with a whitelist) does the same", () =>
    stage(IPV4, async (s) => {
      const p = plan(IPV4);
      const dir = tempDir("improxy-igmpproxy-");
      const file = join(dir, "igmpproxy.conf");
      writeFileSync(file, IGMPPROXY_CONFIG);
      const run = privateRunDir();
      const d = startDaemon(lab.rtr, ["-c", file, "-d", "4"], { prefix: run.prefix });
      s.defer(() => stopProxy(d));
      await d.waitFor(
        (l) => l.msg === "querier status" && l.family === "ipv4" && l.interface === "lan0" && l.querier === true,
        15_000,
        "querier on lan0",
      );
      for (const u of UPSTREAMS) {
        await d.waitFor((l) => l.msg === "interface attached" && l.interface === u, 15_000, `${u} attached`);
      }
      const h1 = await s.host(lab.h1);
      await joinAll(s, lab.rtr, h1, d);
      await streams(s, lab, h1);
      await sleep(500);
      assert.deepEqual(h1.from(p.strayTvSource), []);
      const stats = (await show<Shown>(lab.rtr, run.socket, "stats", IPV4)).stats!;
      assert.ok(stats.wrongUpstream >= 1);
    }));
});
