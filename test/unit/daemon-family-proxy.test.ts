/**
 * FamilyProxy (src/daemon/family-proxy.ts) without root: the real mroute socket, MFC table,
 * report sockets and upstream filter sockets over fake system calls, a virtual clock and an
 * interface table, for both families. What the kernel is asked to do is read back from the
 * recorded calls (struct bytes compared with the packers of src/kernel/structs).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualScheduler } from "../../src/clock/index.js";
import { parseImproxyConfig } from "../../src/config/index.js";
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../../src/config/types.js";
import { FamilyProxy } from "../../src/daemon/family-proxy.js";
import { InterfaceTable } from "../../src/daemon/interfaces.js";
import { MrouteSocket } from "../../src/kernel/mroute-socket.js";
import { MrouteTable } from "../../src/kernel/mroute-table.js";
import { ReportSocket } from "../../src/kernel/report-socket.js";
import { packGroupReq, packGroupSourceReq } from "../../src/kernel/structs/membership.js";
import { IPV6_ROUTER_ALERT_HOPOPTS, packMf6cctl, packMfcctl } from "../../src/kernel/structs/mroute.js";
import { addressBytes, sockaddrIn6 } from "../../src/kernel/structs/sockaddr.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import { generalQuery, leave, report, serialize } from "../../src/wire/index.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls, ipv4Datagram } from "./fake-syscalls.js";
import { captureLogger } from "./log-capture.js";

interface Fam {
  family: IpFamily;
  config: string;
  up: { ifindex: number; addrs: Array<[string, number, "global" | "link"]> };
  dn: { ifindex: number; addrs: Array<[string, number, "global" | "link"]> };
  /** The downstream's own address (query source). */
  own: string;
  host: string;
  group: string;
  source: string;
  allRouters: string;
  allHosts: string;
  opt: (v4: string, v6: string) => string;
}

const FAMILIES: Fam[] = [
  {
    family: "ipv4",
    config: "igmp enable version 3\nupstream up0\ndownstream dn1\n",
    up: { ifindex: 2, addrs: [["10.10.0.1", 24, "global"]] },
    dn: { ifindex: 3, addrs: [["10.11.0.1", 24, "global"]] },
    own: "10.11.0.1",
    host: "10.11.0.2",
    group: "239.1.1.1",
    source: "10.10.0.5",
    allRouters: "224.0.0.2",
    allHosts: "224.0.0.1",
    opt: (v4) => v4,
  },
  {
    family: "ipv6",
    config: "mld enable version 2\nupstream up0\ndownstream dn1\n",
    up: {
      ifindex: 2,
      addrs: [
        ["fe80::a", 64, "link"],
        ["fd00:10::1", 64, "global"],
      ],
    },
    dn: {
      ifindex: 3,
      addrs: [
        ["fe80::1", 64, "link"],
        ["fd00:11::1", 64, "global"],
      ],
    },
    own: "fe80::1",
    host: "fe80::2",
    group: "ff05::1:1",
    source: "fd00:10::5",
    allRouters: "ff02::2",
    allHosts: "ff02::1",
    opt: (_v4, v6) => v6,
  },
];

/** `config` with `protocol` laid over the IGMP/MLD settings of every interface. */
function withProtocolSettings(config: ImproxyConfig, protocol: Partial<ProtocolSettings>): ImproxyConfig {
  const lay = (i: InterfaceConfig): InterfaceConfig => ({
    ...i,
    igmp: i.igmp && { ...i.igmp, ...protocol },
    mld: i.mld && { ...i.mld, ...protocol },
  });
  return { ...config, upstreams: config.upstreams.map(lay), downstreams: config.downstreams.map(lay) };
}

/** Router limits high enough for the 10,000-group tests (they measure other things). */
const NO_ROUTER_LIMITS: Partial<ProtocolSettings> = {
  maxGroups: 16_384,
  maxGroupsPerHost: 16_384,
  maxGroupSources: 65_536,
  reportRateLimit: 1_000_000,
  hostReportRateLimit: 1_000_000,
};

function setup(
  f: Fam,
  over: Partial<ImproxyConfig> | ((c: ImproxyConfig) => ImproxyConfig) = {},
  protocol: Partial<ProtocolSettings> = {},
) {
  const sys = new FakeSyscalls();
  sys.interfaces.set(f.up.ifindex, "up0");
  sys.interfaces.set(f.dn.ifindex, "dn1");
  const { log, lines } = captureLogger();
  const scheduler = new VirtualScheduler();
  const interfaces = new InterfaceTable();
  const link = (ifindex: number, name: string) => ({
    ifindex,
    name,
    up: true,
    running: true,
    flags: 0x41,
    mtu: 1500,
  });
  const addrs = (ifindex: number, list: Fam["up"]["addrs"]) =>
    list.map(([address, prefixLen, scope]) => ({
      ifindex,
      family: f.family,
      address,
      prefixLen,
      scope,
      tentative: false,
    }));
  interfaces.load(
    [link(f.up.ifindex, "up0"), link(f.dn.ifindex, "dn1")],
    [...addrs(f.up.ifindex, f.up.addrs), ...addrs(f.dn.ifindex, f.dn.addrs)],
  );
  const socketErrors: Error[] = [];
  const onError = (e: Error) => socketErrors.push(e);
  // A clock that stands still: a batch ends by count only, never by time.
  const reading = { now: () => 0 };
  const socket = MrouteSocket.open(f.family, { table: null, syscalls: sys, onError, reading });
  /** The report socket opened for each ifindex (the latest). */
  const reportSockets = new Map<number, ReportSocket>();
  /** force_igmp_version / force_mld_version per interface (none unless a test sets one). */
  const forced = new Map<string, number>();
  const proxy = new FamilyProxy({
    family: f.family,
    config: withProtocolSettings(
      typeof over === "function"
        ? over(parseImproxyConfig(f.config, "test.conf"))
        : { ...parseImproxyConfig(f.config, "test.conf"), ...over },
      protocol,
    ),
    log,
    scheduler,
    interfaces,
    socket,
    table: new MrouteTable(socket),
    openReportSocket: (o) => {
      const s = ReportSocket.open({ family: f.family, ...o, onError, syscalls: sys, reading });
      reportSockets.set(o.ifindex, s);
      return s;
    },
    upstreamSockets: { syscalls: sys, maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 },
    forcedVersion: (name) => forced.get(name) ?? null,
  });
  const v4 = f.family === "ipv4";
  /**
   * A report or leave from the host on the downstream, queued on the report socket of its
   * interface (on dn1's when that interface has none: the socket must discard it). IPv4
   * `routerAlert: false`: to a group outside 224.0.0.0/24 the kernel gives it to the
   * mroute socket instead (src/kernel/igmp-paths.ts).
   */
  const fromHost = (
    msg: "report" | "leave" | "query",
    over: {
      ifindex?: number;
      source?: string;
      bytes?: Uint8Array;
      group?: string;
      qrv?: number;
      qqiSeconds?: number;
      routerAlert?: boolean;
      /** Query version (default: IGMPv3 / MLDv2). */
      version?: 1 | 2 | 3;
      maxRespMs?: number;
    } = {},
  ) => {
    const group = over.group ?? f.group;
    const m =
      msg === "report"
        ? report(f.family, v4 ? 2 : 1, group)
        : msg === "leave"
          ? leave(f.family, group)
          : generalQuery(f.family, over.version ?? (v4 ? 3 : 2), {
              qrv: over.qrv ?? 2,
              qqiSeconds: over.qqiSeconds ?? 125,
              ...(over.maxRespMs !== undefined ? { maxRespTimeMs: over.maxRespMs } : {}),
            });
    const dst = msg === "report" ? group : msg === "leave" ? f.allRouters : f.allHosts;
    const src = over.source ?? f.host;
    const payload = over.bytes ?? serialize(f.family, m, { source: src, destination: dst });
    const ifindex = over.ifindex ?? f.dn.ifindex;
    const ra = over.routerAlert ?? true;
    const fd = !ra ? socket.fd : (reportSockets.get(ifindex) ?? reportSockets.get(f.dn.ifindex))!.fd;
    if (v4) sys.queue(fd, { data: ipv4Datagram(src, dst, payload, ra), ifindex, dst: ipv4ToBytes(dst) });
    else
      sys.queue(fd, {
        data: payload,
        from: sockaddrIn6(src, { scopeId: ifindex }),
        ifindex,
        dst: ipv6ToBytes(dst),
        ttl: 1,
        hopopts: IPV6_ROUTER_ALERT_HOPOPTS,
      });
    sys.fire(fd);
  };
  /** A NOCACHE upcall for (source, group) arriving on `vif`. */
  const upcall = (vif: number, group = f.group, source = f.source) => {
    const b = Buffer.alloc(v4 ? 20 : 40);
    if (v4) {
      b[8] = 1;
      b[10] = vif;
      b.set(ipv4ToBytes(source), 12);
      b.set(ipv4ToBytes(group), 16);
    } else {
      b[1] = 1;
      b.writeUInt16LE(vif, 2);
      b.set(ipv6ToBytes(source), 8);
      b.set(ipv6ToBytes(group), 24);
    }
    sys.queue(socket.fd, { data: b });
    sys.fire(socket.fd);
  };
  const mfc = (parent: number, out: number[]) =>
    v4 ? packMfcctl(f.source, f.group, parent, out) : packMf6cctl(f.source, f.group, parent, out);
  const lastMfc = () => sys.callsOf("setsockopt", f.opt("MRT_ADD_MFC", "MRT6_ADD_MFC")).at(-1)?.bytes;
  const attachAll = () => {
    for (const name of proxy.linkNames()) proxy.reconcile(name);
  };
  /** A new interface (multicast-capable unless `flags` says otherwise) with one address of the family. */
  const addInterface = (ifindex: number, name: string, flags = 0x1041) => {
    sys.interfaces.set(ifindex, name);
    const changed = [
      ...interfaces.apply({
        type: "newlink",
        link: { ifindex, name, up: true, running: true, flags, mtu: 1500 },
      }),
      ...interfaces.apply({
        type: "newaddr",
        addr: {
          ifindex,
          family: f.family,
          address: v4 ? `10.${ifindex}.0.1` : `fe80::${ifindex}:1`,
          prefixLen: v4 ? 24 : 64,
          scope: v4 ? "global" : "link",
          tentative: false,
        },
      }),
    ];
    for (const n of changed) proxy.reconcile(n);
  };
  const removeInterface = (ifindex: number, name: string) => {
    for (const n of interfaces.apply({
      type: "dellink",
      link: { ifindex, name, up: false, running: false, flags: 0, mtu: 1500 },
    }))
      proxy.reconcile(n);
  };
  return {
    sys,
    lines,
    /** The logger the proxy logs to (its level can be raised). */
    proxyLog: log,
    scheduler,
    forced,
    interfaces,
    socket,
    reportSockets,
    proxy,
    fromHost,
    upcall,
    mfc,
    lastMfc,
    attachAll,
    socketErrors,
    addInterface,
    removeInterface,
  };
}

