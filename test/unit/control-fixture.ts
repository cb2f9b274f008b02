/**
 * A daemon stand-in for the control tests: real router engines (router-harness Fixture on
 * virtual time) fed with reports, wrapped in the FamilyProxy.snapshot() shape, plus
 * kernel counters the test sets.
 */
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../../src/config/types.js";
import type { SgCounters, VifCounters } from "../../src/kernel/index.js";
import type { FamilySnapshot, StatusSource } from "../../src/control/status.js";
import type { SnapshotOptions, StaticGroupSnapshot } from "../../src/daemon/snapshot.js";
import type { ForwardingEntry } from "../../src/proxy/forwarding.js";
import { RecordType } from "../../src/wire/types.js";
import { Fixture, V4, V6 } from "./router-harness.js";

const settings = (version: number, fastLeave: boolean): ProtocolSettings => ({
  version,
  robustnessVariable: 2,
  queryInterval: 125,
  queryMaxResponseTime: 10,
  lastMemberQueryInterval: 1,
  startupQueryInterval: 31.25,
  startupQueryCount: 2,
  fastLeave,
  maxGroups: 4096,
  maxSourcesPerGroup: 256,
  maxGroupSources: 16384,
  maxGroupsPerHost: 512,
  reportRateLimit: 4000,
  hostReportRateLimit: 512,
  maxAdoptedRobustness: 3,
  maxAdoptedQueryInterval: 300,
  ssmRanges: [],
  ignoreGroups: [],
  allowGroups: [],
  denyGroups: [],
  allowSources: [],
  denySources: [],
  staticGroups: [],
});

const iface = (name: string, role: InterfaceConfig["role"], fastLeave: boolean): InterfaceConfig => ({
  name,
  role,
  igmp: settings(3, fastLeave),
  mld: settings(2, fastLeave),
  downToUp: false,
  forwardWhenNotQuerier: false,
  ttlThreshold: 1,
  groups: [],
  sources: [],
  line: 1,
});

export function sampleConfig(): ImproxyConfig {
  return {
    file: "/etc/improxy/improxy.yaml",
    format: "yaml",
    mrouteTable: null,
    upstreams: [iface("up0", "upstream", false)],
    // dn1 = the harness routers' link; fast-leave on: hosts are tracked.
    downstreams: [iface("dn1", "downstream", true)],
    defaultDownstream: null,
    disabled: [],
    user: null,
    igmpEnabled: true,
    mldEnabled: true,
    controlSocket: "/run/improxy/improxy.sock",
    metricsListen: null,
    http: null,
    forwardingIdleCheck: 60,
    maxUpstreamGroups: 4096,
    upstreamChangesPerSecond: 5000,
    maxForwardingEntries: 4096,
  };
}

export class FakeFamily {
  readonly fixture: Fixture;
  packets = 1000n;
  vifOut = 500n;
  /** dn1's static groups (none unless a test sets them). */
  statics: StaticGroupSnapshot[] = [];
  /** (S,G) entries whose kernel counters a snapshot read (SnapshotOptions.sgCounters). */
  sgReads = 0;
  /** The upstream that serves a group (null: none); up0 unless a test says otherwise. */
  upstreamOf: (group: string) => string | null = () => "up0";

  constructor(readonly family: "ipv4" | "ipv6") {
    const a = family === "ipv4" ? V4 : V6;
    this.fixture = new Fixture(a, { fastLeave: true });
    // Host 1: EXCLUDE {} for group; host 2: INCLUDE {s1, s2} for group2.
    this.fixture.record(RecordType.CHANGE_TO_EXCLUDE_MODE, a.group, []);
    this.fixture.record(RecordType.ALLOW_NEW_SOURCES, a.group2, [a.s[1]!, a.s[2]!], a.host2);
    this.fixture.advance(1500);
  }

  get addrs() {
    return this.family === "ipv4" ? V4 : V6;
  }

  forwardingCounters(): FamilySnapshot["forwarding"] {
    return this.snapshot({ sgCounters: true }).forwarding;
  }

