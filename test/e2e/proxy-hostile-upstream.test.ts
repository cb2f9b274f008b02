/**
 * Issue 9 point 5, "hostile upstream", IPv4 and IPv6. The proxy is a host on the upstream
 * link (RFC 4605 §4.1): the router's kernel answers the queries there, and the daemon
 * ignores every IGMP/MLD message it receives on it. With the daemon running and h1 (dn1)
 * receiving a stream for G from the upstream host `up`, `up` sends byte-exact packets
 * (test/support/fuzz-inject.ts, AF_PACKET):
 *   - current-version queries (IGMPv3 / MLDv2, RFC 3376 §4.1, RFC 3810 §5.1) with Max Resp
 *     Code 0, QQIC 0, QQIC 255 with QRV 7 (RFC 3376 §4.1.6/§4.1.7), the S flag, group- and
 *     group-and-source-specific ones for G and for groups nobody joined;
 *   - reports looped from upstream: current and older versions, leaves / dones, for G and
 *     other groups, to the group, 224.0.0.22 / ff02::16 or 224.0.0.2 / ff02::2, some with
 *     the router's own upstream address as source (a spoofed loop);
 *   - then a flood of general and group-specific queries (6,000 as fast as they go).
 * Older-version queries are not sent: an IGMPv1 query (8 bytes, Max Resp Code 0) or an
 * MLDv1 one rightly switches the router's kernel to the older version on the upstream link
 * for the Older Version Querier Present Timeout (RFC 3376 §7.2.1, RFC 3810 §8.2.1), which
 * would change its answers for minutes; the daemon ignores them like any other.
 * Asserted: the daemon stays up without error lines; it learns no group, changes no querier
 * status and no upstream membership (/proc/net/igmp(6) of the router as before: G joined,
 * nothing added); no MFC entry for the hostile groups; h1's stream has no gap; a fresh join
 * by h2 (dn2) to another flowing group is served within seconds; the router's kernel still
 * answers a normal query upstream with a record for G; and the counters of packets ignored
 * upstream rose by type by (nearly) what was sent and the kernel delivered.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { controlRequest } from "../../src/control/client.js";
import type { FamilyStats, StatusDocument } from "../../src/control/status.js";
import type { UpstreamPacketType } from "../../src/daemon/ingress.js";
import type { Netns } from "../../src/lab/netns.js";
import {
  ALL_ROUTERS,
  ALL_SYSTEMS,
  ALL_V3_ROUTERS,
  type Address,
  generalQuery,
  groupQuery,
  groupSourceQuery,
  type IpFamily,
  leave,
  type Message,
  RecordType,
  report,
  serialize,
  v3Report,
} from "../../src/wire/index.js";
import { type Fam, FAMILIES } from "../support/family.js";
import { ipv4Frame, ipv6Frame } from "../support/fuzz-gen.js";
import { startInjector } from "../support/fuzz-inject.js";
import { buildProxyLab, sleep, until, yamlConfig } from "../support/scenario.js";
import { h1JoinsStream, seqGaps, stage, useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

/** Copies of each crafted packet. */
const COPIES = 20;
/** Queries in the flood, sent as fast as the injector goes (about 6,000 in 0.1 to 0.3 s). */
const FLOOD = 6000;

/** One crafted packet: what it is, the type the daemon should count it as, its frame. */
interface Hostile {
  what: string;
  type: UpstreamPacketType;
  /** Source is the router's own upstream address: counted as own, not as upstream. */
  spoofed: boolean;
  /** Whether the router's kernel hands it to the multicast routing socket (`reachesDaemon`). */
  reaches: boolean;
  frame: Uint8Array;
}

/**
 * Whether the router's kernel delivers a packet from `up` to the daemon's multicast routing
 * socket. Not when it is addressed to 224.0.0.22 / ff02::16 or 224.0.0.2 / ff02::2: those are
 * link-local groups (never forwarded) that the router does not join on its upstream link
 * (the daemon joins them on the downstream links only). Not when its source is the router's
 * own address: IPv4 drops it as a martian, IPv6 delivers it and the daemon counts it as
 * `own` (which also counts the router's own reports looped back, so it is not asserted).
 */
function reachesDaemon(family: IpFamily, dst: Address, spoofed: boolean): boolean {
  return !spoofed && dst !== ALL_V3_ROUTERS[family] && dst !== ALL_ROUTERS[family];
}