for (const f of FAMILIES) {
  describe(`FamilyProxy (${f.family})`, () => {
    it("attaches usable links: a VIF and a report socket each, report groups joined on the downstream's, a startup query from the link's own address", () => {
      const t = setup(f);
      t.attachAll();
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_ADD_VIF", "MRT6_ADD_MIF")).length, 2);
      const up = t.reportSockets.get(f.up.ifindex)!;
      const dn = t.reportSockets.get(f.dn.ifindex)!;
      assert.deepEqual(
        t.sys.callsOf("setsockopt", "SO_BINDTOIFINDEX").map((c) => [c.fd, c.value]),
        [
          [up.fd, f.up.ifindex],
          [dn.fd, f.dn.ifindex],
        ],
      );
      const joins = t.sys.callsOf("setsockopt", f.opt("IP_ADD_MEMBERSHIP", "IPV6_ADD_MEMBERSHIP"));
      assert.deepEqual(
        joins.map((c) => c.fd),
        [dn.fd, dn.fd],
        "the report groups on the downstream's socket only",
      );
      const q = t.sys.callsOf("sendmsg")[0];
      assert.equal(q?.ctl?.ifindex, f.dn.ifindex);
      assert.deepEqual([...(q?.ctl?.src ?? [])], [...addressBytes(f.family, f.own)]);
      assert.deepEqual(
        t.lines.filter((l) => l.msg === "interface attached").map((l) => [l.interface, l.vif]),
        [
          ["up0", 0],
          ["dn1", 1],
        ],
      );
      const snap = t.proxy.snapshot();
      assert.deepEqual(
        snap.links.map((l) => [l.name, l.vif, l.ifindex]),
        [
          ["up0", 0, f.up.ifindex],
          ["dn1", 1, f.dn.ifindex],
        ],
      );
    });

    it("a report joins the group upstream, and traffic from upstream is forwarded to the downstream", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      const join = t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP");
      assert.equal(join.length, 1);
      assert.deepEqual(join[0]?.bytes, packGroupReq(f.up.ifindex, f.family, f.group));
      assert.ok(
        t.lines.some((l) => l.msg === "upstream membership" && l.group === f.group && l.mode === "exclude"),
      );
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      const snap = t.proxy.snapshot();
      assert.deepEqual(snap.upstream, [{ group: f.group, interface: "up0", filterMode: "exclude", sources: [] }]);
      assert.deepEqual(
        snap.forwarding.map((e) => [e.iif, e.oifs]),
        [["up0", ["dn1"]]],
      );
      assert.equal(snap.counters.upcalls.nocache, 1);
    });

    it("a leave stops forwarding after the Last Member Query Time (virtual time) and leaves upstream", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      t.fromHost("leave");
      t.scheduler.advance(1900);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]), "still forwarding within LMQT");
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_LEAVE_GROUP").length, 0);
      t.scheduler.advance(200);
      assert.deepEqual(t.lastMfc(), t.mfc(0, []));
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_LEAVE_GROUP").length, 1);
      assert.deepEqual(t.proxy.snapshot().upstream, []);
    });

    it("own packets, upstream packets, unconfigured interfaces and parse errors are counted, not handled", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report", { source: f.own });
      t.fromHost("report", { ifindex: f.up.ifindex, source: f.opt("10.10.0.9", "fe80::9") });
      // Queued on dn1's socket but from another interface (before the bind): discarded.
      t.fromHost("report", { ifindex: 9 });
      t.fromHost("report", { bytes: new Uint8Array([f.family === "ipv4" ? 0x16 : 131, 0]) });
      // IPv4: the mroute socket reads IGMP without Router Alert, from any interface.
      if (f.family === "ipv4") t.fromHost("report", { ifindex: 9, routerAlert: false });
      const snap = t.proxy.snapshot();
      const c = snap.counters;
      assert.equal(c.packetsReceived, f.family === "ipv4" ? 4 : 3);
      assert.equal(c.ownPackets, 1);
      assert.equal(c.upstreamPackets, 1);
      assert.deepEqual(c.upstreamPacketsByType, { query: 0, report: 1, leave: 0, other: 0 });
      assert.equal(c.unconfiguredInterface, f.family === "ipv4" ? 1 : 0);
      assert.equal(c.parseErrors.truncated, 1);
      assert.deepEqual(
        snap.receiveSockets.map((r) => [r.socket, r.filter, r.discarded]),
        [
          ["multicast-routing", "kernel", 0],
          ["up0", "kernel", 0],
          ["dn1", "kernel", 1],
        ],
      );
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").length, 0);
      assert.deepEqual(t.proxy.snapshot().upstream, []);
    });

    it("queries, reports, leaves and other bytes on the upstream link are counted by type and change nothing", () => {
      const t = setup(f);
      t.attachAll();
      const up = { ifindex: f.up.ifindex, source: f.opt("10.10.0.9", "fe80::9") };
      const before = t.proxy.snapshot();
      const logged = t.lines.length;
      // RFC 4605 §4.1: the proxy is a host upstream; whatever a query there advertises
      // (QRV 7, the largest QQIC: RFC 3376 §4.1.6/§4.1.7, RFC 3810 §5.1) is the kernel's.
      t.fromHost("query", { ...up, qrv: 7, qqiSeconds: 31744 });
      t.fromHost("query", up);
      t.fromHost("report", up);
      t.fromHost("report", { ...up, group: f.opt("239.9.9.9", "ff05::9:9") });
      t.fromHost("leave", up);
      // Unknown types: IPv4 counts them as "other"; an IPv6 report socket passes MLD types only.
      t.fromHost("report", { ...up, bytes: new Uint8Array([0x42, 0, 0, 0]) });
      t.fromHost("report", { ...up, bytes: new Uint8Array([200]) });
      const after = t.proxy.snapshot();
      const other = f.family === "ipv4" ? 2 : 0;
      assert.equal(after.counters.upstreamPackets, 5 + other);
      assert.deepEqual(after.counters.upstreamPacketsByType, { query: 2, report: 2, leave: 1, other });
      assert.equal(after.receiveSockets.find((r) => r.socket === "up0")?.discarded, 2 - other);
      assert.deepEqual(after.counters.parseErrors, {}, "upstream bytes are not parsed");
      assert.deepEqual(after.upstream, []);
      assert.deepEqual(
        after.links.map((l) => [l.name, l.querier, l.router?.groupCount ?? 0]),
        before.links.map((l) => [l.name, l.querier, l.router?.groupCount ?? 0]),
      );
      assert.deepEqual(after.counters.querierChanges, before.counters.querierChanges);
      const lines = t.lines.slice(logged);
      assert.equal(lines.length, 5 + other, "one line per packet");
      assert.ok(lines.every((l) => l.msg === "ignored on the upstream interface" && l.level === 20), "at debug");
      assert.deepEqual(
        lines.map((l) => l.kind),
        ["query", "query", "report", "report", "leave", ...Array<string>(other).fill("other")],
      );
    });

    it("an older-version upstream querier: a warning naming it and the version, status shows the fallback, and its end", () => {
      const t = setup(f);
      t.attachAll();
      const older = f.family === "ipv4" ? 2 : 1;
      const name = f.family === "ipv4" ? "IGMP" : "MLD";
      const querier = f.opt("10.10.0.9", "fe80::9");
      const up = { ifindex: f.up.ifindex, source: querier };
      const upLink = () => t.proxy.snapshot().links.find((l) => l.name === "up0")!;
      assert.equal(upLink().upstreamQuerier, null, "nothing heard yet");
      // A newest-version query: no warning; QRV 3 and QQIC 60 s set the older-version timeout.
      t.fromHost("query", { ...up, qrv: 3, qqiSeconds: 60, maxRespMs: 5000 });
      assert.deepEqual(upLink().upstreamQuerier, {
        address: querier,
        version: f.family === "ipv4" ? 3 : 2,
        compatibilityVersion: f.family === "ipv4" ? 3 : 2,
        olderVersionMs: null,
        forcedVersion: null,
      });
      assert.equal(t.lines.filter((l) => l.level === 40).length, 0);
      t.fromHost("query", { ...up, version: older as 1 | 2, maxRespMs: 10_000 });
      const warn = t.lines.filter((l) => l.level === 40);
      assert.equal(warn.length, 1, "one warning");
      assert.equal(warn[0]!.interface, "up0");
      assert.equal(warn[0]!.querier, querier);
      assert.equal(warn[0]!.version, `${name}v${older}`);
      assert.match(String(warn[0]!.msg), new RegExp(`queries with ${name}v${older}.*source-specific joins cannot be expressed upstream.*configure the upstream router`));
      // RFC 9776 §8.12 / RFC 9777 §9.12: QRV x QI + QRI = 3 x 60 s + 5 s.
      assert.equal(upLink().upstreamQuerier?.compatibilityVersion, older);
      assert.equal(upLink().upstreamQuerier?.olderVersionMs, 185_000);
      // Another older query restarts the timer without a second warning.
      t.scheduler.advance(100_000);
      t.fromHost("query", { ...up, version: older as 1 | 2 });
      assert.equal(t.lines.filter((l) => l.level === 40).length, 1, "still one warning");
      t.scheduler.advance(184_000);
      assert.equal(upLink().upstreamQuerier?.compatibilityVersion, older);
      t.scheduler.advance(2_000);
      assert.equal(upLink().upstreamQuerier?.compatibilityVersion, f.family === "ipv4" ? 3 : 2);
      assert.equal(upLink().upstreamQuerier?.olderVersionMs, null);
      const back = t.lines.filter((l) => l.level === 30 && l.interface === "up0" && typeof l.previous === "string");
      assert.equal(back.length, 1, "the return is logged once, at info");
      assert.match(String(back[0]!.msg), /again/);
    });

    it("force_igmp_version / force_mld_version on the upstream: a warning at attach naming the sysctl", () => {
      const t = setup(f);
      t.forced.set("up0", 1);
      t.attachAll();
      const key = f.family === "ipv4" ? "force_igmp_version" : "force_mld_version";
      const warn = t.lines.filter((l) => l.level === 40 && l.sysctl === `net.${f.family}.conf.up0.${key}`);
      assert.equal(warn.length, 1);
      assert.match(String(warn[0]!.msg), /=0/);
      const q = t.proxy.snapshot().links.find((l) => l.name === "up0")!.upstreamQuerier;
      assert.deepEqual([q?.compatibilityVersion, q?.forcedVersion], [1, 1]);
    });

    it("a waiting link says why: down, gone, without an address of the family; a detach by the network is a warning", () => {
      const t = setup(f);
      t.attachAll();
      const dn1 = () => t.proxy.snapshot().links.find((l) => l.name === "dn1")!;
      assert.deepEqual([dn1().waitingReason, dn1().forwarded], [null, true]);
      for (const n of t.interfaces.apply({
        type: "newlink",
        link: { ifindex: f.dn.ifindex, name: "dn1", up: false, running: false, flags: 0x1040, mtu: 1500 },
      }))
        t.proxy.reconcile(n);
      assert.deepEqual([dn1().waitingReason, dn1().forwarded], ["is down", false]);
      const detached = t.lines.find((l) => l.msg === "interface detached" && l.interface === "dn1");
      assert.deepEqual([detached?.level, detached?.why], [40, "interface down"]);
      t.removeInterface(f.dn.ifindex, "dn1");
      assert.equal(dn1().waitingReason, "does not exist");
      t.addInterface(f.dn.ifindex, "dn1");
      assert.equal(dn1().waitingReason, null);
    });

    it("at trace (-d 5) every received message is logged as decoded, and every query sent; not at debug", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      const received = t.lines.filter((l) => l.msg === "received");
      assert.equal(received.length, 1);
      assert.equal(received[0]!.level, 10, "trace");
      assert.equal(received[0]!.interface, "dn1");
      assert.equal((received[0]!.message as { type: string }).type, "report");
      assert.equal((received[0]!.message as { group: string }).group, f.group);
      const sending = t.lines.filter((l) => l.msg === "sending");
      assert.ok(sending.length >= 1, "the startup query");
      assert.equal((sending[0]!.message as { type: string }).type, "query");
      // The same at debug: none of these lines.
      const d = setup(f);
      d.proxyLog.level = "debug";
      d.attachAll();
      d.fromHost("report");
      assert.equal(d.lines.filter((l) => l.msg === "received" || l.msg === "sending").length, 0);
    });

    it("an (S,G) without traffic is removed at the second idle check", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      const del = f.opt("MRT_DEL_MFC", "MRT6_DEL_MFC");
      t.scheduler.advance(60_000); // first sample (the fake kernel's counters stay 0)
      assert.equal(t.sys.callsOf("setsockopt", del).length, 0);
      t.scheduler.advance(60_000);
      assert.equal(t.sys.callsOf("setsockopt", del).length, 1);
      assert.deepEqual(t.proxy.snapshot().forwarding, []);
    });

    it("a vanished downstream is detached: VIF removed, report socket closed (report groups left), its forwarding withdrawn", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      const dnFd = t.reportSockets.get(f.dn.ifindex)!.fd;
      t.interfaces.apply({ type: "dellink", link: { ifindex: f.dn.ifindex, name: "dn1", up: false, running: false, flags: 0, mtu: 1500 } });
      t.proxy.reconcile("dn1");
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_DEL_VIF", "MRT6_DEL_MIF")).length, 1);
      assert.ok(!t.sys.openFds().includes(dnFd), "dn1's report socket closed");
      assert.equal(t.reportSockets.get(f.dn.ifindex)!.fd, -1);
      assert.deepEqual(
        t.proxy.snapshot().receiveSockets.map((r) => r.socket),
        ["multicast-routing", "up0"],
      );
      assert.deepEqual(t.lastMfc(), t.mfc(0, []));
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_LEAVE_GROUP").length, 1);
      const line = t.lines.find((l) => l.msg === "interface detached");
      assert.equal(line?.why, "interface gone");
    });

    it("a VIF the kernel refuses is logged and counted; the link attaches at its next change", () => {
      const t = setup(f);
      t.sys.fail("setsockopt", "EADDRINUSE", { option: f.opt("MRT_ADD_VIF", "MRT6_ADD_MIF") });
      t.proxy.reconcile("up0");
      assert.equal(t.proxy.snapshot().counters.kernelErrors, 1);
      assert.equal(t.lines.find((l) => l.level === 50)?.msg, "cannot add the interface to multicast routing");
      assert.equal(t.proxy.snapshot().links[0]?.ifindex, null);
      t.proxy.reconcile("up0");
      assert.equal(t.proxy.snapshot().links[0]?.vif, 0);
    });

    it("a forwarding update the kernel refuses is logged and counted; the next upcall installs it", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.sys.fail("setsockopt", "ENOMEM", { option: f.opt("MRT_ADD_MFC", "MRT6_ADD_MFC") });
      t.upcall(0);
      assert.equal(t.proxy.snapshot().counters.kernelErrors, 1);
      assert.ok(t.lines.some((l) => l.msg === "forwarding update failed" && /ENOMEM/.test(String(l.err))));
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
    });

    it("a forwarding entry's up-time counts from its install in the kernel (scheduler time); an update keeps it, a refused install has none", () => {
      const t = setup(f);
      t.attachAll();
      t.sys.fail("setsockopt", "ENOMEM", { option: f.opt("MRT_ADD_MFC", "MRT6_ADD_MFC") });
      t.upcall(0);
      assert.deepEqual(t.proxy.snapshot().forwarding.map((e) => e.upTimeMs), [null], "the kernel refused it: not installed");
      t.scheduler.advance(1000);
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, []));
      t.scheduler.advance(2500);
      assert.deepEqual(t.proxy.snapshot().forwarding.map((e) => e.upTimeMs), [2500]);
      t.fromHost("report"); // dn1 now wants it: the entry is replaced with an outgoing link
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      t.scheduler.advance(500);
      assert.deepEqual(t.proxy.snapshot().forwarding.map((e) => e.upTimeMs), [3000], "replaced in place: same install");
    });

    it("a query the kernel cannot send is logged and counted", () => {
      const t = setup(f);
      t.sys.fail("sendmsg", "ENETDOWN");
      t.attachAll();
      assert.equal(t.proxy.snapshot().counters.kernelErrors, 1);
      assert.ok(t.lines.some((l) => l.msg === "cannot send query" && l.interface === "dn1"));
    });

    it("a querier advertising timers beyond the adoption bounds is logged once per interval", () => {
      // Our address is above the other router's, so the other one is elected (RFC 9776 §6.6.2).
      const own = f.family === "ipv4" ? "10.11.0.5" : "fe80::5";
      const other = f.family === "ipv4" ? "10.11.0.2" : "fe80::2";
      const addrs = f.dn.addrs.map(
        ([a, len, scope]) => [a === f.own ? own : a, len, scope] as [string, number, "global" | "link"],
      );
      const t = setup({ ...f, own, dn: { ...f.dn, addrs } });
      t.attachAll();
      const clampLines = () => t.lines.filter((l) => /beyond max-adopted-robustness/.test(l.msg));
      t.fromHost("query", { source: other, qrv: 7, qqiSeconds: 31744 });
      assert.equal(clampLines().length, 1);
      assert.equal(clampLines()[0]!.advertisedRobustness, 7);
      assert.equal(clampLines()[0]!.querier, other);
      t.fromHost("query", { source: other, qrv: 7, qqiSeconds: 31744 });
      assert.equal(clampLines().length, 1, "not per packet");
      t.scheduler.advance(61_000);
      t.fromHost("query", { source: other, qrv: 7, qqiSeconds: 31744 });
      assert.equal(clampLines().length, 2);
      t.scheduler.advance(61_000);
      t.fromHost("query", { source: other, qrv: 2, qqiSeconds: 125 });
      assert.equal(clampLines().length, 2, "values within the bounds are not warned");
    });

    it("close removes the VIFs, ends multicast routing and closes every socket it opened", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      t.proxy.close();
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_DEL_VIF", "MRT6_DEL_MIF")).length, 2);
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_DONE", "MRT6_DONE")).length, 1);
      assert.deepEqual(t.sys.openFds(), []);
      assert.equal(t.scheduler.nextDeadline(), null, "no timer left behind");
      assert.deepEqual(t.socketErrors, []);
    });

    it("close with 10,000 groups makes O(links + sockets) system calls: no per-group leave, no per-entry MFC delete", (tc) => {
      const t = setup(
        f,
        { maxUpstreamGroups: 20_000, upstreamChangesPerSecond: 1_000_000, maxForwardingEntries: 20_000 },
        NO_ROUTER_LIMITS,
      );
      t.attachAll();
      const groups = Array.from({ length: 10_000 }, (_, i) => group(f, i));
      for (const g of groups) t.fromHost("report", { group: g });
      for (const g of groups.slice(0, 1000)) t.upcall(0, g);
      t.scheduler.advance(100);
      const snap = t.proxy.snapshot();
      assert.equal(snap.upstreamGroups[0]?.held, 10_000);
      assert.equal(snap.forwarding.length, 1000);
      const sockets = snap.upstreamGroups[0]?.sockets;
      assert.equal(sockets, 500, "20 groups per membership socket");
      const before = t.sys.calls.length;
      t.proxy.close();
      const calls = t.sys.calls.slice(before);
      const named = (option: string) => calls.filter((c) => c.option === option).length;
      assert.equal(named("MCAST_LEAVE_GROUP"), 0);
      assert.equal(named(f.opt("MRT_DEL_MFC", "MRT6_DEL_MFC")), 0);
      assert.equal(calls.filter((c) => c.op === "close").length, sockets + 3, "membership sockets, 2 report sockets, mroute");
      tc.diagnostic(`${f.family}: close with 10,000 groups, 1,000 MFC entries: ${calls.length} system calls (${sockets} membership sockets)`);
      assert.ok(calls.length <= sockets + 12, `${calls.length} calls on close`);
      assert.equal(named(f.opt("MRT_DONE", "MRT6_DONE")), 1);
      assert.deepEqual(t.sys.openFds(), []);
      assert.equal(t.scheduler.nextDeadline(), null, "no timer left behind");
    });

    it("beyond max-forwarding-entries new flows are refused (mfc-limit, logged once); an unwanted entry gives way to a wanted one", () => {
      const t = setup(f, { maxForwardingEntries: 3 });
      t.attachAll();
      t.fromHost("report"); // f.group has a receiver on dn1
      const add = f.opt("MRT_ADD_MFC", "MRT6_ADD_MFC");
      const del = f.opt("MRT_DEL_MFC", "MRT6_DEL_MFC");
      for (let i = 1; i <= 3; i++) t.upcall(0, group(f, i)); // no receivers: unwanted entries
      assert.equal(t.sys.callsOf("setsockopt", add).length, 3);
      t.upcall(0, group(f, 4));
      assert.equal(t.sys.callsOf("setsockopt", add).length, 3, "refused");
      assert.equal(t.proxy.snapshot().counters.mfcLimit, 1);
      t.upcall(0); // wanted: the oldest unwanted entry goes
      assert.equal(t.sys.callsOf("setsockopt", del).length, 1);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      const snap = t.proxy.snapshot();
      assert.deepEqual(
        snap.forwarding.map((e) => e.group).sort(),
        [group(f, 2), group(f, 3), f.group].sort(),
      );
      t.upcall(0, group(f, 5));
      t.upcall(0, group(f, 6));
      assert.equal(t.proxy.snapshot().counters.mfcLimit, 3);
      assert.equal(
        t.lines.filter((l) => /forwarding table full/.test(l.msg)).length,
        1,
        "logged once per interval",
      );
    });

    it("an entry without receivers expires at the second idle check even with traffic; a wanted one stays", () => {
      const t = setup(f);
      let packets = 0n;
      const at = f.family === "ipv4" ? 8 : 56;
      t.sys.on("ioctl", (_c, _fd, _req, buf) => {
        packets += 10n;
        Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).writeBigUInt64LE(packets, at);
      });
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      t.upcall(0, group(f, 7));
      assert.equal(t.proxy.snapshot().forwarding.length, 2);
      t.scheduler.advance(60_000);
      assert.equal(t.proxy.snapshot().forwarding.length, 2);
      t.scheduler.advance(60_000);
      assert.deepEqual(
        t.proxy.snapshot().forwarding.map((e) => e.group),
        [f.group],
      );
      t.scheduler.advance(120_000);
      assert.deepEqual(
        t.proxy.snapshot().forwarding.map((e) => e.group),
        [f.group],
        "traffic keeps it",
      );
    });

    it("beyond max-upstream-groups a merged membership waits (upstream-limit) and is joined when room frees up", () => {
      const t = setup(f, { maxUpstreamGroups: 2 });
      t.attachAll();
      for (let i = 1; i <= 3; i++) t.fromHost("report", { group: group(f, i) });
      let snap = t.proxy.snapshot();
      assert.equal(snap.counters.upstreamLimit, 1);
      assert.deepEqual(snap.upstreamGroups, [{ interface: "up0", held: 2, queued: 0, waiting: 1, sockets: 1 }]);
      assert.equal(snap.upstream.length, 3, "the merge holds all three");
      t.fromHost("leave", { group: group(f, 1) });
      t.scheduler.advance(2100);
      snap = t.proxy.snapshot();
      assert.deepEqual(snap.upstreamGroups, [{ interface: "up0", held: 2, queued: 0, waiting: 0, sockets: 1 }]);
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").length, 3);
    });
  });
}

