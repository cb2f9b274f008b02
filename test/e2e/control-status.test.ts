/**
 * Issue 5 items 1 and 2 against the real kernel: while a stream flows from `up` to h1
 * (IPv4 and IPv6) and h2 holds source-specific joins, `improxy status` and every
 * `improxy show` view, run inside the router namespace, print tables that match the
 * kernel (/proc/net/ip_mr_vif, ip6_mr_vif, `ip mroute`, /proc/net/igmp(6)) and what the
 * hosts joined; `--json` validates against schema/status.schema.json; two scrapes of
 * /metrics show the counters move as reports and traffic flow; once the daemon is gone,
 * `improxy status` says so in one line and the socket file is gone.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { type Receiver, type Sender, startReceiver, startSender } from "../../src/lab/hosts.js";
import type { Netns } from "../../src/lab/netns.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import type { IpFamily } from "../../src/wire/types.js";
import { type DaemonRun, runCli, startDaemon, writeConfig } from "../support/daemon.js";
import { FAMILIES, IPV4, IPV6 } from "../support/family.js";
import { eventually, mfc, sleep } from "../support/scenario.js";
import { tempDir } from "../support/temp.js";

const schema = JSON.parse(
  readFileSync(new URL("../../schema/status.schema.json", import.meta.url), "utf8"),
) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

const METRICS_PORT = 19464;
const G: Record<IpFamily, string> = { ipv4: "239.5.5.5", ipv6: "ff0e::5:5" };
const SSM: Record<IpFamily, string> = { ipv4: "232.5.5.5", ipv6: "ff3e::5:5" };

/** Runs `improxy ARGS` inside `ns`. */
const cli = runCli;

/** Data rows of a table (text lines after the header, up to the first blank line), split on blanks. */
function rows(text: string): string[][] {
  const lines = text.split("\n");
  const out: string[][] = [];
  for (const l of lines.slice(1)) {
    if (l.trim() === "" || l.startsWith("(")) break;
    out.push(l.trim().split(/\s+/));
  }
  return out;
}

/** VIF table of the kernel: vif index -> { name, pktsIn, pktsOut }. */
async function procVifs(ns: Netns, family: IpFamily) {
  const text = await ns.readProc(family === "ipv4" ? "/proc/net/ip_mr_vif" : "/proc/net/ip6_mr_vif");
  const out = new Map<number, { name: string; pktsIn: number; pktsOut: number }>();
  for (const l of text.split("\n").slice(1)) {
    const m = /^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(l);
    if (m) out.set(Number(m[1]), { name: m[2]!, pktsIn: Number(m[4]), pktsOut: Number(m[6]) });
  }
  return out;
}

async function ifindex(ns: Netns, name: string): Promise<number> {
  return Number((await ns.readProc(`/sys/class/net/${name}/ifindex`)).trim());
}

/** `ip -s -j mroute show`: (S,G) -> packets. */
async function mrouteCounters(ns: Netns, family: IpFamily): Promise<Map<string, number>> {
  const { stdout } = await ns.exec("ip", [
    ...(family === "ipv6" ? ["-6"] : []),
    "-s",
    "-j",
    "mroute",
    "show",
  ]);
  const out = new Map<string, number>();
  for (const r of JSON.parse(stdout.trim() || "[]") as Array<{
    src: string;
    dst: string;
    packets?: number;
  }>) {
    out.set(`${r.src}|${r.dst}`, r.packets ?? -1);
  }
  return out;
}

async function scrape(ns: Netns): Promise<string> {
  const { stdout } = await ns.exec("node", [
    "-e",
    `fetch("http://127.0.0.1:${METRICS_PORT}/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))`,
  ]);
  return stdout;
}

