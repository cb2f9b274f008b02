/**
 * Daemon lifecycle: config -> interfaces -> one FamilyProxy per enabled family; signals;
 * cleanup. Runs in the foreground like IMProxy; logs to stderr.
 */
import { unlinkSync, writeFileSync } from "node:fs";
import type { ImproxyConfig } from "../config/types.js";
import { RealScheduler } from "../clock/index.js";
import { MrouteSocket } from "../kernel/mroute.js";
import { LinkWatcher } from "../kernel/rtnetlink.js";
import { createLogger, type Logger } from "../util/log.js";
import type { Family } from "../wire/types.js";
import { FamilyProxy } from "./family.js";
import { InterfaceTable } from "./interfaces.js";

export interface DaemonOptions {
  config: ImproxyConfig;
  /** IMProxy `-d` level 0..5. */
  debugLevel: number;
  pidFile?: string;
  logFormat: "pretty" | "json";
}

/** A running daemon: its parts, for the CLI, the control socket and tests. */
export class Daemon {
  readonly interfaces = new InterfaceTable();
  readonly families: FamilyProxy[] = [];
  private readonly scheduler = new RealScheduler();
  private watcher: LinkWatcher | null = null;

  constructor(
    readonly config: ImproxyConfig,
    readonly log: Logger,
  ) {}

  /** Opens the kernel state; throws (having undone everything) when that fails. */
  async start(): Promise<void> {
    const { config, log } = this;
    try {
      this.watcher = LinkWatcher.open();
      this.watcher.onEvent((ev) => {
        for (const name of this.interfaces.apply(ev)) for (const f of this.families) f.reconcile(name);
      });
      const dump = await this.watcher.dump();
      this.interfaces.load(dump.links, dump.addresses);
      const families: Family[] = [];
      if (config.igmpEnabled) families.push("ipv4");
      if (config.mldEnabled) families.push("ipv6");
      for (const family of families) {
        const mroute = MrouteSocket.open(family, { table: config.mrouteTable });
        this.families.push(
          new FamilyProxy({ family, config, log, scheduler: this.scheduler, interfaces: this.interfaces, mroute }),
        );
      }
    } catch (err) {
      this.stop();
      throw err;
    }
    log.info(
      {
        config: config.file,
        upstream: config.upstream.name,
        downstreams: config.downstreams.map((d) => d.name),
        igmp: config.igmpEnabled,
        mld: config.mldEnabled,
      },
      "improxy starting",
    );
    for (const f of this.families) {
      for (const name of f.linkNames()) f.reconcile(name);
      f.reportWaiting();
    }
  }

  /** Removes everything created in the kernel. Safe to call twice. */
  stop(): void {
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

/** Runs the daemon in the foreground until SIGTERM/SIGINT; resolves with the exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const log = createLogger({ debugLevel: opts.debugLevel, format: opts.logFormat });
  const daemon = new Daemon(opts.config, log);
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
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info({ signal }, "stopping: removing forwarding state");
  daemon.stop();
  if (opts.pidFile) {
    try {
      unlinkSync(opts.pidFile);
    } catch {
      /* already gone */
    }
  }
  log.info("stopped");
  return 0;
}