/** The link-local address of `ifname` in `ns`. */
async function linkLocal(ns: Netns, ifname: string): Promise<Address> {
  const { stdout } = await ns.ip("-j", "-6", "addr", "show", "dev", ifname, "scope", "link");
  // `ip -j` keeps the filtered-out addresses as empty objects.
  const infos = (JSON.parse(stdout) as Array<{ addr_info: Array<{ local?: string }> }>)[0]?.addr_info ?? [];
  const a = infos.find((i) => i.local?.startsWith("fe80:"))?.local;
  if (!a) throw new Error(`no link-local address on ${ifname} in ${ns.name}`);
  return a;
}

function frameOf(family: IpFamily, src: Address, dst: Address, msg: Message): Uint8Array {
  const payload = serialize(family, msg);
  return family === "ipv4" ? ipv4Frame({ src, dst, payload }) : ipv6Frame({ src, dst, payload });
}

interface Plan {
  /** The upstream host's address the queries and reports come from. */
  host: Address;
  /** The router's own address on up0 (the spoofed loop). */
  router: Address;
  /** h1's group (its stream flows). */
  G: Address;
  /** Groups reported from upstream only. */
  others: Address[];
  /** Groups nobody joined, in group-specific queries. */
  nobody: Address[];
}

/** The crafted queries and reports (each sent COPIES times). */
function crafted(fam: Fam, p: Plan): Hostile[] {
  const f = fam.name;
  const v = fam.version;
  const older = fam.v4 ? 2 : 1;
  const out: Hostile[] = [];
  const add = (what: string, type: UpstreamPacketType, dst: Address, msg: Message, spoofed = false) =>
    out.push({
      what,
      type,
      spoofed,
      reaches: reachesDaemon(f, dst, spoofed),
      frame: frameOf(f, spoofed ? p.router : p.host, dst, msg),
    });
  const [o0, o1, o2] = p.others as [Address, Address, Address];
  const [n0, n1] = p.nobody as [Address, Address];
  // Queries: RFC 3376 §4.1.1 / RFC 3810 §5.1.3 Max Resp Code 0; §4.1.7 / §5.1.9 QQIC 0 and
  // 255 (31744 s); §4.1.6 / §5.1.8 QRV 7; §4.1.5 / §5.1.7 the S flag.
  add("general query, Max Resp Code 0", "query", ALL_SYSTEMS[f], generalQuery(f, v, { maxRespTimeMs: 0 }));
  add("general query, QQIC 0", "query", ALL_SYSTEMS[f], generalQuery(f, v, { qqiSeconds: 0 }));
  add(
    "general query, QQIC 255, QRV 7",
    "query",
    ALL_SYSTEMS[f],
    generalQuery(f, v, { qqiSeconds: 31744, qrv: 7 }),
  );
  add("general query, S flag", "query", ALL_SYSTEMS[f], generalQuery(f, v, { sFlag: true }));
  add("Q(G), S flag, Max Resp Code 0", "query", p.G, groupQuery(f, v, p.G, { sFlag: true, maxRespTimeMs: 0 }));
  add("Q(G)", "query", p.G, groupQuery(f, v, p.G));
  add("Q(unjoined)", "query", n0, groupQuery(f, v, n0));
  add("Q(G,S)", "query", p.G, groupSourceQuery(f, p.G, [fam.s1, fam.s2]));
  add("Q(unjoined,S)", "query", n1, groupSourceQuery(f, n1, [fam.s1], { sFlag: true }));
  // Reports looped from upstream, for G and other groups.
  const records = [
    { recordType: RecordType.MODE_IS_EXCLUDE, group: p.G },
    { recordType: RecordType.MODE_IS_EXCLUDE, group: o0 },
    { recordType: RecordType.CHANGE_TO_EXCLUDE_MODE, group: o1 },
    { recordType: RecordType.ALLOW_NEW_SOURCES, group: o2, sources: [fam.s1] },
  ];
  for (const spoofed of [false, true]) {
    const from = spoofed ? " (spoofed: the router's address)" : "";
    add(`current report to ${ALL_V3_ROUTERS[f]}${from}`, "report", ALL_V3_ROUTERS[f], v3Report(f, records), spoofed);
    add(`current report to G${from}`, "report", p.G, v3Report(f, records), spoofed);
    add(`older report for G${from}`, "report", p.G, report(f, older, p.G), spoofed);
    add(`older report for another group${from}`, "report", o0, report(f, older, o0), spoofed);
    add(`leave for G to ${ALL_ROUTERS[f]}${from}`, "leave", ALL_ROUTERS[f], leave(f, p.G), spoofed);
    add(`leave for G to G${from}`, "leave", p.G, leave(f, p.G), spoofed);
    add(`leave for another group to it${from}`, "leave", o0, leave(f, o0), spoofed);
  }
  if (fam.v4) add("IGMPv1 report for another group", "report", o1, report(f, 1, o1));
  return out;
}

