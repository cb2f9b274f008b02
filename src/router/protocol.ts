/**
 * Protocol descriptors: what differs between IGMP (IPv4) and MLD (IPv6) for the one
 * generic engine. The engine works on a "compatibility level":
 *   1 = IGMPv1, 2 = IGMPv2 / MLDv1, 3 = IGMPv3 / MLDv2
 * (RFC 9777 §8: MLDv1 plays the part IGMPv2 plays for IGMPv3; there is no MLD level 1).
 */
import { generalQuery, groupQuery, groupSourceQueries } from "../wire/builders.js";
import type { Address, IpFamily, Query } from "../wire/types.js";

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

export interface ProtocolDescriptor {
  family: IpFamily;
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
  /**
   * Builds a query in the given level's wire format (src/wire builders); a Q(G,S) whose
   * sources do not fit one packet is split (RFC 9776 §4.1.8, RFC 9777 §5.1.10).
   */
  buildQueries(p: QueryParams): Query[];
}

function buildQueries(family: IpFamily, version: 1 | 2 | 3, p: QueryParams): Query[] {
  const opts = {
    maxRespTimeMs: p.maxRespTimeMs,
    sFlag: p.sFlag,
    qrv: p.robustnessVariable,
    qqiSeconds: p.queryIntervalMs / 1000,
  };
  if (p.sources.length > 0) return groupSourceQueries(family, p.group, p.sources, opts);
  if (p.group === (family === "ipv4" ? "0.0.0.0" : "::")) return [generalQuery(family, version, opts)];
  return [groupQuery(family, version, p.group, opts)];
}

export const IGMP: ProtocolDescriptor = {
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
  buildQueries: (p) => buildQueries("ipv4", p.level, p),
};

export const MLD: ProtocolDescriptor = {
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
  buildQueries: (p) => buildQueries("ipv6", p.level === 3 ? 2 : 1, p),
};

export function protocolDescriptor(family: IpFamily): ProtocolDescriptor {
  return family === "ipv4" ? IGMP : MLD;
}
