/**
 * The daemon's operator interfaces (issue 5, issue 11): the control socket (status, show,
 * reload), the optional Prometheus endpoint and the optional web view, and the flow-rate
 * sampler they read. All only read the daemon's snapshots; `reload` is delegated to the
 * daemon. The metrics (prom-client) and web view modules are imported only when configured
 * (docs/architecture.md "Memory").
 */

import type { ReloadReport } from "../daemon/reload-report.js";
import type { Scheduler } from "../clock/index.js";
import { HTTP_ON_METRICS } from "../config/settings.js";
import type { Logger } from "../util/log.js";
import { packageVersion } from "../util/version.js";
import { FlowRates } from "./flow-rates.js";
import type { MetricsServer } from "./metrics.js";
import type { Request } from "./protocol.js";
import { ControlServer, networkNamespace } from "./server.js";
import { filterOf } from "./show-filter.js";
import { StatusBuilder, type StatusDocument, type StatusSource } from "./status.js";
import { renderShow, renderStatus } from "./tables.js";
import type { WebView } from "./web/view.js";

export { ControlClientError, controlRequest } from "./client.js";
export { ControlSocketInUseError } from "./server.js";
export type { ShowView, StatusDocument } from "./status.js";
export { SHOW_VIEWS } from "./status.js";

/** What the control plane needs from the daemon (structurally `Daemon`). */
export interface ControlledDaemon extends StatusSource {
  readonly log: Logger;
  /** The daemon's scheduler: the flow-rate sampler runs on it. */
  readonly scheduler: Scheduler;
  /** Resolves once the new configuration is applied (or rejected), with what changed. */
  reload(): Promise<{ ok: boolean; error?: string; report?: ReloadReport }>;
}

export interface ControlPlane {
  /** null when another daemon in another network namespace owns the path. */
  readonly control: ControlServer | null;
  readonly metrics: MetricsServer | null;
  /** null when `http` is off. */
  readonly web: WebView | null;
  readonly rates: FlowRates;
  /** The status, groups and routes tables as text (SIGUSR1, as IMProxy printed its tables). */
  dump(): string;
  /** The same three views as status documents (SIGUSR1 with JSON logs: one log line each). */
  dumpDocuments(): Array<{ view: "status" | "groups" | "routes"; state: StatusDocument }>;
  close(): void;
}

/**
 * Starts the flow-rate sampler, opens the control socket at `daemon.config.controlSocket`
 * and, when configured, the metrics endpoint and the web view. Throws (having closed what
 * it opened) when one cannot be opened.
 */
export async function startControlPlane(daemon: ControlledDaemon): Promise<ControlPlane> {
  const { config, log } = daemon;
  const version = packageVersion();
  const path = config.controlSocket;
  let control: ControlServer | null = null;
  let metrics: MetricsServer | null = null;
  let web: WebView | null = null;
  const operator = () => ({
    controlSocket: control?.stats() ?? null,
    metrics: metrics?.stats() ?? null,
    web: web?.stats() ?? null,
  });
  // The long per-flow history is only for the web view's plots.
  const rates = new FlowRates(daemon, daemon.scheduler, { history: config.http !== null });
  const builder = new StatusBuilder(daemon, {
    version,
    controlSocket: path,
    startedAt: Date.now(),
    operator,
    rates,
  });
  const netns = networkNamespace();
  const handler = async (req: Request): Promise<unknown> => {
    switch (req.cmd) {
      case "ping":
        return { pid: process.pid, netns, version };
      case "status":
        return builder.build(null, req.family);
      case "show":
        return builder.build(req.what, req.family, filterOf(req));
      case "reload": {
        log.info("reload requested on the control socket");
        const r = await daemon.reload();
        if (!r.ok) throw new Error(`reload failed: ${r.error ?? "unknown error"}`);
        return { reloaded: true, ...r.report };
      }
    }
  };
  const closeAll = () => {
    rates.close();
    web?.close();
    web?.listener?.close();
    control?.close();
    metrics?.close();
  };
  rates.start();
  try {
    control = await ControlServer.listen({ path, handler, log: log.child({ component: "control" }) });
    if (control) log.info({ path }, "control socket listening");
    const http = config.http;
    const webModule = http === null ? null : await import("./web/view.js");
    if (webModule && http !== null) {
      const { readToken } = await import("./web/auth.js");
      web = new webModule.WebView(
        { builder, rates },
        { token: http.tokenFile === null ? null : readToken(http.tokenFile), listen: http.listen },
      );
    }
    if (config.metricsListen !== null) {
      const { createMetricsRegistry, MetricsServer, registerOperatorMetrics } = await import("./metrics.js");
      const registry = createMetricsRegistry(daemon, { version });
      registerOperatorMetrics(
        registry,
        () => control?.stats() ?? null,
        () => metrics?.stats() ?? null,
        () => web?.stats() ?? null,
      );
      const view = http?.listen === HTTP_ON_METRICS ? web : null;
      metrics = await MetricsServer.listen(config.metricsListen, registry, view ? (q, r) => view.handle(q, r) : undefined);
      log.info({ listen: config.metricsListen }, "metrics endpoint listening on /metrics");
    }
    if (web && webModule && http !== null) {
      if (http.listen !== HTTP_ON_METRICS) await webModule.listenWebView(web, http.listen);
      log.info({ listen: http.listen === HTTP_ON_METRICS ? config.metricsListen : http.listen }, "web view listening");
    }
  } catch (err) {
    closeAll();
    throw err;
  }
  return {
    control,
    metrics,
    dumpDocuments() {
      return [
        { view: "status", state: builder.build(null) },
        { view: "groups", state: builder.build("groups") },
        { view: "routes", state: builder.build("routes") },
      ];
    },
    web,
    rates,
    dump() {
      return [
        ...renderStatus(builder.build(null)),
        "",
        ...renderShow(builder.build("groups"), "groups"),
        "",
        ...renderShow(builder.build("routes"), "routes"),
      ].join("\n");
    },
    close: closeAll,
  };
}
