/**
 * Prometheus metrics (prom-client), served over HTTP at /metrics when `metrics:` is set
 * (off by default; the YAML's `metrics: true` means 127.0.0.1:9464, loopback only).
 *
 * Every improxy_* metric is computed at scrape time from the counters the daemon already
 * keeps (router counters per link, FamilyProxy counters, upstream membership changes and
 * errors, kernel VIF counters): the packet paths are untouched. Process and Node.js metrics
 * (event-loop lag: nodejs_eventloop_lag_seconds and its percentiles, heap, GC, CPU, open fds)
 * come from prom-client's default collectors under their standard names.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { BoundedHttpServer, HTTP_LIMITS } from "./http-server.js";
import type { ControlSocketStats } from "./server.js";
import type { WebViewStats } from "./web/view.js";
import type { FamilySnapshot, StatusSource } from "./status.js";

export type MetricsSource = Pick<StatusSource, "families">;

/**
 * The labels of a message counter key (src/router/counters.ts messageKey): "igmpv3-report"
 * -> report/3, "mldv1-done" -> done/1, "igmpv2-general-query" -> general-query/2: the same
 * words as `show stats` (docs/operations.md "Statistic names").
 */
export function messageLabels(key: string): { type: string; version: string } {
  const m = /^(?:igmp|mld)v(\d)-(.+)$/.exec(key);
  if (m) return { type: m[2] ?? key, version: m[1] ?? "" };
  return { type: key, version: "" };
}

/** The one sample of a series without labels; none while the source is absent. */
function unlabelled(v: number | undefined): Array<[Record<string, never>, number]> {
  return v === undefined ? [] : [[{}, v]];
}

/** A Counter set from an absolute value at collect time (the daemon owns the count). */
function absoluteCounter<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  values: () => Array<[Partial<Record<T, string>>, number]>,
): void {
  new Counter<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<T>) {
      this.reset();
      for (const [labels, v] of values()) if (v >= 0) this.inc(labels, v);
    },
  });
}

function gauge<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  values: () => Array<[Partial<Record<T, string>>, number]>,
): void {
  new Gauge<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Gauge<T>) {
      this.reset();
      for (const [labels, v] of values()) this.set(labels, v);
    },
  });
}

export interface RegistryOptions {
  version: string;
  /** prom-client's process and Node.js collectors (event-loop lag, ...). Default true. */
  defaultMetrics?: boolean;
}