for (const f of FAMILIES) {
  /** Another upstream source beside f.source. */
  const other = f.family === "ipv4" ? "10.10.0.6" : "fd00:10::6";
  const hostPrefix = (a: string) => (f.family === "ipv4" ? `${a}/32` : `${a}/128`);
  /** An IGMPv3 / MLDv2 report from the host with one IS_IN record. */
  const isIn = (sources: string[]) =>
    serialize(
      f.family,
      {
        type: "v3report",
        family: f.family,
        records: [{ recordType: 1, group: f.group, sources, auxData: new Uint8Array() }],
      },
      { source: f.host, destination: f.group },
    );

  describe(`FamilyProxy source policy (${f.family})`, () => {
    it("INCLUDE {allowed, denied} joins upstream INCLUDE {allowed}; the denied source gets no output interface", () => {
      const t = setup(f, {}, { denySources: [{ group: f.group, source: hostPrefix(f.source) }] });
      t.attachAll();
      t.fromHost("report", { bytes: isIn([other, f.source]) });
      const joins = t.sys.callsOf("setsockopt", "MCAST_JOIN_SOURCE_GROUP");
      assert.equal(joins.length, 1);
      assert.deepEqual(joins[0]?.bytes, packGroupSourceReq(f.up.ifindex, f.family, f.group, other));
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_MSFILTER").length, 0, "no second source");
      const snap = t.proxy.snapshot();
      assert.deepEqual(snap.upstream, [{ group: f.group, interface: "up0", filterMode: "include", sources: [other] }]);
      assert.equal(snap.links.find((l) => l.name === "dn1")?.routerCounters?.drops["source-denied"], 1);
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, []), "the denied source's traffic is not forwarded");
    });

    it("EXCLUDE mode: an exact-host rule goes into the upstream EXCLUDE list, a prefix rule holds at the forwarding entry", () => {
      const exact = setup(f, {}, { denySources: [{ group: f.group, source: hostPrefix(f.source) }] });
      exact.attachAll();
      exact.fromHost("report");
      assert.deepEqual(exact.proxy.snapshot().upstream, [{ group: f.group, interface: "up0", filterMode: "exclude", sources: [f.source] }]);
      assert.equal(exact.sys.callsOf("setsockopt", "MCAST_MSFILTER").length, 1);
      exact.upcall(0);
      assert.deepEqual(exact.lastMfc(), exact.mfc(0, []));

      const prefix = f.family === "ipv4" ? "10.10.0.4/30" : "fd00:10::4/126"; // f.source and other
      const wide = setup(f, {}, { denySources: [{ group: f.group, source: prefix }] });
      wide.attachAll();
      wide.fromHost("report");
      assert.deepEqual(wide.proxy.snapshot().upstream, [{ group: f.group, interface: "up0", filterMode: "exclude", sources: [] }]);
      wide.upcall(0);
      assert.deepEqual(wide.lastMfc(), wide.mfc(0, []), "refused where the entry is installed");
    });

    it("a reload that denies a joined group, or a source, withdraws it at once: upstream leave, no output interface", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      const base = parseImproxyConfig(f.config, "test.conf");
      t.proxy.applyConfig(withProtocolSettings(base, { denySources: [{ group: f.group, source: hostPrefix(f.source) }] }));
      assert.deepEqual(t.lastMfc(), t.mfc(0, []), "the denied source stops at once");
      assert.deepEqual(t.proxy.snapshot().upstream, [{ group: f.group, interface: "up0", filterMode: "exclude", sources: [f.source] }]);
      t.proxy.applyConfig(withProtocolSettings(base, { denyGroups: [f.group] }));
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_LEAVE_GROUP").length, 1, "left upstream without waiting for timers");
      assert.deepEqual(t.proxy.snapshot().upstream, []);
      assert.deepEqual(t.proxy.snapshot().links.find((l) => l.name === "dn1")?.router?.groups, []);
    });
  });
}

