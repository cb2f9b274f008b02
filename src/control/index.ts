/**
 * The daemon's operator interfaces (issue 5): the control socket (status, show, reload)
 * and the optional Prometheus endpoint. Both only read the daemon's snapshots; `reload` is
 * delegated to the daemon.
 */

import type { ReloadReport } from "../daemon/reload-report.js";
import type { Logger } from "../util/log.js";
import { packageVersion } from "../util/version.js";
import { createMetricsRegistry, MetricsServer, registerOperatorMetrics } from "./metrics.js";
import type { Request } from "./protocol.js";
import { ControlServer, networkNamespace } from "./server.js";
import { filterOf } from "./show-filter.js";
import { StatusBuilder, type StatusDocument, type StatusSource } from "./status.js";
import { renderShow, renderStatus } from "./tables.js";

export { ControlClientError, controlRequest } from "./client.js";
export { ControlSocketInUseError } from "./server.js";
export type { ShowView, StatusDocument } from "./status.js";
export { SHOW_VIEWS } from "./status.js";

/** What the control plane needs from the daemon (structurally `Daemon`). */
export interface ControlledDaemon extends StatusSource {
  readonly log: Logger;
  /** Resolves once the new configuration is applied (or rejected), with what changed. */
  reload(): Promise<{ ok: boolean; error?: string; report?: ReloadReport }>;
}

export interface ControlPlane {
  /** null when another daemon in another network namespace owns the path. */
  readonly control: ControlServer | null;
  readonly metrics: MetricsServer | null;
  /** The status, groups and routes tables as text (SIGUSR1, as IMProxy printed its tables). */
  dump(): string;
  /** The same three views as status documents (SIGUSR1 with JSON logs: one log line each). */
  dumpDocuments(): Array<{ view: "status" | "groups" | "routes"; state: StatusDocument }>;
  close(): void;
}

/**
 * Opens the control socket at `daemon.config.controlSocket` and, when configured, the
 * metrics endpoint. Throws (having closed what it opened) when either cannot be opened.
 */
export async function startControlPlane(daemon: ControlledDaemon): Promise<ControlPlane> {
  const { config, log } = daemon;
  const version = packageVersion();
  const path = config.controlSocket;
  let control: ControlServer | null = null;
  let metrics: MetricsServer | null = null;
  const operator = () => ({ controlSocket: control?.stats() ?? null, metrics: metrics?.stats() ?? null });
  const builder = new StatusBuilder(daemon, {
    version,
    controlSocket: path,
    startedAt: Date.now(),
    operator,
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
  control = await ControlServer.listen({ path, handler, log: log.child({ component: "control" }) });
  if (control) log.info({ path }, "control socket listening");
  if (config.metricsListen !== null) {
    try {
      const registry = createMetricsRegistry(daemon, { version });
      registerOperatorMetrics(
        registry,
        () => control?.stats() ?? null,
        () => metrics?.stats() ?? null,
      );
      metrics = await MetricsServer.listen(config.metricsListen, registry);
    } catch (err) {
      control?.close();
      throw err;
    }
    log.info({ listen: config.metricsListen }, "metrics endpoint listening on /metrics");
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
    dump() {
      return [
        ...renderStatus(builder.build(null)),
        "",
        ...renderShow(builder.build("groups"), "groups"),
        "",
        ...renderShow(builder.build("routes"), "routes"),
      ].join("\n");
    },
    close() {
      control?.close();
      metrics?.close();
    },
  };
}
