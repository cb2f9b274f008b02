/**
 * IGMP codec: IGMPv1 (RFC 1112 App. I), IGMPv2 (RFC 2236 §2), IGMPv3 (RFC 9776 §4).
 *
 * `parseIgmp` takes the IGMP message with the IP header already stripped. It never throws
 * and never reads past the buffer: every fixed field is read only after an explicit length
 * check, every count is checked against the bytes left before the loop that uses it.
 *
 * Query versions (RFC 9776 §7.1): an 8-byte query is IGMPv1 when Max Resp Code is 0, else
 * IGMPv2; 12 bytes or more is IGMPv3; 9..11 bytes is "bad-length" (RFC 9776 §7.1 says to
 * ignore such queries). Reports and leaves longer than 8 bytes are accepted and the extra
 * bytes ignored (RFC 2236 §2.5). The checksum covers the whole message (RFC 9776 §4.1.2,
 * RFC 2236 §2.3).
 *
 * `serializeIgmp` writes any `Message` of family "ipv4" with its checksum filled.
 * Which field wins for time codes: the decoded values (`maxRespTimeMs`, `qqiSeconds`) are
 * authoritative; the raw codes (`maxRespCode`, `qqic`) are ignored on output and
 * recomputed with the floatcode encoders (rounding down, see floatcode.ts). Since every
 * representable value has exactly one code, a parsed message re-serializes to the same
 * bytes; an engine that edits the times never sends a stale code.
 */
import { bytesToIpv4, writeIpv4 } from "./address.js";
import { internetChecksum, onesComplementSum } from "./checksum.js";
import {
  igmpv2MaxRespCodeToMs,
  igmpv3MaxRespCodeToMs,
  msToIgmpv2MaxRespCode,
  msToIgmpv3MaxRespCode,
  qqicToSeconds,
} from "./floatcode.js";
import { encodeV3Report, parseV3Report, writeV3QueryTail } from "./records.js";
import { checkRange, fail, ok } from "./result.js";
import type { GroupRecord, Message, ParseResult, Query } from "./types.js";

/** IGMP message types (RFC 9776 §4, RFC 2236 §2.1). */
export const IgmpType = {
  MEMBERSHIP_QUERY: 0x11,
  V1_MEMBERSHIP_REPORT: 0x12,
  V2_MEMBERSHIP_REPORT: 0x16,
  V2_LEAVE_GROUP: 0x17,
  V3_MEMBERSHIP_REPORT: 0x22,
} as const;

/** IGMPv1 hosts use a fixed 10 s Max Response Time (RFC 2236 §4). */
export const IGMPV1_MAX_RESP_TIME_MS = 10_000;

/** Parses one IGMP message (IP payload). Never throws. */
export function parseIgmp(buf: Uint8Array): ParseResult {
  const len = buf.length;
  if (len < 8) return fail("truncated", `IGMP message of ${len} bytes, at least 8 needed`);
  if (onesComplementSum(buf, 0, len) !== 0xffff) {
    return fail("bad-checksum", `IGMP checksum 0x${((buf[2]! << 8) | buf[3]!).toString(16)} does not verify`);
  }
  const type = buf[0]!;
  switch (type) {
    case IgmpType.MEMBERSHIP_QUERY:
      return parseQuery(buf, len);
    case IgmpType.V1_MEMBERSHIP_REPORT:
      return ok({ type: "report", family: "ipv4", version: 1, group: bytesToIpv4(buf, 4) });
    case IgmpType.V2_MEMBERSHIP_REPORT:
      return ok({ type: "report", family: "ipv4", version: 2, group: bytesToIpv4(buf, 4) });
    case IgmpType.V2_LEAVE_GROUP:
      return ok({ type: "leave", family: "ipv4", group: bytesToIpv4(buf, 4) });
    case IgmpType.V3_MEMBERSHIP_REPORT:
      return parseV3Report(buf, len, "ipv4");
    default:
      return fail("unknown-type", `IGMP type 0x${type.toString(16)}`);
  }
}

