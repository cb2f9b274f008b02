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
import { packGroupReq } from "../../src/kernel/structs/membership.js";
import { IPV6_ROUTER_ALERT_HOPOPTS, packMf6cctl, packMfcctl } from "../../src/kernel/structs/mroute.js";
import { addressBytes, sockaddrIn6 } from "../../src/kernel/structs/sockaddr.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import { generalQuery, leave, report, serialize } from "../../src/wire/index.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls } from "./fake-syscalls.js";
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

/** An IPv4 datagram (TTL 1, Router Alert unless told) around an IGMP message, as a raw socket reads it. */
function ipv4Datagram(source: string, destination: string, payload: Uint8Array, routerAlert = true): Buffer {
  const header = routerAlert ? 24 : 20;
  const b = Buffer.alloc(header + payload.length);
  b[0] = 0x40 | (header / 4);
  b.writeUInt16BE(b.length, 2);
  b[8] = 1;
  b[9] = 2;
  b.set(ipv4ToBytes(source), 12);
  b.set(ipv4ToBytes(destination), 16);
  if (routerAlert) b.set([0x94, 4, 0, 0], 20);
  b.set(payload, header);
  return b;
}

/** `config` with `protocol` laid over the IGMP/MLD settings of every interface. */
function withProtocolSettings(config: ImproxyConfig, protocol: Partial<ProtocolSettings>): ImproxyConfig {
  const lay = (i: InterfaceConfig): InterfaceConfig => ({
    ...i,
    igmp: i.igmp && { ...i.igmp, ...protocol },
    mld: i.mld && { ...i.mld, ...protocol },
  });
  return { ...config, upstream: lay(config.upstream), downstreams: config.downstreams.map(lay) };
}

/** Router limits high enough for the 10,000-group tests (they measure other things). */
const NO_ROUTER_LIMITS: Partial<ProtocolSettings> = {
  maxGroups: 16_384,
  maxGroupsPerHost: 16_384,
  maxGroupSources: 65_536,
  reportRateLimit: 1_000_000,
  hostReportRateLimit: 1_000_000,
};

function setup(f: Fam, over: Partial<ImproxyConfig> = {}, protocol: Partial<ProtocolSettings> = {}) {
  const sys = new FakeSyscalls();
  sys.interfaces.set(f.up.ifindex, "up0");
  sys.interfaces.set(f.dn.ifindex, "dn1");
  const { log, lines } = captureLogger();
  const scheduler = new VirtualScheduler();
  const interfaces = new InterfaceTable();
  const link = (ifindex: number, name: string) => ({ ifindex, name, up: true, running: true, flags: 0x41, mtu: 1500 });
  const addrs = (ifindex: number, list: Fam["up"]["addrs"]) =>
    list.map(([address, prefixLen, scope]) => ({ ifindex, family: f.family, address, prefixLen, scope, tentative: false }));
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
  const proxy = new FamilyProxy({
    family: f.family,
    config: withProtocolSettings({ ...parseImproxyConfig(f.config, "test.conf"), ...over }, protocol),
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
    } = {},
  ) => {
    const group = over.group ?? f.group;
    const m =
      msg === "report"
        ? report(f.family, v4 ? 2 : 1, group)
        : msg === "leave"
          ? leave(f.family, group)
          : generalQuery(f.family, v4 ? 3 : 2, { qrv: over.qrv ?? 2, qqiSeconds: over.qqiSeconds ?? 125 });
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
  const upcall = (vif: number, group = f.group) => {
    const b = Buffer.alloc(v4 ? 20 : 40);
    if (v4) {
      b[8] = 1;
      b[10] = vif;
      b.set(ipv4ToBytes(f.source), 12);
      b.set(ipv4ToBytes(group), 16);
    } else {
      b[1] = 1;
      b.writeUInt16LE(vif, 2);
      b.set(ipv6ToBytes(f.source), 8);
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
  return {
    sys,
    lines,
    scheduler,
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
      assert.ok(t.lines.some((l) => l.msg === "upstream membership" && l.group === f.group && l.mode === "exclude"));
      t.upcall(0);
      assert.deepEqual(t.lastMfc(), t.mfc(0, [1]));
      const snap = t.proxy.snapshot();
      assert.deepEqual(snap.upstream, [{ group: f.group, filterMode: "exclude", sources: [] }]);
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
      t.sys.fail("setsockopt", "ENFILE", { option: f.opt("MRT_ADD_VIF", "MRT6_ADD_MIF") });
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
      assert.equal(snap.upstreamGroups.held, 10_000);
      assert.equal(snap.forwarding.length, 1000);
      const sockets = snap.upstreamGroups.sockets;
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
      assert.equal(t.lines.filter((l) => /forwarding table full/.test(l.msg)).length, 1, "logged once per interval");
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
      assert.deepEqual(t.proxy.snapshot().forwarding.map((e) => e.group), [f.group], "traffic keeps it");
    });

    it("beyond max-upstream-groups a merged membership waits (upstream-limit) and is joined when room frees up", () => {
      const t = setup(f, { maxUpstreamGroups: 2 });
      t.attachAll();
      for (let i = 1; i <= 3; i++) t.fromHost("report", { group: group(f, i) });
      let snap = t.proxy.snapshot();
      assert.equal(snap.counters.upstreamLimit, 1);
      assert.deepEqual(snap.upstreamGroups, { held: 2, queued: 0, waiting: 1, sockets: 1 });
      assert.equal(snap.upstream.length, 3, "the merge holds all three");
      t.fromHost("leave", { group: group(f, 1) });
      t.scheduler.advance(2100);
      snap = t.proxy.snapshot();
      assert.deepEqual(snap.upstreamGroups, { held: 2, queued: 0, waiting: 0, sockets: 1 });
      assert.equal(t.sys.callsOf("setsockopt", "MCAST_JOIN_GROUP").length, 3);
    });
  });
}

/** The i-th test group of the family. */
function group(f: Fam, i: number): string {
  return f.family === "ipv4" ? `239.3.${i >> 8}.${i & 255}` : `ff05::3:${i.toString(16)}`;
}
