/**
 * Family descriptors: what differs between IGMP (IPv4) and MLD (IPv6) for the one
 * generic engine. The engine works on a "compatibility level":
 *   1 = IGMPv1, 2 = IGMPv2 / MLDv1, 3 = IGMPv3 / MLDv2
 * (RFC 9777 §8: MLDv1 plays the part IGMPv2 plays for IGMPv3; there is no MLD level 1).
 */
import {
  igmpv2MaxRespCodeToMs,
  igmpv3MaxRespCodeToMs,
  mldv2MaxRespCodeToMs,
  msToIgmpv2MaxRespCode,
  msToIgmpv3MaxRespCode,
  msToMldv1MaxRespDelay,
  msToMldv2MaxRespCode,
  qqicToSeconds,
  secondsToQqic,
} from "../wire/floatcode.js";
import type { Address, Family, Query } from "../wire/types.js";

export type Level = 1 | 2 | 3;

export interface QueryParams {
  level: Level;
  group: Address;
  sources: Address[];
  maxRespTimeMs: number;
  sFlag: boolean;
  robustnessVariable: number;
  queryIntervalMs: number;
}

export interface FamilyDescriptor {
  family: Family;
  /** Protocol name for logs and snapshots. */
  protocol: "igmp" | "mld";
  /** General query group ("0.0.0.0" / "::"). */
  unspecified: Address;
  /** All-systems / all-nodes: destination of general queries. */
  allHosts: Address;
  /** Configured protocol version -> level (throws on an impossible version). */
  levelOfVersion(version: number): Level;
  /** Level -> protocol version number (for snapshots and counters). */
  versionOfLevel(level: Level): number;
  /** Older-version report (Report.version) -> level. */
  levelOfReport(version: 1 | 2): Level;
  /** Query message version -> level. */
  levelOfQuery(version: 1 | 2 | 3): Level;
  /** Builds a query in the given level's wire format. */
  buildQuery(p: QueryParams): Query;
}

/** QRV field is 3 bits; larger robustness values are sent as 0 (RFC 9776 §4.1.6). */
function qrvField(rv: number): number {
  return rv >= 1 && rv <= 7 ? rv : 0;
}

export const IGMP: FamilyDescriptor = {
  family: "ipv4",
  protocol: "igmp",
  unspecified: "0.0.0.0",
  allHosts: "224.0.0.1",
  levelOfVersion(version) {
    if (version === 1 || version === 2 || version === 3) return version;
    throw new RangeError(`IGMP version ${version} is not 1, 2 or 3`);
  },
  versionOfLevel: (level) => level,
  levelOfReport: (version) => version,
  levelOfQuery: (version) => version,
  buildQuery(p) {
    const base = { type: "query", family: "ipv4", group: p.group } as const;
    if (p.level === 1) {
      // RFC 1112: max resp 0, hosts answer within 10 s (RFC 2236 §4).
      return {
        ...base,
        version: 1,
        maxRespCode: 0,
        maxRespTimeMs: 10_000,
        sFlag: false,
        qrv: 0,
        qqic: 0,
        qqiSeconds: 0,
        sources: [],
      };
    }
    if (p.level === 2) {
      const maxRespCode = msToIgmpv2MaxRespCode(p.maxRespTimeMs);
      return {
        ...base,
        version: 2,
        maxRespCode,
        maxRespTimeMs: igmpv2MaxRespCodeToMs(maxRespCode),
        sFlag: false,
        qrv: 0,
        qqic: 0,
        qqiSeconds: 0,
        sources: [],
      };
    }
    const maxRespCode = msToIgmpv3MaxRespCode(p.maxRespTimeMs);
    const qqic = secondsToQqic(p.queryIntervalMs / 1000);
    return {
      ...base,
      version: 3,
      maxRespCode,
      maxRespTimeMs: igmpv3MaxRespCodeToMs(maxRespCode),
      sFlag: p.sFlag,
      qrv: qrvField(p.robustnessVariable),
      qqic,
      qqiSeconds: qqicToSeconds(qqic),
      sources: p.sources,
    };
  },
};

export const MLD: FamilyDescriptor = {
  family: "ipv6",
  protocol: "mld",
  unspecified: "::",
  allHosts: "ff02::1",
  levelOfVersion(version) {
    if (version === 1) return 2;
    if (version === 2) return 3;
    throw new RangeError(`MLD version ${version} is not 1 or 2`);
  },
  versionOfLevel: (level) => (level === 3 ? 2 : 1),
  levelOfReport: () => 2,
  levelOfQuery: (version) => (version === 1 ? 2 : 3),
  buildQuery(p) {
    const base = { type: "query", family: "ipv6", group: p.group } as const;
    if (p.level < 3) {
      const maxRespCode = msToMldv1MaxRespDelay(p.maxRespTimeMs);
      return {
        ...base,
        version: 1,
        maxRespCode,
        maxRespTimeMs: maxRespCode,
        sFlag: false,
        qrv: 0,
        qqic: 0,
        qqiSeconds: 0,
        sources: [],
      };
    }
    const maxRespCode = msToMldv2MaxRespCode(p.maxRespTimeMs);
    const qqic = secondsToQqic(p.queryIntervalMs / 1000);
    return {
      ...base,
      version: 2,
      maxRespCode,
      maxRespTimeMs: mldv2MaxRespCodeToMs(maxRespCode),
      sFlag: p.sFlag,
      qrv: qrvField(p.robustnessVariable),
      qqic,
      qqiSeconds: qqicToSeconds(qqic),
      sources: p.sources,
    };
  },
};

export function familyDescriptor(family: Family): FamilyDescriptor {
  return family === "ipv4" ? IGMP : MLD;
}