/** The registry with every improxy metric reading `source` at scrape time. */
export function createMetricsRegistry(source: MetricsSource, opts: RegistryOptions): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  // One snapshot per scrape: collect() callbacks of one scrape run back to back.
  let cached: { at: number; snaps: FamilySnapshot[] } | null = null;
  const snaps = (): FamilySnapshot[] => {
    const now = Date.now();
    if (!cached || now - cached.at > 250) {
      cached = { at: now, snaps: source.families.map((f) => f.snapshot({ vifCounters: true })) };
    }
    return cached.snaps;
  };
  type Row<T extends string> = Array<[Partial<Record<T, string>>, number]>;
  const perLink = <T extends string>(
    fn: (f: FamilySnapshot, l: FamilySnapshot["links"][number], out: Row<T>) => void,
  ) => {
    const out: Row<T> = [];
    for (const f of snaps()) for (const l of f.links) fn(f, l, out);
    return out;
  };
  const perFamily = <T extends string>(fn: (f: FamilySnapshot, out: Row<T>) => void) => {
    const out: Row<T> = [];
    for (const f of snaps()) fn(f, out);
    return out;
  };

  gauge(registry, "improxy_build_info", "improxy version (always 1)", ["version"], () => [
    [{ version: opts.version }, 1],
  ]);

  absoluteCounter(
    registry,
    "improxy_messages_received_total",
    "IGMP/MLD messages accepted on downstream links, by type and protocol version",
    ["family", "interface", "type", "version"],
    () =>
      perLink((f, l, out) => {
        for (const [k, v] of Object.entries(l.routerCounters?.received ?? {})) {
          if (k === "group-record") continue;
          out.push([{ family: f.family, interface: l.name, ...messageLabels(k) }, v]);
        }
      }),
  );
  absoluteCounter(
    registry,
    "improxy_group_records_received_total",
    "IGMPv3/MLDv2 group records processed",
    ["family", "interface"],
    () =>
      perLink((f, l, out) => {
        if (l.role !== "downstream") return;
        out.push([{ family: f.family, interface: l.name }, l.routerCounters?.received["group-record"] ?? 0]);
      }),
  );
  absoluteCounter(
    registry,
    "improxy_messages_sent_total",
    "Messages sent on downstream links (all are queries), by type and protocol version",
    ["family", "interface", "type", "version"],
    () =>
      perLink((f, l, out) => {
        for (const [k, v] of Object.entries(l.routerCounters?.sent ?? {})) {
          out.push([{ family: f.family, interface: l.name, ...messageLabels(k) }, v]);
        }
      }),
  );
  absoluteCounter(
    registry,
    "improxy_queries_sent_total",
    "Queries sent (general, group- and group-and-source-specific)",
    ["family", "interface"],
    () =>
      perLink((f, l, out) => {
        if (l.role !== "downstream") return;
        let n = 0;
        for (const v of Object.values(l.routerCounters?.sent ?? {})) n += v;
        out.push([{ family: f.family, interface: l.name }, n]);
      }),
  );
  absoluteCounter(
    registry,
    "improxy_drops_total",
    'Messages or records not acted upon, by reason (interface "" for parse errors, counted per family)',
    ["family", "interface", "reason"],
    () =>
      perFamily((f, out) => {
        for (const [k, v] of Object.entries(f.counters.parseErrors))
          out.push([{ family: f.family, interface: "", reason: `parse-${k}` }, v]);
        for (const l of f.links) {
          for (const [k, v] of Object.entries(l.routerCounters?.drops ?? {})) {
            out.push([{ family: f.family, interface: l.name, reason: k }, v ?? 0]);
          }
        }
      }),
  );
  absoluteCounter(
    registry,
    "improxy_refusals_total",
    "State not created because of a configured limit (max-groups, max-sources)",
    ["family", "interface", "reason"],
    () =>
      perLink((f, l, out) => {
        for (const [k, v] of Object.entries(l.routerCounters?.refusals ?? {}))
          out.push([{ family: f.family, interface: l.name, reason: k }, v]);
      }),
  );
  absoluteCounter(
    registry,
    "improxy_packets_received_total",
    "IGMP / MLD packets read (from the links' report sockets and, IPv4, the multicast routing socket)",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.packetsReceived])),
  );
  absoluteCounter(
    registry,
    "improxy_packets_ignored_total",
    "Packets ignored before parsing: own (looped back), upstream-query/-report/-leave/-other (received on the upstream link, where the kernel answers: RFC 4605 §4.1), unconfigured interface",
    ["family", "reason"],
    () =>
      perFamily((f, out) => {
        out.push([{ family: f.family, reason: "own" }, f.counters.ownPackets]);
        for (const [k, v] of Object.entries(f.counters.upstreamPacketsByType))
          out.push([{ family: f.family, reason: `upstream-${k}` }, v]);
        out.push([{ family: f.family, reason: "unconfigured-interface" }, f.counters.unconfiguredInterface]);
      }),
  );
  /** A counter per receive socket (socket "multicast-routing" or the link's report socket); null: not known. */
  type ReceiveSocket = FamilySnapshot["receiveSockets"][number];
  const perReceiveSocket = (name: string, help: string, pick: (r: ReceiveSocket) => number | null) =>
    absoluteCounter(registry, name, help, ["family", "socket"], () =>
      perFamily((f, out) => {
        for (const r of f.receiveSockets) {
          const v = pick(r);
          if (v !== null) out.push([{ family: f.family, socket: r.socket }, v]);
        }
      }),
    );
  perReceiveSocket(
    "improxy_receive_drops_total",
    'Datagrams the kernel dropped for a full receive buffer, per receive socket (socket "multicast-routing" or the link\'s report socket)',
    (r) => r.drops,
  );
  perReceiveSocket(
    "improxy_receive_discarded_total",
    "Datagrams read and discarded as another receive socket's copy (many only when the kernel refused a socket filter)",
    (r) => r.discarded,
  );
  perReceiveSocket(
    "improxy_receive_truncated_total",
    "Datagrams dropped because the kernel cut their data (MSG_TRUNC) or ancillary data (MSG_CTRUNC), per receive socket",
    (r) => r.truncated,
  );
  absoluteCounter(
    registry,
    "improxy_upcalls_total",
    "Kernel multicast routing upcalls (nocache, wrongvif, wholepkt)",
    ["family", "type"],
    () =>
      perFamily((f, out) => {
        for (const [k, v] of Object.entries(f.counters.upcalls)) out.push([{ family: f.family, type: k }, v]);
      }),
  );
  absoluteCounter(
    registry,
    "improxy_kernel_errors_total",
    "Kernel calls that failed (VIF, MFC, query send)",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.kernelErrors])),
  );
  absoluteCounter(
    registry,
    "improxy_upstream_filter_changes_total",
    "Upstream membership filter changes applied (RFC 4605 §4.1)",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.upstreamFilterChanges])),
  );
  absoluteCounter(
    registry,
    "improxy_upstream_filter_errors_total",
    "Upstream membership filter changes the kernel refused",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.upstreamFilterErrors])),
  );
  absoluteCounter(
    registry,
    "improxy_upstream_limit_total",
    "Upstream joins that waited because max-upstream-groups was reached",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.upstreamLimit])),
  );
  absoluteCounter(
    registry,
    "improxy_mfc_limit_total",
    "New (S,G) flows not installed because max-forwarding-entries was reached",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.mfcLimit])),
  );
  absoluteCounter(
    registry,
    "improxy_upstream_source_refused_total",
    "Flows from the upstream not forwarded because their source is outside the upstream's sources (igmpproxy altnet)",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.upstreamSourceRefused])),
  );
  absoluteCounter(
    registry,
    "improxy_no_upstream_total",
    "Groups wanted downstream that no upstream serves (the upstreams' groups): not joined upstream",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.noUpstream])),
  );
  absoluteCounter(
    registry,
    "improxy_wrong_upstream_total",
    "Flows from an upstream that does not serve their group, not forwarded (RFC 4605 §4: one upstream per group)",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.wrongUpstream])),
  );
  absoluteCounter(
    registry,
    "improxy_vif_limit_total",
    "Interfaces not attached because the kernel's 32 VIFs / MIFs per table were in use",
    ["family"],
    () => perFamily((f, out) => out.push([{ family: f.family }, f.counters.vifLimit])),
  );
  absoluteCounter(
    registry,
    "improxy_querier_changes_total",
    "Querier status changes of this router on a link",
    ["family", "interface"],
    () =>
      perFamily((f, out) => {
        for (const l of f.links)
          out.push([{ family: f.family, interface: l.name }, f.counters.querierChanges[l.name] ?? 0]);
      }),
  );

  gauge(
    registry,
    "improxy_interface_attached",
    "1 when the interface is attached (VIF added, protocol running)",
    ["family", "interface", "role"],
    () =>
      perLink((f, l, out) =>
        out.push([{ family: f.family, interface: l.name, role: l.role }, l.ifindex === null ? 0 : 1]),
      ),
  );
  gauge(
    registry,
    "improxy_querier",
    "1 when this router is the querier on the link",
    ["family", "interface"],
    () =>
      perLink((f, l, out) => {
        if (l.role === "downstream") out.push([{ family: f.family, interface: l.name }, l.querier ? 1 : 0]);
      }),
  );
  gauge(registry, "improxy_groups", "Groups with listeners on the link", ["family", "interface"], () =>
    perLink((f, l, out) => {
      if (l.role === "downstream")
        out.push([{ family: f.family, interface: l.name }, l.router?.groupCount ?? 0]);
    }),
  );
  gauge(registry, "improxy_sources", "Source records of the link's groups", ["family", "interface"], () =>
    perLink((f, l, out) => {
      if (l.role !== "downstream") return;
      let n = 0;
      for (const g of l.router?.groups ?? []) n += g.sources.length;
      out.push([{ family: f.family, interface: l.name }, n]);
    }),
  );
  gauge(
    registry,
    "improxy_upstream_groups",
    "Groups the proxy is a member of on each upstream interface (the groups it serves)",
    ["family", "interface"],
    () =>
      perFamily((f, out) => {
        for (const u of f.upstreamGroups) {
          const n = f.upstream.filter((g) => g.interface === u.interface).length;
          out.push([{ family: f.family, interface: u.interface }, n]);
        }
      }),
  );
  gauge(
    registry,
    "improxy_forwarding_entries",
    "(S,G) forwarding entries with the interface as incoming (direction=in) or outgoing (direction=out) link",
    ["family", "interface", "direction"],
    () =>
      perFamily((f, out) => {
        for (const l of f.links) {
          let inc = 0;
          let outg = 0;
          for (const e of f.forwarding) {
            if (e.iif === l.name) inc++;
            if (e.oifs.includes(l.name)) outg++;
          }
          out.push([{ family: f.family, interface: l.name, direction: "in" }, inc]);
          out.push([{ family: f.family, interface: l.name, direction: "out" }, outg]);
        }
      }),
  );
  for (const [unit, inKey, outKey] of [
    ["packets", "packetsIn", "packetsOut"],
    ["bytes", "bytesIn", "bytesOut"],
  ] as const) {
    absoluteCounter(
      registry,
      `improxy_vif_${unit}_total`,
      `Multicast data ${unit} through the interface's VIF (kernel counters)`,
      ["family", "interface", "direction"],
      () =>
        perLink((f, l, out) => {
          if (!l.vifCounters) return;
          out.push([{ family: f.family, interface: l.name, direction: "in" }, Number(l.vifCounters[inKey])]);
          out.push([
            { family: f.family, interface: l.name, direction: "out" },
            Number(l.vifCounters[outKey]),
          ]);
        }),
    );
  }
  return registry;
}

