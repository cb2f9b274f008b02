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
import { FORCE_VERSION_SYSCTL, NEWEST_VERSION, protocolVersionName } from "../proxy/upstream-querier.js";
import type { IpFamily } from "../wire/types.js";
import type { MetricsEndpointStats } from "./metrics.js";
import type { FlowRates } from "./flow-rates.js";
import type { ControlSocketStats } from "./server.js";
import { knownInterfaces, type ShowFilter, ShowMatcher, UnknownInterfaceError } from "./show-filter.js";
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
  /** Why a waiting interface waits ("does not exist", "is down", "has no IPv4 address", ...); null when attached. */
  waitingReason: string | null;
  /**
   * A downstream the proxy forwards onto now: attached and the querier, or configured with
   * forward-when-not-querier (RFC 4605 §4.2). false upstream.
   */
  forwarded: boolean;
  /**
   * Upstream links: the querier heard there (address and version of its last query) and
   * the version the kernel's host stack reports in (older while an older querier is
   * present, RFC 9776 §7.2.1 / RFC 9777 §8.2.1, or forced by force_igmp_version /
   * force_mld_version). null downstream, and upstream before any query or forcing.
   */
  upstreamQuerier: UpstreamQuerierInfo | null;
  /** What an operator should know about this link, one sentence each (cause and fix). */
  warnings: string[];
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

export interface UpstreamQuerierInfo {
  address: string | null;
  version: number | null;
  /** The version the kernel reports in upstream now. */
  compatibilityVersion: number;
  /** Time left until it returns to the newest version; null when at the newest. */
  olderVersionSeconds: number | null;
  /** The interface's force_igmp_version / force_mld_version when it forces an older version. */
  forcedVersion: number | null;
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
  /** Since when the entry is installed in the kernel; null: not installed (no VIF for its incoming link). */
  upTimeSeconds: number | null;
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
  /** Datagrams dropped because the kernel cut their data or ancillary data (MSG_TRUNC, MSG_CTRUNC). */
  truncated: number;
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
  /** `show stats` only (not with an interface filter). */
  operator?: OperatorStats;
  /** The filters of a filtered `show` (show-filter.ts); absent when unfiltered. */
  filter?: ShowFilter;
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

  /**
   * `view` null: the status summary (summary + interfaces). `filter` (valid for the view:
   * checkShowFilter) keeps only the matching rows; an interface that is neither configured
   * nor a link now throws UnknownInterfaceError.
   */
  build(view: ShowView | null, family?: IpFamily, filter: ShowFilter = {}): StatusDocument {
    const m = new ShowMatcher(filter);
    const snaps = this.source.families
      .filter((f) => family === undefined || f.family === family)
      .map((f) =>
        f.snapshot({
          vifCounters: view === null || view === "interfaces",
          // Kernel counters only for the entries shown (one ioctl each).
          sgCounters: view === "routes" && (m.active ? (e) => m.route(e) : true),
        }),
      );
    if (filter.interface !== undefined) {
      const known = knownInterfaces(
        this.source,
        snaps.flatMap((s) => s.links.map((l) => l.name)),
      );
      if (!known.includes(filter.interface)) throw new UnknownInterfaceError(filter.interface, known);
    }
    const families = snaps.map((snap) => this.familyStatus(snap, view, m));
    const doc: StatusDocument = { improxy: this.info(), view, families };
    if (view === "stats" && filter.interface === undefined)
      doc.operator = this.opts.operator?.() ?? { controlSocket: null, metrics: null, web: null };
    if (m.active) doc.filter = { ...filter };
    return doc;
  }

  private settings(name: string, family: IpFamily): ProtocolSettings | null {
    const { config } = this.source;
    const cfg = [...config.upstreams, ...config.downstreams].find((c) => c.name === name);
    if (!cfg) return null;
    return family === "ipv4" ? cfg.igmp : cfg.mld;
  }

