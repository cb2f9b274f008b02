/**
 * Daemon lifecycle: config -> interfaces -> one FamilyProxy per enabled family; signals;
 * cleanup. Runs in the foreground like IMProxy; logs to stderr or syslog.
 */
import { unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { loadConfigWithWarnings } from "../config/load.js";
import type { ImproxyConfig } from "../config/types.js";
import { RealScheduler } from "../clock/real.js";
import { MrouteSocket } from "../kernel/mroute-socket.js";
import { MrouteTable } from "../kernel/mroute-table.js";
import { ReportSocket } from "../kernel/report-socket.js";
import { LinkWatcher } from "../kernel/rtnetlink.js";
import { sdNotify } from "../kernel/sdnotify.js";
import { SyslogSocket } from "../kernel/syslog-socket.js";
import { createLogger, type Logger } from "../util/log.js";
import type { SyslogSettings } from "../util/syslog.js";
import type { IpFamily } from "../wire/types.js";
import { ErrorOwner } from "./errors.js";
import { FamilyProxy } from "./family-proxy.js";
import { InterfaceTable } from "./interfaces.js";
import { dropPrivileges, type IdentityCalls } from "./privileges.js";
import { type ReloadReport, RESTART_ONLY, reloadReport } from "./reload-report.js";

/**
 * The operator interfaces (control socket, metrics) started once the kernel state is up.
 * Supplied by the caller (the CLI passes src/control's startControlPlane): the daemon does
 * not import the control layer, which sits above it (docs/architecture.md "Layers").
 */
export interface OperatorInterfaces {
  /** The state tables as text (SIGUSR1). */
  dump(): string;
  /** The same views as documents (SIGUSR1 with JSON logs). */
  dumpDocuments(): Array<{ view: string; state: unknown }>;
  close(): void;
}
export type StartOperatorInterfaces = (daemon: Daemon) => Promise<OperatorInterfaces>;

export interface DaemonOptions {
  config: ImproxyConfig;
  /** Control socket and metrics; none when omitted. */
  operatorInterfaces?: StartOperatorInterfaces;
  /** IMProxy `-d` level 0..5. */
  debugLevel: number;
  pidFile?: string;
  logFormat: "pretty" | "json";
  /** Log to syslog with these settings instead of stderr (`logFormat` is then not used). */
  syslog?: SyslogSettings;
  /** The identity calls of the `user` setting (tests); default: the process's. */
  identity?: IdentityCalls;
}

export interface ReloadResult {
  ok: boolean;
  /** Why the file was rejected (FILE:LINE: reason) or could not be applied. */
  error?: string;
  /** What the reload changed, and its warnings (when ok). */
  report?: ReloadReport;
}

/** A running daemon: its parts, for the CLI, the control socket and tests. */
export class Daemon {
  readonly interfaces = new InterfaceTable();
  readonly families: FamilyProxy[] = [];
  /** The one scheduler of the engines, the idle checks and the flow-rate sampler. */
  readonly scheduler: RealScheduler;
  /** Where run-time errors go (see errors.ts). */
  readonly errors: ErrorOwner;
  private watcher: LinkWatcher | null = null;
  /** Control socket and metrics endpoint, when started (see OperatorInterfaces). */
  private controlPlane: OperatorInterfaces | null = null;

  private reloading: Promise<ReloadResult> = Promise.resolve({ ok: true });
  private failWith: (err: Error) => void = () => undefined;
  /** Resolves with the error when the daemon cannot go on (`fatal`). */
  readonly failed: Promise<Error> = new Promise((resolve) => {
    this.failWith = resolve;
  });

  constructor(
    public config: ImproxyConfig,
    readonly log: Logger,
    private readonly operatorInterfaces?: StartOperatorInterfaces,
  ) {
    this.errors = new ErrorOwner(log, (err) => this.fatal(err));
    this.scheduler = new RealScheduler({ onError: (err) => this.errors.timer(err) });
  }

  /** The daemon cannot go on (a dead mroute socket): `runDaemon` stops it and exits 1. */
  fatal(err: Error): void {
    this.failWith(err);
  }

  private familiesOf(config: ImproxyConfig): IpFamily[] {
    const out: IpFamily[] = [];
    if (config.igmpEnabled) out.push("ipv4");
    if (config.mldEnabled) out.push("ipv6");
    return out;
  }

  private openFamily(family: IpFamily, config: ImproxyConfig): FamilyProxy {
    let proxy: FamilyProxy | undefined;
    // Receive errors are logged and counted and the socket reads on; a poll failure means
    // it delivers nothing any more: the daemon stops rather than run deaf (errors.ts).
    const onError = this.errors.socketHandler(family, () => {
      if (proxy) proxy.counters.kernelErrors++;
    });
    const socket = MrouteSocket.open(family, { table: config.mrouteTable, onError });
    proxy = new FamilyProxy({
      family,
      config,
      log: this.log,
      scheduler: this.scheduler,
      interfaces: this.interfaces,
      socket,
      table: new MrouteTable(socket),
      openReportSocket: (o) => ReportSocket.open({ family, ...o, onError }),
      // A long upstream batch goes on right after pending I/O, not 1 ms later.
      yieldTo: (fn) => setImmediate(fn),
    });
    return proxy;
  }

  /**
   * Re-reads the config file (SIGHUP, `improxy reload`). An invalid file is rejected with
   * its reason and the running configuration stays. Unchanged interfaces keep their state
   * and forwarding; added/removed downstreams are brought up/down; timer changes apply.
   * Reloads are serialized.
   */
  reload(): Promise<ReloadResult> {
    this.reloading = this.reloading.then(() => this.reloadNow());
    return this.reloading;
  }

  /** Resolves when no reload is running. */
  async reloadSettled(): Promise<void> {
    await this.reloading;
  }

  private reloadNow(): ReloadResult {
    sdNotify(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
    try {
      return this.reloadConfig();
    } finally {
      sdNotify("READY=1");
    }
  }

  private reloadConfig(): ReloadResult {
    const { log } = this;
    let next: ImproxyConfig;
    let report: ReloadReport;
    try {
      const parsed = loadConfigWithWarnings(this.config.file);
      report = reloadReport(this.config, parsed.config, parsed.warnings);
      next = parsed.config;
    } catch (err) {
      const error = (err as Error).message;
      log.error({ error }, "reload rejected, keeping the running configuration");
      return { ok: false, error };
    }
    // The settings a running daemon cannot change keep their running values (a warning each).
    const keep = Object.fromEntries(RESTART_ONLY.map((k) => [k, this.config[k]])) as Partial<ImproxyConfig>;
    next = { ...next, ...keep };
    const wanted = this.familiesOf(next);
    try {
      for (const f of [...this.families]) {
        if (wanted.includes(f.family)) {
          f.applyConfig(next);
        } else {
          f.close();
          this.families.splice(this.families.indexOf(f), 1);
          log.info({ family: f.family }, "family disabled by reload");
        }
      }
      for (const family of wanted) {
        if (this.families.some((f) => f.family === family)) continue;
        const f = this.openFamily(family, next);
        this.families.push(f);
        f.reconcileAll();
        f.reportWaiting();
        log.info({ family }, "family enabled by reload");
      }
    } catch (err) {
      const error = (err as Error).message;
      log.error({ error }, "reload failed");
      return { ok: false, error };
    }
    this.config = next;
    logReloadReport(log, report);
    log.info({ config: next.file }, "configuration reloaded");
    return { ok: true, report };
  }

  /** Opens the kernel state; throws (having undone everything) when that fails. */
  async start(): Promise<void> {
    const { config, log } = this;
    try {
      this.watcher = LinkWatcher.open({ onError: (err) => this.errors.watcher(err) });
      this.watcher.onEvent((ev) => {
        for (const name of this.interfaces.apply(ev)) for (const f of this.families) f.reconcile(name);
      });
      const dump = await this.watcher.dump();
      this.interfaces.load(dump.links, dump.addresses);
      for (const family of this.familiesOf(config)) this.families.push(this.openFamily(family, config));
    } catch (err) {
      this.stop();
      throw err;
    }
    log.info(
      {
        config: config.file,
        upstreams: config.upstreams.map((u) => u.name),
        downstreams: config.downstreams.map((d) => d.name),
        defaultDownstream: config.defaultDownstream !== null,
        igmp: config.igmpEnabled,
        mld: config.mldEnabled,
      },
      "improxy starting",
    );
    for (const f of this.families) {
      f.reconcileAll();
      f.reportWaiting();
    }
    // Control socket and metrics: read-only views of the state above.
    try {
      this.controlPlane = (await this.operatorInterfaces?.(this)) ?? null;
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /** The state tables as text (SIGUSR1). */
  dump(): string {
    return this.controlPlane?.dump() ?? "";
  }

  /** The state tables as documents, one per view (SIGUSR1 with JSON logs). */
  dumpDocuments(): Array<{ view: string; state: unknown }> {
    return this.controlPlane?.dumpDocuments() ?? [];
  }

  /** Removes everything created in the kernel. Safe to call twice. */
  stop(): void {
    this.controlPlane?.close();
    this.controlPlane = null;
    for (const f of this.families.splice(0)) {
      try {
        f.close();
      } catch (err) {
        this.log.error({ family: f.family, err: (err as Error).message }, "cleanup failed");
      }
    }
    this.watcher?.close();
    this.watcher = null;
    this.scheduler.close();
  }
}

/**
 * A reload's report in the log (SIGHUP and `improxy reload` alike): each warning, each link
 * added or removed, one line per interface naming its changed settings, one per global one.
 */
function logReloadReport(log: Logger, report: ReloadReport): void {
  for (const w of report.warnings) log.warn(w);
  for (const i of report.interfaces) {
    log.info({ family: i.family, interface: i.interface, role: i.role }, `interface ${i.change} by reload`);
  }
  const byInterface = new Map<string, string[]>();
  for (const s of report.settings) {
    const what = `${s.family === null ? "" : `${s.family === "ipv4" ? "igmp" : "mld"} `}${s.setting}`;
    if (s.interface === null) {
      log.info({ setting: what, old: s.old, new: s.new }, "setting changed by reload");
      continue;
    }
    const list = byInterface.get(s.interface) ?? [];
    list.push(`${what} ${s.old} -> ${s.new}`);
    byInterface.set(s.interface, list);
  }
  for (const [name, changes] of byInterface) {
    log.info({ interface: name, changes }, "interface settings changed by reload");
  }
}

/** Runs the daemon in the foreground until SIGTERM/SIGINT; resolves with the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger({
    debugLevel: opts.debugLevel,
    format: opts.logFormat,
    ...(opts.syslog
      ? { syslog: { ...opts.syslog, sender: new SyslogSocket(opts.syslog.path), hostname: hostname() } }
      : {}),
  });
  const daemon = new Daemon(opts.config, log, opts.operatorInterfaces);
  // Last resort (errors.ts): an exception nothing caught stops the daemon cleanly, exit 1.
  const onUncaught = (err: unknown, origin: string) => daemon.errors.uncaught(err, origin);
  const onRejection = (reason: unknown) => daemon.errors.uncaught(reason, "unhandledRejection");
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onRejection);
  try {
    return await runUntilStopped(daemon, opts);
  } finally {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onRejection);
  }
}

async function runUntilStopped(daemon: Daemon, opts: DaemonOptions): Promise<number> {
  const { log } = daemon;
  let running = false;
  const onHup = () => {
    if (!running) {
      log.warn({ signal: "SIGHUP" }, "not reloading: still starting");
      return;
    }
    log.info({ signal: "SIGHUP" }, "reloading the configuration");
    void daemon.reload();
  };
  // SIGUSR1 printed the state tables in IMProxy; it does so here too. The listener also
  // keeps Node.js from opening its inspector on SIGUSR1 (a debugger port in a root daemon).
  // With JSON logs the tables are log lines too (one per view: status, groups, routes,
  // each the control socket's document), so a log reader never meets a text table.
  const onUsr1 = () => {
    if (!running) return;
    // To syslog the tables are info lines, one per table line (a document would not fit a datagram).
    if (opts.syslog) {
      for (const line of daemon.dump().split("\n")) if (line.trim() !== "") log.info(line);
    } else if (opts.logFormat === "json") {
      for (const { view, state } of daemon.dumpDocuments()) log.info({ signal: "SIGUSR1", view, state }, "state tables");
    } else process.stderr.write(`${daemon.dump()}\n`);
  };
  // SIGTERM/SIGINT are taken from the first moment: one that arrives while the kernel state
  // is being set up stops the daemon as soon as the start is done, with the usual cleanup
  // (Node's default action would end the process without it).
  let onSignal: (s: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.on("SIGHUP", onHup);
  process.on("SIGUSR1", onUsr1);
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    try {
      await daemon.start();
    } catch (err) {
      log.fatal((err as Error).message);
      return 1;
    }
    if (opts.pidFile) {
      try {
        writeFileSync(opts.pidFile, `${process.pid}\n`);
      } catch (err) {
        log.fatal(`cannot write pid file ${opts.pidFile}: ${(err as Error).message}`);
        daemon.stop();
        return 1;
      }
    }
    // `user` (igmpproxy `user NAME`): every socket that needs privileges is open now.
    const user = opts.config.user;
    if (user !== null) {
      try {
        const who = dropPrivileges(user, opts.identity);
        log.info({ user, uid: who.uid, gid: who.gid, changed: who.changed }, "running as user");
      } catch (err) {
        log.fatal((err as Error).message);
        daemon.stop();
        if (opts.pidFile) unlinkQuietly(opts.pidFile);
        return 1;
      }
    }
    running = true;
    sdNotify(
      `READY=1\nSTATUS=proxying ${opts.config.upstreams.map((u) => u.name).join(", ")} -> ${[
        ...opts.config.downstreams.map((d) => d.name),
        ...(opts.config.defaultDownstream ? ["every other interface"] : []),
      ].join(", ")}`,
    );
    const ended = await Promise.race([
      signalled.then((signal) => ({ signal, error: null })),
      daemon.failed.then((error) => ({ signal: null, error })),
    ]);
    await daemon.reloadSettled(); // let a running reload finish first
    sdNotify("STOPPING=1");
    if (ended.error)
      log.error({ err: ended.error.message }, "stopping after a fatal error: removing forwarding state");
    else log.info({ signal: ended.signal }, "stopping: removing forwarding state");
    daemon.stop();
    // After `user`, a pid file in a directory the user may not write stays behind.
    if (opts.pidFile) unlinkQuietly(opts.pidFile);
    log.info("stopped");
    return ended.error ? 1 : 0;
  } finally {
    process.off("SIGHUP", onHup);
    process.off("SIGUSR1", onUsr1);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone, or not ours to remove any more */
  }
}