for (const f of FAMILIES) {
  const statics = (...groups: string[]) => ({ staticGroups: groups.map((g) => ({ group: g, source: null })) });
  const joins = (t: ReturnType<typeof setup>) => t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").length;
  const leaves = (t: ReturnType<typeof setup>) => t.sys.callsOf("setsockopt", "MCAST_LEAVE_GROUP").length;
  const dn1 = (t: ReturnType<typeof setup>) => t.proxy.snapshot().links.find((l) => l.name === "dn1")!;

  describe(`FamilyProxy static groups (${f.family})`, () => {
    it("a static group is joined upstream at start and forwarded onto its link with no host asking", () => {
      const t = setup(f, {}, statics(f.group));
      t.attachAll();
      assert.equal(joins(t), 1, "joined with no report");
      assert.deepEqual(t.proxy.snapshot().upstream, [{ group: f.group, interface: "up0", filterMode: "exclude", sources: [] }]);
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      assert.deepEqual(dn1(t).staticGroups, [{ group: f.group, filterMode: "exclude", sources: [], upTimeMs: 0 }]);
      assert.deepEqual(dn1(t).router?.groups, [], "no router state: not a fake report");
      assert.ok(t.lines.some((l) => l.msg === "static groups" && l.interface === "dn1"));
      // A host joins and leaves: the static group stays.
      t.fromHost("report");
      t.fromHost("leave");
      t.scheduler.advance(3000);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      assert.equal(leaves(t), 0);
    });

    it("survives link flaps (re-applied when the link re-attaches) and a re-created upstream", () => {
      const t = setup(f, {}, statics(f.group));
      t.attachAll();
      t.upcall(0);
      const dn = { ifindex: f.dn.ifindex, name: "dn1", flags: 0x41, mtu: 1500 };
      t.interfaces.apply({ type: "newlink", link: { ...dn, up: false, running: false } });
      t.proxy.reconcile("dn1");
      assert.equal(leaves(t), 1, "the link is down: its static groups leave with it");
      assert.deepEqual(dn1(t).staticGroups, []);
      t.interfaces.apply({ type: "newlink", link: { ...dn, up: true, running: true } });
      t.proxy.reconcile("dn1");
      assert.equal(joins(t), 2, "re-applied when the link re-attaches");
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]), "forwarded again");
      const up = { ifindex: f.up.ifindex, name: "up0", flags: 0x41, mtu: 1500 };
      t.interfaces.apply({ type: "newlink", link: { ...up, up: false, running: false } });
      t.proxy.reconcile("up0");
      t.interfaces.apply({ type: "newlink", link: { ...up, up: true, running: true } });
      t.proxy.reconcile("up0");
      assert.equal(joins(t), 3, "joined again on the re-created upstream");
    });

    it("a reload adds and removes static groups as the file says", () => {
      const t = setup(f, {}, statics(f.group));
      t.attachAll();
      const base = parseImproxyConfig(f.config, "test.conf");
      const g2 = group(f, 2);
      t.proxy.applyConfig(withProtocolSettings(base, statics(f.group, g2)));
      assert.equal(joins(t), 2);
      assert.deepEqual(
        dn1(t).staticGroups.map((g) => g.group),
        [f.group, g2].sort(),
      );
      t.proxy.applyConfig(withProtocolSettings(base, statics(g2)));
      assert.equal(leaves(t), 1);
      assert.deepEqual(t.proxy.snapshot().upstream.map((u) => u.group), [g2]);
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, []), "no longer forwarded onto dn1");
    });

    it("static groups count against max-upstream-groups like any other membership", () => {
      const t = setup(f, { maxUpstreamGroups: 1 }, statics(f.group));
      t.attachAll();
      t.fromHost("report", { group: group(f, 5) });
      const snap = t.proxy.snapshot();
      assert.equal(snap.counters.upstreamLimit, 1);
      assert.deepEqual(snap.upstreamGroups, [{ interface: "up0", held: 1, queued: 0, waiting: 1, sockets: 1 }]);
    });

    it("an (S,G) static group joins upstream INCLUDE {S}; the link's source policy applies to an any-source one", () => {
      const t = setup(f, {}, {
        staticGroups: [
          { group: f.group, source: null },
          { group: group(f, 3), source: f.source },
        ],
        denySources: [{ group: f.group, source: f.family === "ipv4" ? `${f.source}/32` : `${f.source}/128` }],
      });
      t.attachAll();
      const up = t.proxy.snapshot().upstream.sort((a, b) => a.group.localeCompare(b.group));
      assert.deepEqual(up, [
        { group: f.group, interface: "up0", filterMode: "exclude", sources: [f.source] },
        { group: group(f, 3), interface: "up0", filterMode: "include", sources: [f.source] },
      ].sort((a, b) => a.group.localeCompare(b.group)));
    });
  });
}