  private familyStatus(
    snap: FamilySnapshot,
    view: ShowView | null,
    m: ShowMatcher,
  ): FamilyStatus {
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
    const links = snap.links.filter((l) => m.link(l.name));
    if (view === null || view === "interfaces") out.interfaces = links.map((l) => this.interfaceStatus(snap.family, l));
    if (view === "groups") {
      const upstreamOf = new Map(snap.upstream.map((u) => [u.group, u.interface]));
      out.groups = [];
      for (const l of links) {
        const tracked = this.settings(l.name, snap.family)?.fastLeave === true;
        for (const g of l.router?.groups ?? []) {
          if (!m.group(g.group) || !m.anySource(g.sources.map((s) => s.source))) continue;
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
          if (!m.group(g.group) || !m.anySource(g.sources)) continue;
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
      // With an interface filter: the upstream membership of the groups listed, and that upstream's own.
      const listed = new Set(out.groups.map((g) => g.group));
      const upstreamRow = (u: FamilySnapshot["upstream"][number]) =>
        m.group(u.group) &&
        m.anySource(u.sources) &&
        (m.filter.interface === undefined || u.interface === m.filter.interface || listed.has(u.group));
      out.upstream = snap.upstream.filter(upstreamRow).map((u) => ({
        interface: u.interface,
        group: u.group,
        filterMode: u.filterMode,
        sources: [...u.sources],
      }));
    }
    if (view === "sources") {
      out.sources = [];
      for (const l of links) {
        for (const g of l.router?.groups ?? []) {
          if (!m.group(g.group)) continue;
          for (const s of g.sources) {
            if (!m.source(s.source)) continue;
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
      out.routes = snap.forwarding
        .filter((e) => m.route(e))
        .map((e) => ({
          source: e.source,
          group: e.group,
          incoming: e.iif,
          upstream: e.upstream,
          outgoing: [...e.oifs],
          packets: num(e.kernel?.packets),
          bytes: num(e.kernel?.bytes),
          wrongIf: num(e.kernel?.wrongIf),
          ...this.rate(snap.family, e.source, e.group),
          upTimeSeconds: e.upTimeMs === null ? null : seconds(e.upTimeMs),
        }));
    }
    if (view === "stats") out.stats = this.stats(snap, m);
    return out;
  }

  private rate(family: IpFamily, source: string, group: string): Pick<RouteStatus, "pps" | "bitsPerSecond"> {
    const r = this.opts.rates?.rate(family, source, group) ?? null;
    return { pps: r?.pps ?? null, bitsPerSecond: r?.bitsPerSecond ?? null };
  }

  private interfaceStatus(family: IpFamily, l: FamilySnapshot["links"][number]): InterfaceStatus {
    const r = l.router;
    const q = l.upstreamQuerier;
    const v = l.vifCounters;
    return {
      name: l.name,
      role: l.role,
      state: l.ifindex === null ? "waiting" : "attached",
      waitingReason: l.waitingReason,
      forwarded: l.forwarded,
      upstreamQuerier: q
        ? {
            address: q.address,
            version: q.version,
            compatibilityVersion: q.compatibilityVersion,
            olderVersionSeconds: q.olderVersionMs === null ? null : seconds(q.olderVersionMs),
            forcedVersion: q.forcedVersion,
          }
        : null,
      warnings: linkWarnings(family, l),
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

  /** With an interface filter: that interface's counters and receive socket (the family's stay). */
  private stats(snap: FamilySnapshot, m: ShowMatcher): FamilyStats {
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
      interfaces: snap.links
        .filter((l) => m.link(l.name))
        .map((l) => ({
          name: l.name,
          received: record(l.routerCounters?.received ?? {}),
          sent: record(l.routerCounters?.sent ?? {}),
          drops: record(l.routerCounters?.drops ?? {}),
          refusals: record(l.routerCounters?.refusals ?? {}),
          olderVersionQueries: l.routerCounters?.olderVersionQueries ?? 0,
          querierChanges: c.querierChanges[l.name] ?? 0,
        })),
      receiveSockets: snap.receiveSockets
        .filter((r) => m.link(r.socket))
        .map((r) => ({
          socket: r.socket,
          filter: r.filter,
          discarded: r.discarded,
          drops: r.drops,
          truncated: r.truncated,
        })),
    };
  }
}

/**
 * The operator's notes on one link (`show interfaces`, the web view): why it waits, why
 * it gets no traffic, why source-specific joins do not reach the upstream. Each names the
 * cause and the fix; the log says the same when the state begins.
 */
export function linkWarnings(family: IpFamily, l: FamilySnapshot["links"][number]): string[] {
  const out: string[] = [];
  if (l.waitingReason !== null) out.push(`waiting: the interface ${l.waitingReason}`);
  if (l.role === "downstream" && l.ifindex !== null && !l.forwarded) {
    const other = l.router?.querierAddress ?? "another router";
    out.push(`not forwarded: ${other} is the querier (set forward-when-not-querier: true)`);
  }
  const q = l.upstreamQuerier;
  const newest = NEWEST_VERSION[family];
  if (q && q.compatibilityVersion < newest) {
    const name = (v: number) => protocolVersionName(family, v);
    const why =
      q.forcedVersion !== null && q.forcedVersion === q.compatibilityVersion
        ? `${FORCE_VERSION_SYSCTL[family]} = ${q.forcedVersion} (set it to 0)`
        : `the upstream querier ${q.address ?? ""} speaks ${name(q.version ?? q.compatibilityVersion)} (configure it for ${name(newest)})`;
    out.push(`reports upstream in ${name(q.compatibilityVersion)}, no source lists: ${why}`);
  }
  return out;
}