/**
 * The flood's frames, cycled FLOOD times: general queries (one with Max Resp Code 0), Q(G)
 * with Max Resp Code 0, and Q(G) for each group nobody joined.
 */
function flood(fam: Fam, p: Plan): Uint8Array[] {
  const f = fam.name;
  const v = fam.version;
  return [
    frameOf(f, p.host, ALL_SYSTEMS[f], generalQuery(f, v)),
    frameOf(f, p.host, ALL_SYSTEMS[f], generalQuery(f, v, { maxRespTimeMs: 0 })),
    frameOf(f, p.host, p.G, groupQuery(f, v, p.G, { maxRespTimeMs: 0 })),
    ...p.nobody.map((n) => frameOf(f, p.host, n, groupQuery(f, v, n))),
  ];
}

/** Sends `count` packets cycling through `frames` from `ns` (eth0); resolves with the injector's result. */
async function inject(dir: string, ns: Netns, frames: Uint8Array[], count: number) {
  const framesFile = join(dir, `frames-${count}.hex`);
  writeFileSync(framesFile, `${frames.map((x) => Buffer.from(x).toString("hex")).join("\n")}\n`);
  return startInjector(ns, { framesFile, count }).result;
}

/** Dropped frames of the upstream veth pair: `up` eth0 transmit + the router's up0 receive. */
async function vethDrops(up: Netns, rtr: Netns): Promise<number> {
  const dropped = async (ns: Netns, ifname: string, dir: "tx" | "rx") => {
    const { stdout } = await ns.ip("-j", "-s", "link", "show", "dev", ifname);
    const st = (JSON.parse(stdout) as Array<{ stats64?: Record<string, { dropped?: number }> }>)[0]?.stats64;
    return st?.[dir]?.dropped ?? 0;
  };
  return (await dropped(up, "eth0", "tx")) + (await dropped(rtr, "up0", "rx"));
}

/**
 * Packets the kernel dropped at the router's raw IGMP / ICMPv6 sockets (the daemon's
 * multicast routing socket among them) because their receive buffer was full: the
 * "drops" column of /proc/net/raw(6).
 */
async function rawSocketDrops(ns: Netns, fam: Fam): Promise<number> {
  const proto = fam.v4 ? 2 : 58;
  let n = 0;
  for (const line of (await ns.readProc(fam.v4 ? "/proc/net/raw" : "/proc/net/raw6")).split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const port = f[1]?.split(":")[1];
    if (port !== undefined && Number.parseInt(port, 16) === proto) n += Number(f.at(-1));
  }
  return n;
}

type Counters = Record<UpstreamPacketType, number> & { own: number; upstream: number; received: number };

/** Reads `counters` until packets-received stays the same for 500 ms (at most 15 s). */
async function settled(counters: () => Promise<Counters>): Promise<Counters> {
  let last = await counters();
  for (const t0 = Date.now(); Date.now() - t0 < 15_000; ) {
    await sleep(500);
    const now = await counters();
    if (now.received === last.received) return now;
    last = now;
  }
  return last;
}

function countersOf(st: FamilyStats): Counters {
  return {
    ...st.upstreamPacketsByType,
    own: st.ownPackets,
    upstream: st.upstreamPackets,
    received: st.packetsReceived,
  };
}