/** The i-th test group of the family. */
function group(f: Fam, i: number): string {
  return f.family === "ipv4" ? `239.3.${i >> 8}.${i & 255}` : `ff05::3:${i.toString(16)}`;
}

/** `config` with the upstream's interface settings replaced. */
const withUpstream =
  (over: Partial<InterfaceConfig>) =>
  (c: ImproxyConfig): ImproxyConfig => ({
    ...c,
    upstreams: c.upstreams.map((u) => ({ ...u, ...over })),
  });

for (const f of FAMILIES) {
  describe(`FamilyProxy (${f.family}): igmpproxy's threshold, altnet and defaultdown`, () => {
    it("ttl-threshold goes into the VIF / MIF and, for IPv4, into each outgoing VIF's TTL of the MFC entries", () => {
      const t = setup(f, (c) => ({
        ...c,
        downstreams: c.downstreams.map((d) => ({ ...d, ttlThreshold: 8 })),
      }));
      t.attachAll();
      const adds = t.sys.callsOf("setsockopt", f.opt("MRT_ADD_VIF", "MRT6_ADD_MIF"));
      assert.deepEqual(
        adds.map((a) => a.bytes?.[3]),
        [1, 8],
      );
      t.fromHost("report");
      t.upcall(0);
      if (f.family === "ipv4") assert.deepEqual(t.lastMfc(), packMfcctl(f.source, f.group, 0, [1], 8));
      else assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
    });

    it("sources (altnet): upstream data from other sources is not forwarded and is counted; listed ones are", () => {
      const inside = f.family === "ipv4" ? "10.10.0.0/24" : "fd00:10::/64";
      const t = setup(
        f,
        withUpstream({ sources: [inside, f.family === "ipv4" ? "fd00::/8" : "10.0.0.0/8"] }),
      );
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]), "a source inside the prefixes is forwarded");
      const outside = f.family === "ipv4" ? "198.18.0.9" : "fd00:99::9";
      t.upcall(0, f.group, outside);
      const out = t.proxy.snapshot().forwarding.find((e) => e.source === outside);
      assert.deepEqual(out?.oifs, [], "installed with no outgoing link");
      assert.equal(t.proxy.snapshot().counters.upstreamSourceRefused, 1);
      t.upcall(0);
      assert.equal(t.proxy.snapshot().counters.upstreamSourceRefused, 1, "accepted sources are not counted");
    });

    it("sources listing only the other family accept every source of this one", () => {
      const t = setup(f, withUpstream({ sources: [f.family === "ipv4" ? "fd00::/8" : "10.0.0.0/8"] }));
      t.attachAll();
      t.fromHost("report");
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      assert.equal(t.proxy.snapshot().counters.upstreamSourceRefused, 0);
    });

    it("default-downstream: interfaces that appear later become downstreams; loopback, disabled, non-multicast do not; gone ones go", () => {
      const t = setup(f, (c) => ({
        ...c,
        defaultDownstream: { ...c.downstreams[0]!, name: "*" },
        disabled: ["eth9"],
      }));
      t.proxy.reconcileAll();
      t.addInterface(10, "eth5");
      t.addInterface(11, "eth9");
      t.addInterface(12, "lo", 0x49);
      t.addInterface(13, "tun0", 0x41);
      const names = () => t.proxy.snapshot().links.map((l) => [l.name, l.role, l.vif]);
      assert.deepEqual(names(), [
        ["up0", "upstream", 0],
        ["dn1", "downstream", 1],
        ["eth5", "downstream", 2],
      ]);
      assert.ok(t.lines.some((l) => l.msg === "default downstream added" && l.interface === "eth5"));
      t.fromHost("report", { ifindex: 10, source: f.family === "ipv4" ? "10.10.0.7" : "fe80::7" });
      t.removeInterface(10, "eth5");
      assert.deepEqual(names(), [
        ["up0", "upstream", 0],
        ["dn1", "downstream", 1],
      ]);
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_DEL_VIF", "MRT6_DEL_MIF")).length, 1);
    });

    it("a reload that changes a ttl-threshold re-adds that VIF (its threshold is fixed in the kernel); others stay", () => {
      const base = parseImproxyConfig(f.config, "test.conf");
      const t = setup(f, () => base);
      t.attachAll();
      t.proxy.applyConfig({ ...base, downstreams: base.downstreams.map((d) => ({ ...d, ttlThreshold: 4 })) });
      assert.equal(t.sys.callsOf("setsockopt", f.opt("MRT_DEL_VIF", "MRT6_DEL_MIF")).length, 1);
      const adds = t.sys.callsOf("setsockopt", f.opt("MRT_ADD_VIF", "MRT6_ADD_MIF"));
      assert.deepEqual(
        adds.map((a) => a.bytes?.[3]),
        [1, 1, 4],
      );
      assert.ok(t.lines.some((l) => l.msg === "interface detached" && l.why === "ttl-threshold changed by reload"));
    });

    it("a reload that drops default-downstream removes the default downstreams", () => {
      const base = parseImproxyConfig(f.config, "test.conf");
      const withDefault = { ...base, defaultDownstream: { ...base.downstreams[0]!, name: "*" } };
      const t = setup(f, () => withDefault);
      t.proxy.reconcileAll();
      t.addInterface(10, "eth5");
      assert.equal(t.proxy.linkNames().length, 3);
      t.proxy.applyConfig(base);
      assert.deepEqual(t.proxy.linkNames(), ["up0", "dn1"]);
      t.proxy.applyConfig(withDefault);
      assert.deepEqual(t.proxy.linkNames(), ["up0", "dn1", "eth5"]);
    });

    it("beyond the kernel's 32 VIFs a default downstream is logged and counted (vif-limit), not fatal; it attaches once a VIF is free", () => {
      const t = setup(f, (c) => ({ ...c, defaultDownstream: { ...c.downstreams[0]!, name: "*" } }));
      t.proxy.reconcileAll();
      for (let i = 0; i < 30; i++) t.addInterface(20 + i, `eth${i}`);
      assert.equal(t.proxy.snapshot().links.filter((l) => l.vif !== null).length, 32);
      t.addInterface(60, "eth30");
      t.addInterface(61, "eth31");
      const snap = t.proxy.snapshot();
      assert.equal(snap.counters.vifLimit, 2);
      assert.equal(snap.counters.kernelErrors, 0);
      assert.equal(
        t.lines.filter((l) => l.msg === "no VIF left for the interface; not attached").length,
        1,
        "throttled",
      );
      assert.equal(t.lines.filter((l) => l.level >= 50).length, 0, "no error line");
      t.removeInterface(20, "eth0");
      t.scheduler.advance(0);
      const attached = t.proxy
        .snapshot()
        .links.filter((l) => l.vif !== null)
        .map((l) => l.name);
      assert.equal(attached.length, 32);
      assert.ok(attached.includes("eth30"));
    });
  });
}

