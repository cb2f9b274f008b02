/**
 * The querier heard on each upstream link of one family, and the warnings that name the
 * cause and the fix when the kernel's host stack there answers in an older version
 * (src/proxy/upstream-querier.ts; docs/kernel.md "Upstream querier version"):
 * - an upstream router that queries with IGMPv1/v2 or MLDv1 makes Linux report in that
 *   version until the Older Version Querier Present timer runs out: source-specific
 *   membership (INCLUDE/EXCLUDE source lists) cannot be expressed upstream;
 * - `force_igmp_version` / `force_mld_version` set on the upstream interface do the same
 *   for good (checked when the link attaches).
 * The return to the newest version is logged at info when the timer runs out.
 */
import type { Scheduler, TimerId } from "../clock/index.js";
import { readInterfaceSysctlInt } from "../kernel/sysctl.js";
import {
  FORCE_VERSION_SYSCTL,
  NEWEST_VERSION,
  protocolVersionName,
  UpstreamQuerierWatch,
} from "../proxy/upstream-querier.js";
import type { Logger } from "../util/log.js";
import type { Address, IpFamily, Query } from "../wire/types.js";

/** What status shows of an upstream link's querier (snapshot.ts LinkStatusSnapshot). */
export interface UpstreamQuerierStatus {
  /** Source and version of the last query heard; null before the first. */
  address: Address | null;
  version: number | null;
  /** The version the kernel reports in upstream now. */
  compatibilityVersion: number;
  /** Time left on the Older Version Querier Present timer; null at the newest version. */
  olderVersionMs: number | null;
  /** force_igmp_version / force_mld_version of the interface when it forces an older version. */
  forcedVersion: number | null;
}

interface Watched {
  watch: UpstreamQuerierWatch;
  timer: TimerId | null;
  /** The interface's force_*_version sysctl when it forces an older version, else null. */
  forced: number | null;
}

export interface UpstreamQueriersOptions {
  family: IpFamily;
  log: Logger;
  scheduler: Scheduler;
  /** The interface's force_igmp_version / force_mld_version (tests); default: the sysctl. */
  forcedVersion?: (ifname: string) => number | null;
}

export class UpstreamQueriers {
  private readonly links = new Map<string, Watched>();

  constructor(private readonly opts: UpstreamQueriersOptions) {}

  /** The upstream link `name` attached: a fresh watch; warns when a sysctl forces an older version. */
  attach(name: string): void {
    this.detach(name);
    const { family, log, scheduler } = this.opts;
    const read =
      this.opts.forcedVersion ??
      ((ifname: string) => readInterfaceSysctlInt(family, ifname, FORCE_VERSION_SYSCTL[family]));
    const value = read(name);
    const forced = value !== null && value > 0 && value < NEWEST_VERSION[family] ? value : null;
    this.links.set(name, { watch: new UpstreamQuerierWatch(family, () => scheduler.now()), timer: null, forced });
    if (forced === null) return;
    const sysctl = `net.${family}.conf.${name}.${FORCE_VERSION_SYSCTL[family]}`;
    log.warn(
      { interface: name, sysctl, value: forced },
      `${sysctl} = ${forced}: the kernel reports upstream in ${protocolVersionName(family, forced)}, which has no ` +
        `source lists, so source-specific joins cannot be expressed upstream (only whole groups are joined); ` +
        `set ${sysctl}=0 unless the upstream router needs it`,
    );
  }

  detach(name: string): void {
    const w = this.links.get(name);
    if (w?.timer != null) this.opts.scheduler.cancel(w.timer);
    this.links.delete(name);
  }

  close(): void {
    for (const name of [...this.links.keys()]) this.detach(name);
  }

  /** A query heard on the upstream link `name` from `source`. */
  heard(name: string, source: Address, query: Query): void {
    const w = this.links.get(name);
    if (!w) return;
    const change = w.watch.heard(source, query);
    if (change) this.logChange(name, w, change.version, change.previous, change.querier);
    this.arm(name, w);
  }

  /** The querier heard on `name` and the version the host stack answers in; null when nothing to say. */
  state(name: string): UpstreamQuerierStatus | null {
    const w = this.links.get(name);
    if (!w) return null;
    const s = w.watch.state();
    if (s === null && w.forced === null) return null;
    const newest = NEWEST_VERSION[this.opts.family];
    return {
      address: s?.address ?? null,
      version: s?.version ?? null,
      compatibilityVersion: Math.min(s?.compatibilityVersion ?? newest, w.forced ?? newest),
      olderVersionMs: s?.olderVersionMs ?? null,
      forcedVersion: w.forced,
    };
  }

  /** Re-arms the check for the end of the Older Version Querier Present timer. */
  private arm(name: string, w: Watched): void {
    const left = w.watch.state()?.olderVersionMs ?? null;
    const { scheduler } = this.opts;
    if (w.timer !== null) scheduler.cancel(w.timer);
    w.timer = null;
    if (left === null) return;
    w.timer = scheduler.at(scheduler.now() + left, () => {
      w.timer = null;
      const change = w.watch.check();
      if (change) this.logChange(name, w, change.version, change.previous, null);
      this.arm(name, w);
    });
  }

  private logChange(name: string, w: Watched, version: number, previous: number, querier: Address | null): void {
    const { family, log } = this.opts;
    const now = protocolVersionName(family, version);
    if (version > previous) {
      log.info(
        { interface: name, version: now, previous: protocolVersionName(family, previous) },
        `no older-version querier heard on the upstream for its timeout: the kernel reports upstream in ${now} again`,
      );
      return;
    }
    const seconds = Math.round((w.watch.state()?.olderVersionMs ?? 0) / 1000);
    log.warn(
      { interface: name, querier, version: now, previous: protocolVersionName(family, previous), seconds },
      `the upstream router ${querier ?? ""} queries with ${now}: the kernel reports upstream in ${now} ` +
        `(for ${seconds} s after each such query), which has no source lists, so source-specific joins ` +
        `cannot be expressed upstream (only whole groups are joined); configure the upstream router for ` +
        `${protocolVersionName(family, NEWEST_VERSION[family])}`,
    );
  }
}
