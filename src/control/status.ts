/**
 * The operational state the control socket serves (`improxy status`, `improxy show`), built
 * from the daemon's read-only snapshots. Shaped after the YANG operational state of RFC 8652
 * (ietf-igmp-mld: interface list with querier, version, up-time; group list per interface
 * with filter-mode, up-time, expire, last-reporter, source list, host list when tracked)
 * and RFC 9398 (ietf-igmp-mld-proxy: the upstream membership), plus the kernel's
 * forwarding entries (MFC) with their counters. Times are seconds (one decimal).
 * schema/status.schema.json describes this document; keep both in step.
 */
import type { ImproxyConfig, ProtocolSettings } from "../config/types.js";
import type { FamilyCounters, FamilySnapshot, FamilySnapshotSource } from "../daemon/snapshot.js";
import type { IpFamily } from "../wire/types.js";
import type { MetricsEndpointStats } from "./metrics.js";
import type { FlowRates } from "./flow-rates.js";
import type { ControlSocketStats } from "./server.js";
import type { WebViewStats } from "./web/view.js";

export const SHOW_VIEWS = ["interfaces", "groups", "sources", "routes", "stats"] as const;
export type ShowView = (typeof SHOW_VIEWS)[number];

export type { FamilySnapshot } from "../daemon/snapshot.js";

/** What the status builder reads from the running daemon (structurally a `Daemon`). */
export interface StatusSource {
  readonly config: ImproxyConfig;
  readonly families: ReadonlyArray<FamilySnapshotSource>;
}

export interface DaemonInfo {
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  configFile: string;
  controlSocket: string;
  metrics: string | null;
}

