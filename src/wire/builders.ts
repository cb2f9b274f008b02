/**
 * Builders of typed messages for the router engine, tests and benchmarks. Every builder
 * returns exactly the object `parse(serialize(x))` gives back: raw codes and decoded times
 * agree (the time is rounded down to what the wire can carry, see floatcode.ts), addresses
 * are canonical.
 *
 * Version numbers follow the contract of ./types.ts: IGMP queries 1/2/3, MLD queries 1/2;
 * the "current" version (IGMPv3 / MLDv2) is `currentQueryVersion(family)`.
 */
import { canonicalAddress } from "./address.js";
import {
  decodeCode8,
  igmpv2MaxRespCodeToMs,
  igmpv3MaxRespCodeToMs,
  mldv2MaxRespCodeToMs,
  msToIgmpv2MaxRespCode,
  msToIgmpv3MaxRespCode,
  msToMldv1MaxRespDelay,
  msToMldv2MaxRespCode,
  secondsToQqic,
} from "./floatcode.js";
import { IGMPV1_MAX_RESP_TIME_MS } from "./igmp.js";
import { NO_AUX_DATA } from "./result.js";
import type { Address, IpFamily, GroupRecord, Leave, Query, Report, V3Report } from "./types.js";

export interface QueryOptions {
  /** Maximum Response Time in ms (default 10,000: RFC 9776 §8.3 Query Response Interval). */
  maxRespTimeMs?: number;
  /** Suppress Router-Side Processing (RFC 9776 §4.1.5); v3/MLDv2 only. */
  sFlag?: boolean;
  /** Querier's Robustness Variable (default 2; above 7 is sent as 0, RFC 9776 §4.1.6). */
  qrv?: number;
  /** Querier's Query Interval in seconds (default 125, RFC 9776 §8.2). */
  qqiSeconds?: number;
}

/** The query version with sources: 3 for IGMP, 2 for MLD. */
export function currentQueryVersion(family: IpFamily): 2 | 3 {
  return family === "ipv4" ? 3 : 2;
}

/** The unspecified address, the group field of a General Query. */
export function unspecifiedAddress(family: IpFamily): Address {
  return family === "ipv4" ? "0.0.0.0" : "::";
}

function makeQuery(
  family: IpFamily,
  version: 1 | 2 | 3,
  group: Address,
  sources: Address[],
  opts: QueryOptions,
): Query {
  const wantMs = opts.maxRespTimeMs ?? 10_000;
  const current = version === currentQueryVersion(family);
  if (family === "ipv6" && version === 3) throw new RangeError("MLD has no version 3 query");
  if (!current && sources.length > 0) throw new RangeError(`a version ${version} query carries no sources`);
  let maxRespCode: number;
  let maxRespTimeMs: number;
  if (family === "ipv4") {
    if (version === 1) {
      maxRespCode = 0;
      maxRespTimeMs = IGMPV1_MAX_RESP_TIME_MS;
    } else if (version === 2) {
      maxRespCode = msToIgmpv2MaxRespCode(wantMs);
      maxRespTimeMs = igmpv2MaxRespCodeToMs(maxRespCode);
    } else {
      maxRespCode = msToIgmpv3MaxRespCode(wantMs);
      maxRespTimeMs = igmpv3MaxRespCodeToMs(maxRespCode);
    }
  } else if (version === 1) {
    maxRespCode = msToMldv1MaxRespDelay(wantMs);
    maxRespTimeMs = maxRespCode;
  } else {
    maxRespCode = msToMldv2MaxRespCode(wantMs);
    maxRespTimeMs = mldv2MaxRespCodeToMs(maxRespCode);
  }
  let qrv = 0;
  let qqic = 0;
  if (current) {
    const rv = opts.qrv ?? 2;
    qrv = Number.isInteger(rv) && rv >= 0 && rv <= 7 ? rv : 0;
    qqic = secondsToQqic(opts.qqiSeconds ?? 125);
  }
  return {
    type: "query",
    family,
    version,
    maxRespCode,
    maxRespTimeMs,
    group: canonicalAddress(group, family),
    sFlag: current ? (opts.sFlag ?? false) : false,
    qrv,
    qqic,
    qqiSeconds: decodeCode8(qqic),
    sources: sources.map((s) => canonicalAddress(s, family)),
  };
}

/** General Query (RFC 9776 §4.1.9, RFC 9777 §5.1.10): group unspecified, no sources. */
export function generalQuery(family: IpFamily, version: 1 | 2 | 3, opts: QueryOptions = {}): Query {
  return makeQuery(family, version, unspecifiedAddress(family), [], opts);
}

/** Group-Specific Query Q(G). */
export function groupQuery(
  family: IpFamily,
  version: 1 | 2 | 3,
  group: Address,
  opts: QueryOptions = {},
): Query {
  return makeQuery(family, version, group, [], opts);
}

/** Group-and-Source-Specific Query Q(G,S) (IGMPv3 / MLDv2 only). */
export function groupSourceQuery(
  family: IpFamily,
  group: Address,
  sources: readonly Address[],
  opts: QueryOptions = {},
): Query {
  return makeQuery(family, currentQueryVersion(family), group, [...sources], opts);
}

/**
 * The most sources one Q(G,S) may carry so that the IP packet fits `mtu` (RFC 9776
 * §4.1.8, RFC 9777 §5.1.10: split into several queries when they do not fit). Header
 * sizes: IPv4 20 + 4 (Router Alert); IPv6 40 + 8 (Hop-by-Hop with Router Alert).
 */
export function maxQuerySources(family: IpFamily, mtu = 1500): number {
  const room = family === "ipv4" ? mtu - 24 - 12 : mtu - 48 - 28;
  return Math.max(1, Math.floor(room / (family === "ipv4" ? 4 : 16)));
}

/** Q(G,S) split into as many queries as `mtu` requires; one query when there are no sources. */
export function groupSourceQueries(
  family: IpFamily,
  group: Address,
  sources: readonly Address[],
  opts: QueryOptions = {},
  mtu = 1500,
): Query[] {
  const per = maxQuerySources(family, mtu);
  if (sources.length <= per) return [groupSourceQuery(family, group, sources, opts)];
  const out: Query[] = [];
  for (let i = 0; i < sources.length; i += per) {
    out.push(groupSourceQuery(family, group, sources.slice(i, i + per), opts));
  }
  return out;
}

/** IGMPv1/v2 Membership Report or MLDv1 Listener Report (IPv6: version 1 only). */
export function report(family: IpFamily, version: 1 | 2, group: Address): Report {
  if (family === "ipv6" && version !== 1) throw new RangeError("MLD reports of version 1 only (131)");
  return { type: "report", family, version, group: canonicalAddress(group, family) };
}

/** IGMPv2 Leave Group / MLDv1 Done. */
export function leave(family: IpFamily, group: Address): Leave {
  return { type: "leave", family, group: canonicalAddress(group, family) };
}

export interface RecordInput {
  recordType: number;
  group: Address;
  sources?: readonly Address[];
  auxData?: Uint8Array;
}

/** One group record with canonical addresses. */
export function groupRecord(family: IpFamily, r: RecordInput): GroupRecord {
  return {
    recordType: r.recordType,
    group: canonicalAddress(r.group, family),
    sources: (r.sources ?? []).map((s) => canonicalAddress(s, family)),
    auxData: r.auxData ?? NO_AUX_DATA,
  };
}

/** IGMPv3 / MLDv2 report. */
export function v3Report(family: IpFamily, records: readonly RecordInput[]): V3Report {
  return { type: "v3report", family, records: records.map((r) => groupRecord(family, r)) };
}