export { parseListen } from "./http-server.js";

/**
 * Limits of the metrics endpoint (README "Prometheus metrics"): those of every operator
 * HTTP endpoint (http-server.ts). A scrape is one short GET every few seconds; anything
 * else is refused early and counted.
 */
export const METRICS_LIMITS = HTTP_LIMITS;

export const METRICS_REFUSAL_REASONS = [
  "evicted-idle",
  "over-capacity",
  "timeout",
  "bad-request",
  "not-found",
  "method-not-allowed",
] as const;
export type MetricsRefusalReason = (typeof METRICS_REFUSAL_REASONS)[number];

export interface MetricsEndpointStats {
  connections: number;
  maxConnections: number;
  scrapes: number;
  refusals: Record<MetricsRefusalReason, number>;
}

/** Operator-interface counters computed at scrape time (the control socket's, this endpoint's). */
export function registerOperatorMetrics(
  registry: Registry,
  control: () => ControlSocketStats | null,
  metrics: () => MetricsEndpointStats | null,
  web: () => WebViewStats | null = () => null,
): void {
  gauge(registry, "improxy_control_clients", "Clients connected to the control socket", [], () =>
    unlabelled(control()?.clients),
  );
  absoluteCounter(registry, "improxy_control_requests_total", "Control socket requests read", [], () =>
    unlabelled(control()?.requests),
  );
  absoluteCounter(
    registry,
    "improxy_control_bad_requests_total",
    "Control socket requests answered with an error because they were malformed",
    [],
    () => unlabelled(control()?.badRequests),
  );
  absoluteCounter(
    registry,
    "improxy_control_drops_total",
    "Control socket connections refused or closed by the daemon, by reason",
    ["reason"],
    () => Object.entries(control()?.drops ?? {}).map(([reason, v]) => [{ reason }, v]),
  );
  gauge(registry, "improxy_metrics_connections", "Connections to this metrics endpoint", [], () =>
    unlabelled(metrics()?.connections),
  );
  absoluteCounter(
    registry,
    "improxy_metrics_refusals_total",
    "Metrics endpoint connections or requests refused, by reason",
    ["reason"],
    () => Object.entries(metrics()?.refusals ?? {}).map(([reason, v]) => [{ reason }, v]),
  );
  gauge(registry, "improxy_web_streams", "Live web views open (server-sent event streams)", [], () =>
    unlabelled(web()?.streams),
  );
  absoluteCounter(registry, "improxy_web_pages_total", "Web view pages served", [], () =>
    unlabelled(web()?.pages),
  );
  absoluteCounter(
    registry,
    "improxy_web_refusals_total",
    "Web view connections or requests refused, by reason",
    ["reason"],
    () => Object.entries(web()?.refusals ?? {}).map(([reason, v]) => [{ reason }, v]),
  );
}