/**
 * Several upstreams (docs/protocol.md "Proxy merge"): up0 serves the IPTV-like ranges
 * (239.0.0.0/8, ff05::/16: the test groups), wan0 (ifindex 5, VIF 2, added by the test)
 * every other group.
 */
const IPTV_RANGES = ["239.0.0.0/8", "ff05::/16"];
/** A group wan0 serves, and a second source. */
const web = (f: Fam) => f.opt("233.1.1.1", "ff0e::1:1");
const otherSource = (f: Fam) => f.opt("10.10.0.6", "fd00:10::6");

const twoUpstreams = (c: ImproxyConfig): ImproxyConfig => ({
  ...c,
  upstreams: [
    { ...c.upstreams[0]!, groups: IPTV_RANGES },
    { ...c.upstreams[0]!, name: "wan0", groups: [], line: 9 },
  ],
});

for (const f of FAMILIES) {
  describe(`FamilyProxy: several upstreams (${f.family})`, () => {
    /** Two upstreams attached (up0 VIF 0, wan0 VIF 2) and dn1 (VIF 1). */
    function twoUpstreamSetup(over: (c: ImproxyConfig) => ImproxyConfig = (c) => c) {
      const t = setup(f, (c) => over(twoUpstreams(c)));
      t.attachAll();
      t.addInterface(5, "wan0");
      return t;
    }
    const joinsOf = (t: ReturnType<typeof setup>, option = "MCAST_JOIN_GROUP") =>
      t.sys.callsOf("setsockopt", option).map((c) => c.bytes);
    const mfcOf = (source: string, group: string, parent: number, out: number[]) =>
      f.family === "ipv4" ? packMfcctl(source, group, parent, out) : packMf6cctl(source, group, parent, out);

    it("each group is joined on the upstream that serves it; the MFC forwards it from there only (wrong-upstream counted)", () => {
      const t = twoUpstreamSetup();
      assert.deepEqual(
        t.proxy.snapshot().links.map((l) => [l.name, l.role, l.vif]),
        [
          ["up0", "upstream", 0],
          ["wan0", "upstream", 2],
          ["dn1", "downstream", 1],
        ],
      );
      t.fromHost("report");
      t.fromHost("report", { group: web(f) });
      assert.deepEqual(joinsOf(t), [
        packGroupReq(f.up.ifindex, f.family, f.group),
        packGroupReq(5, f.family, web(f)),
      ]);
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]), "the group's upstream is the incoming link");
      t.upcall(2, web(f));
      assert.deepEqual(t.lastMfc(), mfcOf(f.source, web(f), 2, [1]));
      t.upcall(2, f.group, otherSource(f));
      assert.deepEqual(t.lastMfc(), mfcOf(otherSource(f), f.group, 2, []), "data from the other upstream goes nowhere");
      const snap = t.proxy.snapshot();
      assert.equal(snap.counters.wrongUpstream, 1);
      assert.equal(snap.counters.upstreamSourceRefused, 0);
      assert.deepEqual(
        snap.upstream.map((u) => [u.group, u.interface]),
        [
          [f.group, "up0"],
          [web(f), "wan0"],
        ],
      );
      assert.deepEqual(
        snap.forwarding.map((e) => [e.group, e.iif, e.upstream, e.oifs]),
        [
          [f.group, "up0", "up0", ["dn1"]],
          [web(f), "wan0", "wan0", ["dn1"]],
          [f.group, "wan0", "up0", []],
        ],
      );
      assert.deepEqual(
        snap.upstreamGroups.map((u) => [u.interface, u.held]),
        [
          ["up0", 1],
          ["wan0", 1],
        ],
      );
      assert.ok(t.lines.some((l) => l.msg === "upstream membership" && l.interface === "wan0" && l.group === web(f)));
    });

    it("packets on either upstream are ignored and counted as upstream packets", () => {
      const t = twoUpstreamSetup();
      t.fromHost("report", { ifindex: 5, source: f.opt("10.5.0.9", "fe80::5:9") });
      t.fromHost("query", { ifindex: f.up.ifindex, source: f.opt("10.10.0.9", "fe80::9") });
      const c = t.proxy.snapshot().counters;
      assert.equal(c.upstreamPackets, 2);
      assert.deepEqual(c.upstreamPacketsByType, { query: 1, report: 1, leave: 0, other: 0 });
      assert.deepEqual(joinsOf(t), []);
    });

    it("an upstream that vanishes and is re-created re-joins only its groups; the other's memberships and entries stay", () => {
      const t = twoUpstreamSetup();
      t.fromHost("report");
      t.fromHost("report", { group: web(f) });
      t.upcall(0);
      t.upcall(2, web(f));
      const iptvFd = t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP")[0]!.fd;
      const before = t.sys.calls.length;
      t.removeInterface(5, "wan0");
      t.addInterface(6, "wan0"); // re-created: a new ifindex
      const calls = t.sys.calls.slice(before);
      assert.ok(!calls.some((c) => c.op === "close" && c.fd === iptvFd), "up0's membership socket stays open");
      assert.ok(!calls.some((c) => c.fd === iptvFd), "no call on up0's membership socket");
      const membership = calls.filter((c) => c.option?.startsWith("MCAST_"));
      assert.deepEqual(
        membership.map((c) => [c.option, c.bytes]),
        [["MCAST_JOIN_GROUP", packGroupReq(6, f.family, web(f))]],
        "wan0's group joined on the new wan0; its old sockets were closed, not left group by group",
      );
      const del = calls.filter((c) => c.option === f.opt("MRT_DEL_MFC", "MRT6_DEL_MFC"));
      assert.equal(del.length, 1, "only wan0's entry is removed");
      const adds = calls.filter((c) => c.option === f.opt("MRT_ADD_MFC", "MRT6_ADD_MFC"));
      assert.ok(!adds.some((c) => c.bytes?.equals(t.mfc(0, []))), "up0's entry never loses its outgoing link");
      const snap = t.proxy.snapshot();
      assert.deepEqual(
        snap.forwarding.map((e) => [e.group, e.iif, e.oifs]),
        [[f.group, "up0", ["dn1"]]],
      );
      assert.deepEqual(
        snap.upstreamGroups.map((u) => [u.interface, u.held]),
        [
          ["up0", 1],
          ["wan0", 1],
        ],
      );
      t.upcall(2, web(f));
      assert.deepEqual(t.lastMfc(), mfcOf(f.source, web(f), 2, [1]), "wan0's stream is learnt again");
    });

    it("a group no upstream serves is not joined upstream: counted once while wanted, logged once per interval", () => {
      const t = setup(f, (c) => ({ ...c, upstreams: [{ ...c.upstreams[0]!, groups: IPTV_RANGES }] }));
      t.attachAll();
      t.fromHost("report", { group: web(f) });
      t.fromHost("report", { group: web(f) });
      t.fromHost("report", { group: f.opt("233.1.1.2", "ff0e::1:2") });
      const snap = t.proxy.snapshot();
      assert.deepEqual(joinsOf(t), []);
      assert.equal(snap.counters.noUpstream, 2, "one per group, not per report");
      assert.deepEqual(
        snap.upstream.map((u) => [u.group, u.interface]),
        [
          [web(f), null],
          [f.opt("233.1.1.2", "ff0e::1:2"), null],
        ],
      );
      const warned = t.lines.filter((l) => /^no upstream serves the group/.test(l.msg));
      assert.deepEqual(
        warned.map((l) => l.group),
        [web(f)],
      );
      t.fromHost("report");
      assert.deepEqual(joinsOf(t), [packGroupReq(f.up.ifindex, f.family, f.group)], "served groups are joined");
    });

    it("a reload that moves a range to another upstream leaves the group there and joins it on the new one; the rest stays", () => {
      const t = twoUpstreamSetup();
      t.fromHost("report");
      t.fromHost("report", { group: web(f) });
      const config = t.proxy.snapshot();
      assert.equal(config.upstream.length, 2);
      const before = t.sys.calls.length;
      const next = twoUpstreams(parseImproxyConfig(f.config, "test.conf"));
      next.upstreams[0] = { ...next.upstreams[0]!, groups: [...IPTV_RANGES, f.opt("233.0.0.0/8", "ff0e::/16")] };
      t.proxy.applyConfig(next);
      const membership = t.sys.calls.slice(before).filter((c) => c.option?.startsWith("MCAST_"));
      assert.deepEqual(
        membership.map((c) => [c.option, c.bytes]),
        [
          ["MCAST_LEAVE_GROUP", packGroupReq(5, f.family, web(f))],
          ["MCAST_JOIN_GROUP", packGroupReq(f.up.ifindex, f.family, web(f))],
        ],
      );
      assert.deepEqual(
        t.proxy.snapshot().upstream.map((u) => [u.group, u.interface]),
        [
          [f.group, "up0"],
          [web(f), "up0"],
        ],
      );
    });

    it("a reload that adds an upstream joins its groups once its link attaches; removing it hands them back", () => {
      const t = setup(f);
      t.attachAll();
      t.fromHost("report");
      t.fromHost("report", { group: web(f) });
      t.addInterface(5, "wan0");
      const before = t.sys.calls.length;
      // wan0 takes every group but the IPTV ranges, which stay on up0.
      const two = (c: ImproxyConfig): ImproxyConfig => ({
        ...c,
        upstreams: [
          { ...c.upstreams[0]!, groups: IPTV_RANGES },
          { ...c.upstreams[0]!, name: "wan0", line: 9 },
        ],
      });
      t.proxy.applyConfig(two(parseImproxyConfig(f.config, "test.conf")));
      const membership = () => t.sys.calls.slice(before).filter((c) => c.option?.startsWith("MCAST_"));
      assert.deepEqual(
        membership().map((c) => [c.option, c.bytes]),
        [
          ["MCAST_LEAVE_GROUP", packGroupReq(f.up.ifindex, f.family, web(f))],
          ["MCAST_JOIN_GROUP", packGroupReq(5, f.family, web(f))],
        ],
      );
      t.proxy.applyConfig(parseImproxyConfig(f.config, "test.conf"));
      assert.deepEqual(membership().at(-1)?.bytes, packGroupReq(f.up.ifindex, f.family, web(f)));
      assert.equal(membership().at(-1)?.option, "MCAST_JOIN_GROUP");
      assert.deepEqual(
        t.proxy.snapshot().links.map((l) => l.name),
        ["up0", "dn1"],
        "wan0 is no link any more",
      );
    });

    it("max-upstream-groups holds per upstream", () => {
      const t = twoUpstreamSetup((c) => ({ ...c, maxUpstreamGroups: 1 }));
      t.fromHost("report");
      t.fromHost("report", { group: web(f) });
      t.fromHost("report", { group: group(f, 7) });
      const snap = t.proxy.snapshot();
      assert.deepEqual(
        snap.upstreamGroups.map((u) => [u.interface, u.held, u.waiting]),
        [
          ["up0", 1, 1],
          ["wan0", 1, 0],
        ],
      );
      assert.equal(snap.counters.upstreamLimit, 1);
    });
  });
}