  snapshot(opts: SnapshotOptions = {}): FamilySnapshot {
    const a = this.addrs;
    const router = this.fixture.router;
    const vif = (n: bigint): VifCounters => ({
      packetsIn: n,
      packetsOut: 0n,
      bytesIn: n * 100n,
      bytesOut: 0n,
    });
    const sg: SgCounters = { packets: this.packets, bytes: this.packets * 1316n, wrongIf: 3n };
    const counters = (e: ForwardingEntry): SgCounters | null => {
      const wanted = typeof opts.sgCounters === "function" ? opts.sgCounters(e) : opts.sgCounters === true;
      if (wanted) this.sgReads++;
      return wanted ? sg : null;
    };
    const route: ForwardingEntry = { source: a.s[1]!, group: a.group, iif: "up0", oifs: ["dn1"] };
    return {
      family: this.family,
      links: [
        {
          name: "up0",
          role: "upstream",
          ifindex: 2,
          vif: 0,
          address: this.family === "ipv4" ? "10.10.0.1" : "fe80::1",
          querier: false,
          forwarded: false,
          waitingReason: null,
          upstreamQuerier: {
            address: this.family === "ipv4" ? "10.10.0.9" : "fe80::9",
            version: this.family === "ipv4" ? 3 : 2,
            compatibilityVersion: this.family === "ipv4" ? 3 : 2,
            olderVersionMs: null,
            forcedVersion: null,
          },
          upTimeMs: 3_723_400,
          router: null,
          routerCounters: null,
          staticGroups: [],
          vifCounters: opts.vifCounters ? vif(this.packets) : null,
        },
        {
          name: "dn1",
          role: "downstream",
          ifindex: 3,
          vif: 1,
          address: a.own,
          querier: true,
          forwarded: true,
          waitingReason: null,
          upstreamQuerier: null,
          upTimeMs: 3_723_400,
          router: router.snapshot(),
          routerCounters: router.counters,
          staticGroups: this.statics,
          vifCounters: opts.vifCounters
            ? { packetsIn: 0n, packetsOut: this.vifOut, bytesIn: 0n, bytesOut: this.vifOut * 100n }
            : null,
        },
        {
          name: "dn9",
          role: "downstream",
          ifindex: null,
          vif: null,
          address: null,
          querier: false,
          forwarded: false,
          waitingReason: "does not exist",
          upstreamQuerier: null,
          upTimeMs: null,
          router: null,
          routerCounters: null,
          staticGroups: [],
          vifCounters: null,
        },
      ],
      upstream: [
        { group: a.group, interface: this.upstreamOf(a.group), filterMode: "exclude", sources: [] },
        {
          group: a.group2,
          interface: this.upstreamOf(a.group2),
          filterMode: "include",
          sources: [a.s[1]!, a.s[2]!],
        },
      ],
      upstreamFilterChanges: 2,
      upstreamFilterErrors: 0,
      upstreamGroups: [{ interface: "up0", held: 2, queued: 0, waiting: 0, sockets: 1 }],
      forwarding: [
        { ...route, upstream: this.upstreamOf(a.group), kernel: counters(route), upTimeMs: 65_000 },
      ],
      receiveSockets: [
        { socket: "multicast-routing", filter: "kernel", discarded: 0, drops: 0, truncated: 0 },
        { socket: "up0", filter: "kernel", discarded: 0, drops: 0, truncated: 0 },
        { socket: "dn1", filter: "kernel", discarded: 2, drops: 5, truncated: 0 },
      ],
      counters: {
        packetsReceived: 10,
        ownPackets: 2,
        upstreamPackets: 3,
        upstreamPacketsByType: { query: 2, report: 1, leave: 0, other: 0 },
        unconfiguredInterface: 0,
        parseErrors: { "bad-checksum": 1 },
        upcalls: { nocache: 1 },
        kernelErrors: 0,
        querierChanges: { dn1: 1 },
        upstreamLimit: 0,
        mfcLimit: 0,
        noUpstream: 0,
        wrongUpstream: 0,
        upstreamSourceRefused: 0,
        vifLimit: 0,
      },
    };
  }
}

export function sampleSource(): StatusSource & { fams: FakeFamily[] } {
  const fams = [new FakeFamily("ipv4"), new FakeFamily("ipv6")];
  return { config: sampleConfig(), families: fams, fams };
}