export interface VifCountersStatus {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** RFC 8652 interface entry (+ the proxy role of RFC 9398 and the kernel VIF). */
export interface InterfaceStatus {
  name: string;
  role: "upstream" | "downstream";
  /** attached: VIF added, protocol running; waiting: interface absent, down or without address. */
  state: "attached" | "waiting";
  ifindex: number | null;
  vif: number | null;
  address: string | null;
  /** Configured protocol version on a downstream (IGMP 1..3, MLD 1..2); null upstream. */
  version: number | null;
  /** This router is the querier on the link (RFC 9776 §6.6.2); upstream: false. */
  querier: boolean;
  querierAddress: string | null;
  /** Remaining Other Querier Present time when another router is querier. */
  otherQuerierPresentSeconds: number | null;
  upTimeSeconds: number | null;
  groups: number;
  /** Kernel VIF counters (SIOCGETVIFCNT). */
  counters: VifCountersStatus | null;
}

export interface HostStatus {
  address: string;
  filterMode: "include" | "exclude";
  sources: string[];
  expiresSeconds: number;
}

/**
 * RFC 8652 group entry on one downstream link: the hosts' group as the link's router holds
 * it, or a static group (RFC 8652 `static-group`, `static` true), which has no timer and no
 * reporter.
 */
export interface GroupStatus {
  interface: string;
  group: string;
  /** A configured static group (no report, no timer). */
  static: boolean;
  filterMode: "include" | "exclude";
  /** Group compatibility version (RFC 9776 §7.3.2); a static group: the link's version. */
  version: number;
  upTimeSeconds: number;
  /** Group timer; null when not running (INCLUDE mode, static groups). */
  expiresSeconds: number | null;
  /** null for a static group. */
  lastReporter: string | null;
  sources: number;
  /** Tracked hosts (explicit tracking, on with fast-leave); null when not tracked. */
  hosts: HostStatus[] | null;
  /** The upstream that serves the group (RFC 4605 §4); null: none does, or no merged membership. */
  upstream: string | null;
}

/** RFC 9398: the merged membership the proxy holds on the upstream interface that serves the group. */
export interface UpstreamGroupStatus {
  /** The upstream that serves the group; null: none does (not joined upstream). */
  interface: string | null;
  group: string;
  filterMode: "include" | "exclude";
  sources: string[];
}

/** RFC 8652 source entry of a group on a link. */
export interface SourceStatus {
  interface: string;
  group: string;
  source: string;
  /** Source timer; 0 = not running (EXCLUDE mode: blocked). */
  expiresSeconds: number;
  forwarding: boolean;
}

/** One (S,G) forwarding entry of the kernel MFC, with its counters (SIOCGETSGCNT). */
export interface RouteStatus {
  source: string;
  group: string;
  incoming: string;
  /** The upstream that serves the group (the only one its data is forwarded from); null: none. */
  upstream: string | null;
  outgoing: string[];
  packets: number | null;
  bytes: number | null;
  wrongIf: number | null;
  /**
   * Packets per second over the flow-rate window (the last 10 s of the daemon's own samples,
   * every 2 s; control/flow-rates.ts); null until two samples of the entry exist.
   */
  pps: number | null;
  /** Bits per second (IP packets as the kernel counts their bytes) over the same window. */
  bitsPerSecond: number | null;
}

export interface InterfaceStats {
  name: string;
  received: Record<string, number>;
  sent: Record<string, number>;
  drops: Record<string, number>;
  refusals: Record<string, number>;
  olderVersionQueries: number;
  querierChanges: number;
}

/**
 * One receive socket: the multicast routing socket ("multicast-routing") or an attached
 * link's report socket (docs/kernel.md "Receiving reports").
 */
export interface ReceiveSocketStats {
  socket: string;
  /** "kernel": a socket filter keeps the other sockets' copies out; "software": read and discarded. */
  filter: "kernel" | "software";
  /** Datagrams read and discarded as another socket's copy. */
  discarded: number;
  /** Datagrams the kernel dropped for a full receive buffer; null when it does not say. */
  drops: number | null;
}

/** The family's own counters (querier changes are per interface here) plus the upstream ones. */
export interface FamilyStats extends Omit<FamilyCounters, "querierChanges"> {
  upstreamFilterChanges: number;
  upstreamFilterErrors: number;
  interfaces: InterfaceStats[];
  receiveSockets: ReceiveSocketStats[];
}

export interface FamilySummary {
  interfaces: number;
  attached: number;
  groups: number;
  sources: number;
  upstreamGroups: number;
  routes: number;
  /**
   * Messages or records not acted upon: parse errors and router drops, except the ignores
   * that are by design (link-local groups, configured ignore-groups: every host reports
   * those). `show stats` has every reason.
   */
  drops: number;
}

export interface FamilyStatus {
  family: IpFamily;
  protocol: "igmp" | "mld";
  summary: FamilySummary;
  interfaces?: InterfaceStatus[];
  groups?: GroupStatus[];
  upstream?: UpstreamGroupStatus[];
  sources?: SourceStatus[];
  routes?: RouteStatus[];
  stats?: FamilyStats;
}

/** The operator interfaces' own counters (`show stats`): refusals and evictions by reason. */
export interface OperatorStats {
  /** null when this daemon runs without a control socket. */
  controlSocket: ControlSocketStats | null;
  /** null when metrics are off. */
  metrics: MetricsEndpointStats | null;
  /** null when the web view is off. */
  web: WebViewStats | null;
}

/** The `--json` document of `improxy status` and `improxy show VIEW`. */
export interface StatusDocument {
  improxy: DaemonInfo;
  /** null for `status`; the view for `show`. */
  view: ShowView | null;
  families: FamilyStatus[];
  /** `show stats` only. */
  operator?: OperatorStats;
}

/** Drop reasons left out of the summary count (see FamilySummary.drops). */
const BY_DESIGN_DROPS = new Set(["link-local-group", "ignored-group"]);

const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const sum = (r: Record<string, number | undefined>): number =>
  Object.values(r).reduce<number>((a, b) => a + (b ?? 0), 0);
const num = (b: bigint | undefined): number | null => (b === undefined ? null : Number(b));
const record = (r: Record<string, number | undefined>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v;
  return out;
};

export interface StatusBuilderOptions {
  version: string;
  controlSocket: string;
  /** Wall-clock start of the daemon (ms since epoch). */
  startedAt: number;
  now?: () => number;
  /** The control socket's and metrics endpoint's counters, for `show stats`. */
  operator?: () => OperatorStats;
  /** The daemon's flow-rate sampler (route pps and bit rates); none: rates are null. */
  rates?: FlowRates;
}

/** Builds status documents. */
export class StatusBuilder {
  private readonly now: () => number;