/**
 * The web view's request handler when it is served on this endpoint (`http: { listen:
 * metrics }`): it answers every path but /metrics, and says false for one it does not know.
 */
export type SharedHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The HTTP endpoint: GET (and HEAD) /metrics only, other paths 404 (or the web view's, when
 * it is served here), other methods 405. Request bodies are never read; connections are
 * bounded (http-server.ts). Refusals are counted by reason (stats()).
 */
export class MetricsServer {
  private scrapes = 0;
  private readonly refused = { "not-found": 0, "method-not-allowed": 0 };

  private constructor(private readonly http: BoundedHttpServer) {}

  get host(): string {
    return this.http.host;
  }

  get port(): number {
    return this.http.port;
  }

  stats(): MetricsEndpointStats {
    return {
      connections: this.http.connections,
      maxConnections: METRICS_LIMITS.maxConnections,
      scrapes: this.scrapes,
      refusals: { ...this.http.refusals, ...this.refused },
    };
  }

  static async listen(listen: string, registry: Registry, web?: SharedHandler): Promise<MetricsServer> {
    let self: MetricsServer | null = null;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== "/metrics" && web?.(req, res)) return;
      if (req.method !== "GET" && req.method !== "HEAD") {
        if (self) self.refused["method-not-allowed"]++;
        res.writeHead(405, { allow: "GET, HEAD", connection: "close" }).end();
        return;
      }
      if (path !== "/metrics") {
        if (self) self.refused["not-found"]++;
        res.writeHead(404, { "content-type": "text/plain" }).end("not found; metrics are at /metrics\n");
        return;
      }
      if (self) self.scrapes++;
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(req.method === "HEAD" ? undefined : text);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
        },
      );
    };
    self = new MetricsServer(await BoundedHttpServer.listen(listen, "metrics", handler));
    return self;
  }

  close(): void {
    this.http.close();
  }
}