describe("proxy: hostile upstream (issue 9 point 5)", { timeout: 300_000 }, () => {
  const topo = useLab(buildProxyLab);

  for (const fam of FAMILIES) {
    it(`${fam.name}: crafted queries, looped reports and a query flood from upstream change nothing and are counted by type`, () =>
      stage(fam, async (s) => {
        const t0 = Date.now();
        const G = fam.asm(60);
        const G2 = fam.asm(61);
        const others = [62, 63, 64].map((n) => fam.asm(n));
        const nobody = Array.from({ length: 14 }, (_, i) => fam.asm(70 + i));
        const dir = tempDir("improxy-hostile-");
        s.defer(() => rmSync(dir, { recursive: true, force: true }));
        const socket = join(dir, "control.sock");
        const d = await s.proxy(topo, `${yamlConfig()}control-socket: ${socket}\n`, "yaml");
        const show = async (what: "stats" | "groups" | "interfaces") =>
          ((await controlRequest(socket, { cmd: "show", what, family: fam.name })) as StatusDocument).families[0]!;
        const counters = async () => countersOf((await show("stats")).stats!);
        const queriers = async () =>
          (await show("interfaces")).interfaces!.map((i) => ({ name: i.name, querier: i.querier, at: i.querierAddress }));
        const attached = await d.waitFor(
          (l) => l.msg === "interface attached" && l.family === fam.name && l.interface === "up0",
        );
        const plan: Plan = {
          host: fam.v4 ? fam.s1 : await linkLocal(topo.up, "eth0"),
          router: String(attached.address),
          G,
          others,
          nobody,
        };

        // h1 receives G from S1; G2 flows from S2 with nobody joined yet.
        const { h1 } = await h1JoinsStream(s, topo, d, G, [fam.s1]);
        s.send(topo.up, G2, fam.s2);
        const h2 = await s.host(topo.h2);
        await sleep(500);
        const before = await counters();
        const members = await fam.memberships(topo.rtr);
        const queriersBefore = await queriers();
        const logged = d.lines.length;
        const querierLines = fam.lines(d, "querier status").length;

        // The crafted packets, each COPIES times, then the flood.
        const hostile = crafted(fam, plan);
        const dropsBefore = await rawSocketDrops(topo.rtr, fam);
        const vethBefore = await vethDrops(topo.up, topo.rtr);
        const r1 = await inject(dir, topo.up, hostile.map((h) => h.frame), hostile.length * COPIES);
        const r2 = await inject(dir, topo.up, flood(fam, plan), FLOOD);
        // The daemon may still be reading (and logging at debug) what the flood queued.
        const after = await settled(counters);
        const socketDrops = (await rawSocketDrops(topo.rtr, fam)) - dropsBefore;
        const linkDrops = (await vethDrops(topo.up, topo.rtr)) - vethBefore;

        // Sent by type, and how many of them the router's kernel hands to the multicast
        // routing socket at all (see `reachesDaemon`).
        const sent: Record<UpstreamPacketType, number> = { query: FLOOD, report: 0, leave: 0, other: 0 };
        const reachable: Record<UpstreamPacketType, number> = { query: FLOOD, report: 0, leave: 0, other: 0 };
        let spoofed = 0;
        for (const h of hostile) {
          if (h.spoofed) spoofed += COPIES;
          else sent[h.type] += COPIES;
          if (h.reaches) reachable[h.type] += COPIES;
        }
        const rose = (k: keyof Counters) => after[k] - before[k];
        const seen = new Map<string, number>();
        for (const l of d.lines.slice(logged)) {
          if (l.msg !== "ignored on the upstream interface" || l.family !== fam.name) continue;
          const k = `${l.source} -> ${l.destination} ${l.kind}`;
          seen.set(k, (seen.get(k) ?? 0) + 1);
        }
        const figures = [
          `${fam.name}: injected ${r1.packets} crafted + ${r2.packets} flood packets in ${Math.round(r1.elapsedMs)} + ${Math.round(r2.elapsedMs)} ms (send errors ${JSON.stringify({ ...r1.sendErrors, ...r2.sendErrors })})`,
          `  sent: ${JSON.stringify(sent)} (+ ${spoofed} from the router's own address); the kernel delivers ${JSON.stringify(reachable)}`,
          `  counted: ${(["query", "report", "leave", "other"] as const).map((k) => `${k} +${rose(k)}`).join(", ")}; upstream-packets +${rose("upstream")}, own-packets +${rose("own")}, packets-received +${rose("received")}; kernel drops: upstream veth +${linkDrops}, raw sockets +${socketDrops}`,
          ...[...seen].map(([k, n]) => `  seen ${k}: ${n}`),
        ].join("\n");
        console.log(figures);

        // Up, no error (nor warning) logged, nothing learned, no querier change.
        assert.equal(d.proc.exitCode, null, `the daemon is running\n${figures}`);
        const later = d.lines.slice(logged).filter((l) => l.family === fam.name || l.family === undefined);
        assert.deepEqual(later.filter((l) => l.level >= 40), [], "no warning, error or fatal line");
        assert.deepEqual(
          later.filter((l) => l.msg === "link state" || l.msg === "upstream membership"),
          [],
          "nothing learned, no upstream membership change",
        );
        assert.equal(fam.lines(d, "querier status").length, querierLines, "no querier status change");
        assert.deepEqual(await queriers(), queriersBefore, "querier status and querier addresses as before");
        const groups = await show("groups");
        assert.deepEqual(
          groups.groups!.map((g) => [g.interface, g.group]),
          [["dn1", G]],
          "downstream state: h1's group only",
        );
        assert.deepEqual(
          groups.upstream!.map((u) => u.group),
          [G],
          "merged upstream membership: G only",
        );
        // The router's kernel memberships (its host part upstream, report groups downstream)
        // are exactly as before: G joined on up0, nothing added.
        assert.deepEqual(await fam.memberships(topo.rtr), members, "the router's memberships are unchanged");
        assert.ok(await fam.isMember(topo.rtr, "up0", G), "G still joined upstream");
        const hostileGroups = new Set([...others, ...nobody]);
        assert.deepEqual(
          (await fam.mfc(topo.rtr)).filter((e) => hostileGroups.has(e.group)),
          [],
          "no forwarding entry for the hostile groups",
        );
        assert.deepEqual(await fam.oifs(topo.rtr, fam.s1, G), ["dn1"], "G still forwarded to dn1");
        const onH1 = h1.from(fam.s1);
        assert.ok(onH1.length >= 100, `h1 received ${onH1.length} packets of G`);
        assert.deepEqual(seqGaps(h1, fam.s1), [], "h1's stream has no gap");

        // The counters say what was ignored: every type rose by what the kernel delivered
        // (at least 80 %: a loaded machine may drop some of a flood; measured: all of it),
        // never by more than was sent; nothing from the router's own address counts as
        // upstream.
        for (const k of ["query", "report", "leave", "other"] as const) {
          const list = hostile
            .filter((h) => h.type === k)
            .map((h) => `    ${h.what}: ${COPIES}${h.reaches ? "" : ", not delivered by the kernel"}`);
          assert.ok(
            rose(k) >= Math.floor(reachable[k] * 0.8) && rose(k) <= sent[k],
            `upstream-packets:${k} rose by ${rose(k)}: sent ${sent[k]}, delivered ${reachable[k]}\n${list.join("\n")}\n${figures}`,
          );
        }
        assert.equal(
          rose("upstream"),
          rose("query") + rose("report") + rose("leave") + rose("other"),
          "the total is the sum of the types",
        );

        // After the flood a fresh join on dn2 is served within seconds.
        const tJoin = await h2.join(G2);
        await until(() => h2.from(fam.s2, tJoin).length > 0, 5000, `h2's join of ${G2} served\n${figures}`);
        const firstMs = h2.from(fam.s2, tJoin)[0]!.at - tJoin;
        console.log(`${fam.name}: h2's first packet of ${G2} ${firstMs} ms after its join`);
        assert.ok(firstMs < 3000, `h2's first packet ${firstMs} ms after the join`);

        // The router's kernel (a host upstream, RFC 4605 §4.1) still answers a normal
        // query with a current-state record for G, and never reports a hostile group.
        const capUp = await s.captureControl(topo.up, "eth0");
        const up = await s.host(topo.up);
        const tQuery = await up.query({ version: 3, maxRespMs: 1000 });
        await sleep(2000);
        await capUp.stop();
        const fromRouter = (await fam.reportRecords(capUp.file)).filter((r) => r.from === plan.router);
        assert.ok(
          fromRouter.some((r) => r.group === G && r.type === "IS_EX" && r.at >= tQuery),
          `the router answered the query for G: ${JSON.stringify(fromRouter)}`,
        );
        assert.ok(
          !fromRouter.some((r) => hostileGroups.has(r.group)),
          `the router never reported a hostile group: ${JSON.stringify(fromRouter)}`,
        );
        console.log(`${fam.name}: scenario ran ${Date.now() - t0} ms`);
      }));
  }
});