function parseQuery(buf: Uint8Array, len: number): ParseResult {
  const code = buf[1]!;
  const group = bytesToIpv4(buf, 4);
  if (len === 8) {
    const v1 = code === 0;
    return ok({
      type: "query",
      family: "ipv4",
      version: v1 ? 1 : 2,
      maxRespCode: code,
      maxRespTimeMs: v1 ? IGMPV1_MAX_RESP_TIME_MS : igmpv2MaxRespCodeToMs(code),
      group,
      sFlag: false,
      qrv: 0,
      qqic: 0,
      qqiSeconds: 0,
      sources: [],
    });
  }
  if (len < 12) return fail("bad-length", `IGMP query of ${len} bytes (8 for v1/v2, >= 12 for v3)`);
  // RFC 9776 §4.1: Resv(4) S(1) QRV(3) | QQIC | Number of Sources (N) | sources.
  const flags = buf[8]!;
  const qqic = buf[9]!;
  const nsrc = (buf[10]! << 8) | buf[11]!;
  const left = len - 12;
  if (nsrc * 4 > left) {
    return fail("truncated", `IGMPv3 query claims ${nsrc} sources, ${left} bytes left`);
  }
  const sources: string[] = new Array<string>(nsrc);
  for (let i = 0, off = 12; i < nsrc; i++, off += 4) sources[i] = bytesToIpv4(buf, off);
  return ok({
    type: "query",
    family: "ipv4",
    version: 3,
    maxRespCode: code,
    maxRespTimeMs: igmpv3MaxRespCodeToMs(code),
    group,
    sFlag: (flags & 0x08) !== 0,
    qrv: flags & 0x07,
    qqic,
    qqiSeconds: qqicToSeconds(qqic),
    sources,
  });
}


// ---------------------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------------------

function finish(buf: Uint8Array): Uint8Array {
  buf[2] = 0;
  buf[3] = 0;
  const c = internetChecksum(buf);
  buf[2] = c >>> 8;
  buf[3] = c & 0xff;
  return buf;
}

function header8(type: number, code: number, group: string): Uint8Array {
  const buf = new Uint8Array(8);
  buf[0] = type;
  buf[1] = code;
  writeIpv4(buf, 4, group);
  return buf;
}

function serializeQuery(q: Query): Uint8Array {
  if (q.version === 1) return finish(header8(IgmpType.MEMBERSHIP_QUERY, 0, q.group));
  if (q.version === 2) {
    return finish(header8(IgmpType.MEMBERSHIP_QUERY, msToIgmpv2MaxRespCode(q.maxRespTimeMs), q.group));
  }
  const n = q.sources.length;
  checkRange("IGMPv3 query source count", n, 0, 0xffff);
  const buf = new Uint8Array(12 + 4 * n);
  buf[0] = IgmpType.MEMBERSHIP_QUERY;
  buf[1] = msToIgmpv3MaxRespCode(q.maxRespTimeMs);
  writeIpv4(buf, 4, q.group);
  writeV3QueryTail(buf, 8, q, "ipv4");
  return finish(buf);
}

function serializeV3Report(records: readonly GroupRecord[]): Uint8Array {
  return finish(encodeV3Report(records, "ipv4", IgmpType.V3_MEMBERSHIP_REPORT));
}

/**
 * Serializes an IPv4 message to IGMP bytes (checksum filled). Throws TypeError for an IPv6
 * message or invalid address text, RangeError for out-of-range counts or lengths.
 */
export function serializeIgmp(msg: Message): Uint8Array {
  if (msg.family !== "ipv4") throw new TypeError(`serializeIgmp: ${msg.family} message`);
  switch (msg.type) {
    case "query":
      return serializeQuery(msg);
    case "report":
      return finish(
        header8(
          msg.version === 1 ? IgmpType.V1_MEMBERSHIP_REPORT : IgmpType.V2_MEMBERSHIP_REPORT,
          0,
          msg.group,
        ),
      );
    case "leave":
      return finish(header8(IgmpType.V2_LEAVE_GROUP, 0, msg.group));
    case "v3report":
      return serializeV3Report(msg.records);
  }
}
