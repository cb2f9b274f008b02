/**
 * The upstream querier as the kernel's host stack on an upstream link sees it, and the
 * version that host stack answers in (its host compatibility mode, RFC 9776 §7.2.1 for
 * IGMPv3, RFC 9777 §8.2.1 for MLDv2). Pure: fed with the queries the proxy hears on the
 * upstream link, driven by the caller's clock (docs/kernel.md "Upstream querier version").
 *
 * Why it matters: while an older-version querier is present, Linux answers upstream in
 * IGMPv1/v2 or MLDv1, which have no source lists: the proxy's merged INCLUDE/EXCLUDE
 * source filters cannot be expressed upstream, only whole-group joins. The daemon warns
 * with the cause and the fix.
 *
 * The Older Version Querier Present Timeout is Robustness Variable x Query Interval +
 * Query Response Interval (RFC 9776 §8.12, RFC 9777 §9.12). Linux computes it with the
 * values learned from the last IGMPv3/MLDv2 query heard while no older querier was present
 * (0 or nothing heard: the defaults 2, 125 s, 10 s, so 260 s) and restarts it at every
 * older query; this model does the same, so its mode is the
 * kernel's (/proc/net/igmp shows it for IPv4 as the device's "Querier" column).
 */
import type { Address, IpFamily, Query } from "../wire/types.js";

/** Newest version of each family's protocol: IGMPv3, MLDv2. */
export const NEWEST_VERSION: Readonly<Record<IpFamily, number>> = { ipv4: 3, ipv6: 2 };

/** The per-interface sysctl that pins the host side's version (0: not forced). */
export const FORCE_VERSION_SYSCTL: Readonly<Record<IpFamily, string>> = {
  ipv4: "force_igmp_version",
  ipv6: "force_mld_version",
};

/** Protocol name with version: "IGMPv2", "MLDv1". */
export function protocolVersionName(family: IpFamily, version: number): string {
  return `${family === "ipv4" ? "IGMP" : "MLD"}v${version}`;
}

/** The Linux defaults the timeout uses until a newest-version query taught others. */
const DEFAULT_ROBUSTNESS = 2;
const DEFAULT_QUERY_INTERVAL_MS = 125_000;
const DEFAULT_QUERY_RESPONSE_INTERVAL_MS = 10_000;

export interface UpstreamQuerierState {
  /** Source of the last query heard. */
  address: Address;
  /** Version of the last query heard. */
  version: number;
  /** Version the host stack answers in now: the oldest querier version still present. */
  compatibilityVersion: number;
  /** Time left until the host stack returns to a newer version; null when at the newest. */
  olderVersionMs: number | null;
}

/** A change of the host compatibility mode, for the log. */
export interface CompatibilityChange {
  /** The version the host stack answers in from now on. */
  version: number;
  previous: number;
  /** The querier whose query caused a fallback; null when an older querier's timer ran out. */
  querier: Address | null;
}

export class UpstreamQuerierWatch {
  private last: { address: Address; version: number } | null = null;
  /** Per older version (IGMPv1, IGMPv2, MLDv1): when its Older Version Querier Present timer ends. */
  private readonly olderUntil = new Map<number, number>();
  private robustness = DEFAULT_ROBUSTNESS;
  private queryIntervalMs = DEFAULT_QUERY_INTERVAL_MS;
  private responseIntervalMs = DEFAULT_QUERY_RESPONSE_INTERVAL_MS;
  /** The mode last reported by `heard`/`check`, to report changes once. */
  private reported: number;

  constructor(
    private readonly family: IpFamily,
    private readonly now: () => number,
  ) {
    this.reported = NEWEST_VERSION[family];
  }

  /**
   * A query heard from `source` on the upstream link. Returns the change of the host
   * compatibility mode it (or the time passed since the last call) caused, else null.
   */
  heard(source: Address, q: Query): CompatibilityChange | null {
    const now = this.now();
    this.last = { address: source, version: q.version };
    if (q.version === NEWEST_VERSION[this.family]) {
      // RFC 9776 §4.1.6-7 / RFC 9777 §5.1.8-9: the querier's robustness, interval and
      // response time, learned as Linux does: only while no older querier is present, a 0
      // meaning the default.
      if (this.compatibilityVersion(now) === NEWEST_VERSION[this.family]) {
        this.robustness = q.qrv || DEFAULT_ROBUSTNESS;
        this.queryIntervalMs = q.qqiSeconds * 1000 || DEFAULT_QUERY_INTERVAL_MS;
        this.responseIntervalMs = q.maxRespTimeMs || DEFAULT_QUERY_RESPONSE_INTERVAL_MS;
      }
    } else {
      const timeout = this.robustness * this.queryIntervalMs + this.responseIntervalMs;
      this.olderUntil.set(q.version, now + timeout);
    }
    return this.change(source);
  }

  /** The mode change caused by time alone (an older querier's timer ran out), else null. */
  check(): CompatibilityChange | null {
    return this.change(null);
  }

  /** null until a query was heard. */
  state(): UpstreamQuerierState | null {
    if (this.last === null) return null;
    const now = this.now();
    const version = this.compatibilityVersion(now);
    const until = this.olderUntil.get(version);
    return {
      address: this.last.address,
      version: this.last.version,
      compatibilityVersion: version,
      olderVersionMs: until === undefined ? null : until - now,
    };
  }

  private compatibilityVersion(now: number): number {
    let version = NEWEST_VERSION[this.family];
    for (const [v, until] of this.olderUntil) {
      if (until <= now) this.olderUntil.delete(v);
      else if (v < version) version = v;
    }
    return version;
  }

  private change(querier: Address | null): CompatibilityChange | null {
    const version = this.compatibilityVersion(this.now());
    if (version === this.reported) return null;
    const previous = this.reported;
    this.reported = version;
    return { version, previous, querier: version < previous ? querier : null };
  }
}