function metric(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe("control socket and metrics (issue 5 items 1, 2)", { timeout: 120_000 }, () => {
  let topo: Topology;
  let d: DaemonRun | null = null;
  const receivers: Receiver[] = [];
  const senders: Sender[] = [];
  const dir = tempDir("improxy-ctl-");
  const socket = join(dir, "run", "improxy.sock");

  before(async () => {
    topo = await buildTopology();
  });
  after(async () => {
    for (const s of senders) await s.stop();
    for (const r of receivers) await r.stop();
    await d?.stop();
    await topo?.destroy();
  });

  it("status and show match the kernel while a stream flows; --json validates; /metrics moves; not running: one line", async () => {
    const conf = writeConfig(
      "improxy.yaml",
      [
        "upstream: up0",
        "downstream: [dn1, dn2]",
        `control-socket: ${socket}`,
        `metrics: "127.0.0.1:${METRICS_PORT}"`,
        "query-max-response-time: 1",
        "fast-leave: true",
        "",
      ].join("\n"),
    );
    d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"]);
    await d.waitFor((l) => l.msg === "control socket listening", 10_000, "control socket");
    for (const { name: family } of FAMILIES) {
      await d.waitFor(
        (l) =>
          l.msg === "querier status" && l.family === family && l.interface === "dn1" && l.querier === true,
        10_000,
      );
    }
    assert.equal(statSync(socket).mode & 0o777, 0o600, "socket is owner-only");
    const m1 = await scrape(topo.rtr);

    // Hosts: h1 any-source joins of G (both families); h2 source-specific joins.
    // The source of every stream is up's address (fam.s1).
    for (const fam of FAMILIES) {
      const r = startReceiver(topo.h1, G[fam.name], { port: 5001 });
      receivers.push(r);
      await r.joined;
      const ssm = startReceiver(topo.h2, SSM[fam.name], { port: 5002, source: fam.s1 });
      receivers.push(ssm);
      await ssm.joined;
      senders.push(startSender(topo.up, G[fam.name], { port: 5001, intervalMs: 20, bind: fam.s1 }));
    }
    await eventually(async () => {
      for (const r of receivers.filter((_, i) => i % 2 === 0))
        assert.ok(r.packets.length >= 10, "stream reaches h1");
    }, 10_000);

    // --- show routes: the (S,G) entries, as `ip mroute` has them, with moving counters.
    const rt1 = await cli(topo.rtr, ["show", "routes", "--socket", socket]);
    assert.equal(rt1.code, 0, rt1.stderr);
    await sleep(1200);
    const rt2 = await cli(topo.rtr, ["show", "routes", "--socket", socket]);
    const shownAt = Date.now();
    assert.match(
      rt2.stdout.split("\n")[0]!,
      /^FAMILY\s+SOURCE\s+GROUP\s+INCOMING\s+OUTGOING\s+PACKETS\s+BYTES\s+PPS\s+BIT\/S\s+WRONG-IF\s+UPSTREAM\s+UPTIME$/,
    );
    for (const { name: family, s1: S } of FAMILIES) {
      const k = (t: string) => rows(t).find((r) => r[0] === family && r[1] === S && r[2] === G[family]);
      const a = k(rt1.stdout);
      const b = k(rt2.stdout);
      assert.ok(a && b, `${family} (S,G) row in:\n${rt2.stdout}`);
      const kernel = (await mfc(topo.rtr, family)).find((e) => e.source === S && e.group === G[family]);
      assert.deepEqual(
        [b[3], b[4]],
        [kernel?.iif, kernel?.oifs.join(",")],
        `${family}: iif/oifs as ip mroute`,
      );
      assert.deepEqual([b[3], b[4]], ["up0", "dn1"]);
      const p1 = Number(a[5]);
      const p2 = Number(b[5]);
      assert.ok(p2 > p1 + 20, `${family}: packets moving (${p1} -> ${p2})`);
      const kernelNow = (await mrouteCounters(topo.rtr, family)).get(`${S}|${G[family]}`) ?? -1;
      // The stream is 50 packets/s: the kernel's count may be ahead by what flowed since the
      // show (up to a few seconds for the later family on a loaded machine), never behind.
      const since = (Date.now() - shownAt) / 1000;
      assert.ok(
        kernelNow >= p2 && kernelNow < p2 + 100 + 60 * since,
        `${family}: ip -s mroute says ${kernelNow}, show said ${p2}`,
      );
      // The daemon's own samples (every 2 s): a rate once two exist, whoever asks.
      const c = await eventually(async () => {
        const rt = await cli(topo.rtr, ["show", "routes", "--socket", socket]);
        const row = k(rt.stdout);
        assert.ok(row && row[7] !== "-", `${family}: no rate yet`);
        return row;
      }, 6000, 300);
      const pps = Number(c[7]);
      assert.ok(pps > 25 && pps < 75, `${family}: pps ${c[7]} for a 50 packet/s stream`);
      assert.match(c[8]!, /^\d+(\.\d)?k$/, `${family}: bit rate ${c[8]} in kbit/s`);
      assert.equal(b[9], "0", "no wrong-interface arrivals");
      // UPTIME: since the entry went into the kernel, before the first `show routes` (1.2 s earlier).
      const up = /^(\d+(?:\.\d)?)s$/.exec(c.at(-1)!);
      assert.ok(up && Number(up[1]) >= 1.2 && Number(up[1]) < 60, `${family}: uptime ${c.at(-1)}`);
      // Every route the kernel has is listed, and no other.
      const listed = rows(rt2.stdout)
        .filter((r) => r[0] === family)
        .map((r) => `${r[1]}|${r[2]}`)
        .sort();
      assert.deepEqual(listed, (await mfc(topo.rtr, family)).map((e) => `${e.source}|${e.group}`).sort());
    }

    // --- show filters, applied by the daemon: by link (routes: incoming or outgoing), group, source.
    const viaDn1 = await cli(topo.rtr, ["show", "routes", "dn1", "--socket", socket]);
    assert.deepEqual(
      rows(viaDn1.stdout)
        .map((r) => `${r[0]} ${r[2]} ${r[3]} ${r[4]}`)
        .sort(),
      [`ipv4 ${G.ipv4} up0 dn1`, `ipv6 ${G.ipv6} up0 dn1`],
      viaDn1.stdout,
    );
    const viaDn2 = await cli(topo.rtr, ["show", "routes", "dn2", "--socket", socket]);
    assert.deepEqual([viaDn2.code, rows(viaDn2.stdout)], [0, []], viaDn2.stdout);
    const bySource = await cli(topo.rtr, [
      "show",
      "sources",
      "--source",
      IPV4.s1,
      "--json",
      "--socket",
      socket,
    ]);
    const sourcesDoc = JSON.parse(bySource.stdout) as {
      filter: unknown;
      families: Array<{ sources: Array<{ source: string }> }>;
    };
    assert.ok(validate(sourcesDoc), JSON.stringify(validate.errors));
    assert.deepEqual(sourcesDoc.filter, { source: IPV4.s1 });
    assert.deepEqual(
      sourcesDoc.families.flatMap((f) => f.sources.map((x) => x.source)),
      [IPV4.s1],
    );
    const ssmOnly = await cli(topo.rtr, ["show", "groups", "--group", "232.0.0.0/8", "--socket", socket]);
    assert.deepEqual(
      rows(ssmOnly.stdout).map((r) => `${r[1]} ${r[2]}`),
      [`dn2 ${SSM.ipv4}`],
      ssmOnly.stdout,
    );
    const unknown = await cli(topo.rtr, ["show", "groups", "dn9", "--socket", socket]);
    assert.deepEqual(unknown, {
      code: 1,
      stdout: "",
      stderr: "improxy: no interface dn9 is configured; configured: up0, dn1, dn2\n",
    });
    const stray = await cli(topo.rtr, ["show", "groups", "dn1", "dn2", "--socket", socket]);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /too many arguments[\s\S]*\nusage: improxy show /);

    // --- show interfaces: VIFs and ifindexes as the kernel has them; counters consistent.
    const si = await cli(topo.rtr, ["show", "interfaces", "--socket", socket]);
    assert.equal(si.code, 0, si.stderr);
    for (const { name: family, version } of FAMILIES) {
      const vifs = await procVifs(topo.rtr, family);
      const mine = rows(si.stdout).filter((r) => r[0] === family);
      assert.deepEqual(
        mine.map((r) => [Number(r[5]), r[1]]).sort(),
        [...vifs].map(([vif, v]) => [vif, v.name]).sort(),
        `${family}: VIF per interface as in /proc`,
      );
      for (const r of mine) {
        assert.equal(Number(r[4]), await ifindex(topo.rtr, r[1]!), `${family} ${r[1]} ifindex`);
        assert.equal(r[3], "attached");
        const v = vifs.get(Number(r[5]))!;
        assert.ok(Number(r[13]) <= v.pktsOut && Number(r[12]) <= v.pktsIn, `${family} ${r[1]} counters`);
      }
      const dn1 = mine.find((r) => r[1] === "dn1")!;
      assert.deepEqual([dn1[2], dn1[7], dn1[8]], ["downstream", String(version), "yes"]);
      assert.equal(dn1[9], dn1[6], "querier address is our own");
      assert.ok(Number(dn1[13]) > 50, `${family}: packets out on dn1`);
      assert.equal(mine.find((r) => r[1] === "up0")![2], "upstream");
    }

    // --- show groups: what the hosts joined, and the merged upstream membership.
    const sg = await cli(topo.rtr, ["show", "groups", "--socket", socket]);
    assert.equal(sg.code, 0, sg.stderr);
    const groupRows = rows(sg.stdout);
    for (const { name: family, version } of FAMILIES) {
      const byLink = (link: string) =>
        groupRows
          .filter((r) => r[0] === family && r[1] === link)
          .map((r) => r[2])
          .sort();
      assert.deepEqual(byLink("dn1"), [G[family]], `${family}: dn1 groups = what h1 joined`);
      assert.deepEqual(byLink("dn2"), [SSM[family]], `${family}: dn2 groups = what h2 joined`);
      const g = groupRows.find((r) => r[0] === family && r[2] === G[family])!;
      assert.equal(g[3], "exclude");
      assert.equal(g[4], String(version));
      const reporter = g[7]!;
      assert.ok(
        family === "ipv4" ? reporter === topo.addr.h1.v4 : reporter.startsWith("fe80::"),
        `reporter ${reporter}`,
      );
      assert.equal(g[9], reporter, "the tracked host is the reporter (fast-leave on)");
      const ssmRow = groupRows.find((r) => r[0] === family && r[2] === SSM[family])!;
      assert.deepEqual([ssmRow[3], ssmRow[6], ssmRow[8]], ["include", "-", "1"]);
    }
    const upstreamPart = sg.stdout.split("upstream membership")[1] ?? "";
    for (const fam of FAMILIES) {
      const groups = (await fam.memberships(topo.rtr)).get("up0") ?? [];
      for (const grp of [G[fam.name], SSM[fam.name]]) {
        assert.ok(upstreamPart.includes(` ${grp} `), `${grp} listed upstream`);
        assert.ok(groups.includes(fam.procAddress(grp)), `${grp} joined on up0 in the kernel`);
      }
    }

    // --- show sources: h2's source-specific joins.
    const ss = await cli(topo.rtr, ["show", "sources", "--socket", socket]);
    assert.deepEqual(
      rows(ss.stdout)
        .map((r) => [r[0], r[1], r[2], r[3], r[5]])
        .sort(),
      [
        ["ipv4", "dn2", SSM.ipv4, IPV4.s1, "yes"],
        ["ipv6", "dn2", SSM.ipv6, IPV6.s1, "yes"],
      ],
    );

    // --- show stats and status.
    const st = await cli(topo.rtr, ["show", "stats", "--socket", socket]);
    const stat = (family: string, iface: string, counter: string) =>
      Number(
        rows(st.stdout).find((r) => r[0] === family && r[1] === iface && r[2] === counter)?.[3] ?? Number.NaN,
      );
    assert.ok(stat("ipv4", "dn1", "received:igmpv3-report") >= 1, st.stdout);
    assert.ok(stat("ipv6", "dn1", "received:mldv2-report") >= 1, st.stdout);
    assert.ok(stat("ipv4", "-", "upstream-filter-changes") >= 2);
    const status = await cli(topo.rtr, ["status", "--socket", socket]);
    assert.equal(status.code, 0, status.stderr);
    const sl = status.stdout.split("\n");
    assert.match(sl[0]!, /^improxy \S+, pid \d+, up \S+ \(since /);
    assert.equal(sl[1], `config: ${conf}`);
    assert.equal(sl[2], `control socket: ${socket}; metrics: 127.0.0.1:${METRICS_PORT}`);
    assert.match(
      status.stdout,
      /^IPv4 \(IGMP\): 3 interfaces \(3 attached\), 2 groups, 1 source, 2 upstream groups, /m,
    );
    assert.match(
      status.stdout,
      /^IPv6 \(MLD\): 3 interfaces \(3 attached\), 2 groups, 1 source, 2 upstream groups, /m,
    );

    // --- --json validates against the published schema.
    for (const args of [
      ["status"],
      ...["interfaces", "groups", "sources", "routes", "stats"].map((v) => ["show", v]),
    ]) {
      const r = await cli(topo.rtr, [...args, "--json", "--socket", socket]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as unknown;
      assert.ok(validate(doc), `${args.join(" ")} --json: ${JSON.stringify(validate.errors)}`);
    }

    // --- /metrics: reports and traffic moved the counters.
    const m2 = await scrape(topo.rtr);
    await sleep(1000);
    const m3 = await scrape(topo.rtr);
    for (const { name: family, version } of FAMILIES) {
      const v = String(version);
      const rx = `improxy_messages_received_total{family="${family}",interface="dn1",type="report",version="${v}"}`;
      assert.ok(
        metric(m2, rx) > (Number.isNaN(metric(m1, rx)) ? 0 : metric(m1, rx)),
        `${rx}: ${metric(m1, rx)} -> ${metric(m2, rx)}`,
      );
      assert.equal(metric(m2, `improxy_groups{family="${family}",interface="dn1"}`), 1);
      assert.equal(metric(m1, `improxy_groups{family="${family}",interface="dn1"}`), 0);
      const out = `improxy_vif_packets_total{family="${family}",interface="dn1",direction="out"}`;
      assert.ok(metric(m3, out) > metric(m2, out) + 20, `${out}: ${metric(m2, out)} -> ${metric(m3, out)}`);
      assert.ok(metric(m2, out) > metric(m1, out));
      const changes = `improxy_upstream_filter_changes_total{family="${family}"}`;
      assert.ok(metric(m2, changes) >= metric(m1, changes) + 2, changes);
      assert.equal(metric(m2, `improxy_querier{family="${family}",interface="dn1"}`), 1);
      assert.equal(
        metric(m2, `improxy_forwarding_entries{family="${family}",interface="dn1",direction="out"}`),
        1,
      );
      assert.equal(metric(m2, `improxy_kernel_errors_total{family="${family}"}`), 0);
      assert.ok(
        metric(
          m2,
          `improxy_messages_sent_total{family="${family}",interface="dn1",type="general-query",version="${v}"}`,
        ) >= 1,
      );
    }
    assert.ok(metric(m2, "nodejs_eventloop_lag_seconds") >= 0, "event-loop lag exported");

    // --- Daemon gone: one line, exit 1; socket file removed.
    assert.equal(await d.stop(), 0);
    d = null;
    assert.equal(existsSync(socket), false, "socket removed on exit");
    const gone = await cli(topo.rtr, ["status", "--socket", socket]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout, "");
    assert.equal(gone.stderr, `improxy: no daemon is listening on ${socket} (is improxy running?)\n`);
  });
});