  constructor(
    private readonly source: StatusSource,
    private readonly opts: StatusBuilderOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  info(): DaemonInfo {
    const { config } = this.source;
    const now = this.now();
    return {
      version: this.opts.version,
      pid: process.pid,
      startedAt: new Date(this.opts.startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - this.opts.startedAt) / 1000)),
      configFile: config.file,
      controlSocket: this.opts.controlSocket,
      metrics: config.metricsListen,
    };
  }

  /** `view` null: the status summary (summary + interfaces). */
  build(view: ShowView | null, family?: IpFamily): StatusDocument {
    const families: FamilyStatus[] = [];
    for (const f of this.source.families) {
      if (family !== undefined && f.family !== family) continue;
      const snap = f.snapshot({
        vifCounters: view === null || view === "interfaces",
        sgCounters: view === "routes",
      });
      families.push(this.familyStatus(snap, view));
    }
    const doc: StatusDocument = { improxy: this.info(), view, families };
    if (view === "stats") doc.operator = this.opts.operator?.() ?? { controlSocket: null, metrics: null, web: null };
    return doc;
  }

  private settings(name: string, family: IpFamily): ProtocolSettings | null {
    const { config } = this.source;
    const cfg = [...config.upstreams, ...config.downstreams].find((c) => c.name === name);
    if (!cfg) return null;
    return family === "ipv4" ? cfg.igmp : cfg.mld;
  }

  private familyStatus(snap: FamilySnapshot, view: ShowView | null): FamilyStatus {
    let groups = 0;
    let sources = 0;
    let drops = sum(snap.counters.parseErrors);
    for (const l of snap.links) {
      groups += l.router?.groupCount ?? 0;
      for (const g of l.router?.groups ?? []) sources += g.sources.length;
      for (const [reason, n] of Object.entries(l.routerCounters?.drops ?? {})) {
        if (!BY_DESIGN_DROPS.has(reason)) drops += n ?? 0;
      }
    }
    const out: FamilyStatus = {
      family: snap.family,
      protocol: snap.family === "ipv4" ? "igmp" : "mld",
      summary: {
        interfaces: snap.links.length,
        attached: snap.links.filter((l) => l.ifindex !== null).length,
        groups,
        sources,
        upstreamGroups: snap.upstream.filter((u) => u.interface !== null).length,
        routes: snap.forwarding.length,
        drops,
      },
    };
    if (view === null || view === "interfaces")
      out.interfaces = snap.links.map((l) => this.interfaceStatus(l));
    if (view === "groups") {
      const upstreamOf = new Map(snap.upstream.map((u) => [u.group, u.interface]));
      out.groups = [];
      for (const l of snap.links) {
        const tracked = this.settings(l.name, snap.family)?.fastLeave === true;
        for (const g of l.router?.groups ?? []) {
          out.groups.push({
            interface: l.name,
            group: g.group,
            static: false,
            filterMode: g.filterMode,
            version: g.version,
            upTimeSeconds: seconds(g.upTimeMs),
            expiresSeconds: g.expiresMs === null ? null : seconds(g.expiresMs),
            lastReporter: g.lastReporter,
            sources: g.sources.length,
            hosts: tracked
              ? g.hosts.map((h) => ({
                  address: h.address,
                  filterMode: h.filterMode,
                  sources: h.sources,
                  expiresSeconds: seconds(h.expiresMs),
                }))
              : null,
            upstream: upstreamOf.get(g.group) ?? null,
          });
        }
        const version = l.router?.version ?? this.settings(l.name, snap.family)?.version ?? 1;
        for (const g of l.staticGroups) {
          out.groups.push({
            interface: l.name,
            group: g.group,
            static: true,
            filterMode: g.filterMode,
            version,
            upTimeSeconds: seconds(g.upTimeMs),
            expiresSeconds: null,
            lastReporter: null,
            sources: g.sources.length,
            hosts: null,
            upstream: upstreamOf.get(g.group) ?? null,
          });
        }
      }
      out.upstream = snap.upstream.map((u) => ({
        interface: u.interface,
        group: u.group,
        filterMode: u.filterMode,
        sources: [...u.sources],
      }));
    }
    if (view === "sources") {
      out.sources = [];
      for (const l of snap.links) {
        for (const g of l.router?.groups ?? []) {
          for (const s of g.sources) {
            out.sources.push({
              interface: l.name,
              group: g.group,
              source: s.source,
              expiresSeconds: seconds(s.expiresMs),
              forwarding: s.forwarded,
            });
          }
        }
      }
    }
    if (view === "routes") {
      out.routes = snap.forwarding.map((e) => ({
        source: e.source,
        group: e.group,
        incoming: e.iif,
        upstream: e.upstream,
        outgoing: [...e.oifs],
        packets: num(e.kernel?.packets),
        bytes: num(e.kernel?.bytes),
        wrongIf: num(e.kernel?.wrongIf),
        ...this.rate(snap.family, e.source, e.group),
      }));
    }
    if (view === "stats") out.stats = this.stats(snap);
    return out;
  }

