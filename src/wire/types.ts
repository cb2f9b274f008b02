/**
 * Typed IGMP (RFC 1112, RFC 2236, RFC 9776) and MLD (RFC 2710, RFC 9777) messages.
 *
 * This file is the contract between the codecs (src/wire), the router engine
 * (src/router) and the daemon. Addresses are canonical text: dotted quad for IPv4,
 * RFC 5952 compressed lower-case form for IPv6 ("fe80::1"). The unspecified group
 * ("0.0.0.0" / "::") marks a General Query.
 */

export type IpFamily = "ipv4" | "ipv6";

/** Canonical textual address (see module comment). */
export type Address = string;

/** RFC 9776 §4.2.12 / RFC 9777 §5.2.12 record types. */
export const RecordType = {
  MODE_IS_INCLUDE: 1,
  MODE_IS_EXCLUDE: 2,
  CHANGE_TO_INCLUDE_MODE: 3,
  CHANGE_TO_EXCLUDE_MODE: 4,
  ALLOW_NEW_SOURCES: 5,
  BLOCK_OLD_SOURCES: 6,
} as const;
export type KnownRecordType = (typeof RecordType)[keyof typeof RecordType];

/** One group record of an IGMPv3 / MLDv2 report. */
export interface GroupRecord {
  /** Raw record type; values outside 1..6 are kept so the receiver can skip and count them. */
  recordType: number;
  group: Address;
  sources: Address[];
  /** Auxiliary data words (skipped by routers, kept for round trips). */
  auxData: Uint8Array;
}

/**
 * Membership Query. IGMP: version 1 (8 bytes, max resp 0), 2 (8 bytes), 3 (>= 12 bytes).
 * MLD: version 1 (24 bytes), 2 (>= 28 bytes).
 */
export interface Query {
  type: "query";
  family: IpFamily;
  version: 1 | 2 | 3;
  /** Raw Max Resp Code as on the wire (8-bit IGMP, 16-bit MLD). */
  maxRespCode: number;
  /** Decoded maximum response time in milliseconds (IGMPv1 queries: 10 s per RFC 2236 §4). */
  maxRespTimeMs: number;
  /** "0.0.0.0" / "::" for a General Query. */
  group: Address;
  /** v3/MLDv2 only: Suppress Router-Side Processing flag; false otherwise. */
  sFlag: boolean;
  /** v3/MLDv2 only: Querier's Robustness Variable (0 = not given); 0 otherwise. */
  qrv: number;
  /** v3/MLDv2 only: raw QQIC; 0 otherwise. */
  qqic: number;
  /** Decoded Querier's Query Interval in seconds (0 when absent). */
  qqiSeconds: number;
  /** Group-and-source-specific query sources; empty otherwise. */
  sources: Address[];
}

/** IGMPv1 (0x12) / IGMPv2 (0x16) Membership Report, MLDv1 Listener Report (131, version 1). */
export interface Report {
  type: "report";
  family: IpFamily;
  version: 1 | 2;
  group: Address;
}

/** IGMPv2 Leave Group (0x17) / MLDv1 Listener Done (132). */
export interface Leave {
  type: "leave";
  family: IpFamily;
  group: Address;
}

/** IGMPv3 (0x22) / MLDv2 (143) Membership Report. */
export interface V3Report {
  type: "v3report";
  family: IpFamily;
  records: GroupRecord[];
}

export type Message = Query | Report | Leave | V3Report;

/** Why a datagram was not accepted by a codec. Stable strings: used as counter labels. */
export type ParseErrorReason = "truncated" | "bad-checksum" | "unknown-type" | "bad-length" | "bad-field";

export interface ParseError {
  reason: ParseErrorReason;
  /** Human-readable detail for debug logs ("record 3 claims 40 sources, 12 bytes left"). */
  detail: string;
}

export type ParseResult = { ok: true; message: Message } | { ok: false; error: ParseError };