  private rate(family: IpFamily, source: string, group: string): Pick<RouteStatus, "pps" | "bitsPerSecond"> {
    const r = this.opts.rates?.rate(family, source, group) ?? null;
    return { pps: r?.pps ?? null, bitsPerSecond: r?.bitsPerSecond ?? null };
  }

  private interfaceStatus(l: FamilySnapshot["links"][number]): InterfaceStatus {
    const r = l.router;
    const v = l.vifCounters;
    return {
      name: l.name,
      role: l.role,
      state: l.ifindex === null ? "waiting" : "attached",
      ifindex: l.ifindex,
      vif: l.vif,
      address: l.address,
      version: r?.version ?? null,
      querier: l.querier,
      querierAddress: r?.querierAddress ?? null,
      otherQuerierPresentSeconds: r?.otherQuerierPresentMs == null ? null : seconds(r.otherQuerierPresentMs),
      upTimeSeconds: l.upTimeMs === null ? null : seconds(l.upTimeMs),
      groups: r?.groupCount ?? 0,
      counters: v
        ? {
            packetsIn: Number(v.packetsIn),
            packetsOut: Number(v.packetsOut),
            bytesIn: Number(v.bytesIn),
            bytesOut: Number(v.bytesOut),
          }
        : null,
    };
  }

  private stats(snap: FamilySnapshot): FamilyStats {
    const c = snap.counters;
    return {
      packetsReceived: c.packetsReceived,
      ownPackets: c.ownPackets,
      upstreamPackets: c.upstreamPackets,
      upstreamPacketsByType: { ...c.upstreamPacketsByType },
      unconfiguredInterface: c.unconfiguredInterface,
      parseErrors: record(c.parseErrors),
      upcalls: record(c.upcalls),
      kernelErrors: c.kernelErrors,
      upstreamFilterChanges: snap.upstreamFilterChanges,
      upstreamFilterErrors: snap.upstreamFilterErrors,
      upstreamLimit: c.upstreamLimit,
      mfcLimit: c.mfcLimit,
      upstreamSourceRefused: c.upstreamSourceRefused,
      noUpstream: c.noUpstream,
      wrongUpstream: c.wrongUpstream,
      vifLimit: c.vifLimit,
      interfaces: snap.links.map((l) => ({
        name: l.name,
        received: record(l.routerCounters?.received ?? {}),
        sent: record(l.routerCounters?.sent ?? {}),
        drops: record(l.routerCounters?.drops ?? {}),
        refusals: record(l.routerCounters?.refusals ?? {}),
        olderVersionQueries: l.routerCounters?.olderVersionQueries ?? 0,
        querierChanges: c.querierChanges[l.name] ?? 0,
      })),
      receiveSockets: snap.receiveSockets.map((r) => ({
        socket: r.socket,
        filter: r.filter,
        discarded: r.discarded,
        drops: r.drops,
      })),
    };
  }
}
