/**
 * MLD codec: MLDv1 (RFC 2710 §3) and MLDv2 (RFC 9777 §5), the ICMPv6 message without the
 * IPv6 header and extension headers.
 *
 * Query versions (RFC 9777 §8.1): 24 bytes is MLDv1, 28 bytes or more MLDv2, 25..27 bytes
 * "bad-length" (such queries are ignored). Reports and Done longer than 24 bytes are
 * accepted, extra bytes ignored (as for IGMPv2, RFC 2236 §2.5).
 *
 * Checksum (RFC 9777 §5.1.2, RFC 4443 §2.3): over the IPv6 pseudo-header and the message.
 * `parseMld` verifies it only when the pseudo-header addresses are given; `serializeMld`
 * fills it when they are given and leaves 0 otherwise (the Linux kernel computes it on
 * ICMPv6 raw sockets: RFC 3542 §3.1).
 *
 * Time fields: `maxRespTimeMs` and `qqiSeconds` win over the raw codes on output, as in
 * igmp.ts (rounding down, see floatcode.ts).
 *
 * Never throws on parse; every read is behind an explicit length check.
 */
import { bytesToIpv6, writeIpv6 } from "./address.js";
import { icmpv6Checksum, onesComplementSum, pseudoHeaderSum } from "./checksum.js";
import {
  mldv2MaxRespCodeToMs,
  msToMldv1MaxRespDelay,
  msToMldv2MaxRespCode,
  qqicToSeconds,
} from "./floatcode.js";
import { encodeV3Report, parseV3Report, writeV3QueryTail } from "./records.js";
import { checkRange, fail, ok } from "./result.js";
import type { Address, GroupRecord, Message, ParseResult, Query } from "./types.js";

/** ICMPv6 types of MLD (RFC 2710 §3, RFC 9777 §5). */
export const MldType = {
  LISTENER_QUERY: 130,
  V1_LISTENER_REPORT: 131,
  V1_LISTENER_DONE: 132,
  V2_LISTENER_REPORT: 143,
} as const;

/** Source and destination of the enclosing IPv6 packet, for the checksum pseudo-header. */
export interface PseudoHeader {
  source: Address;
  destination: Address;
}

/** Parses one MLD message (ICMPv6 payload of the IPv6 packet). Never throws. */
export function parseMld(buf: Uint8Array, pseudo?: PseudoHeader): ParseResult {
  const len = buf.length;
  if (len < 8) return fail("truncated", `ICMPv6 message of ${len} bytes, at least 8 needed`);
  if (pseudo !== undefined) {
    let initial: number;
    try {
      initial = pseudoHeaderSum(pseudo.source, pseudo.destination, len);
    } catch {
      return fail(
        "bad-field",
        `pseudo-header addresses are not IPv6: ${pseudo.source} -> ${pseudo.destination}`,
      );
    }
    if (onesComplementSum(buf, 0, len, initial) !== 0xffff) {
      return fail(
        "bad-checksum",
        `ICMPv6 checksum 0x${((buf[2]! << 8) | buf[3]!).toString(16)} does not verify`,
      );
    }
  }
  const type = buf[0]!;
  switch (type) {
    case MldType.LISTENER_QUERY:
      return parseQuery(buf, len);
    case MldType.V1_LISTENER_REPORT:
      if (len < 24) return fail("truncated", `MLDv1 report of ${len} bytes, 24 needed`);
      return ok({ type: "report", family: "ipv6", version: 1, group: bytesToIpv6(buf, 8) });
    case MldType.V1_LISTENER_DONE:
      if (len < 24) return fail("truncated", `MLDv1 done of ${len} bytes, 24 needed`);
      return ok({ type: "leave", family: "ipv6", group: bytesToIpv6(buf, 8) });
    case MldType.V2_LISTENER_REPORT:
      return parseV3Report(buf, len, "ipv6");
    default:
      return fail("unknown-type", `ICMPv6 type ${type}`);
  }
}

function parseQuery(buf: Uint8Array, len: number): ParseResult {
  if (len < 24) return fail("truncated", `MLD query of ${len} bytes, at least 24 needed`);
  // RFC 2710 §3.4 / RFC 9777 §5.1: Maximum Response Code (16) | Reserved (16) | address.
  const code = (buf[4]! << 8) | buf[5]!;
  const group = bytesToIpv6(buf, 8);
  if (len === 24) {
    return ok({
      type: "query",
      family: "ipv6",
      version: 1,
      maxRespCode: code,
      maxRespTimeMs: code, // MLDv1 Maximum Response Delay: linear milliseconds
      group,
      sFlag: false,
      qrv: 0,
      qqic: 0,
      qqiSeconds: 0,
      sources: [],
    });
  }
  if (len < 28) return fail("bad-length", `MLD query of ${len} bytes (24 for v1, >= 28 for v2)`);
  // RFC 9777 §5.1: Resv(4) S(1) QRV(3) | QQIC | Number of Sources (N) | sources.
  const flags = buf[24]!;
  const qqic = buf[25]!;
  const nsrc = (buf[26]! << 8) | buf[27]!;
  const left = len - 28;
  if (nsrc * 16 > left) return fail("truncated", `MLDv2 query claims ${nsrc} sources, ${left} bytes left`);
  const sources: string[] = new Array<string>(nsrc);
  for (let i = 0, off = 28; i < nsrc; i++, off += 16) sources[i] = bytesToIpv6(buf, off);
  return ok({
    type: "query",
    family: "ipv6",
    version: 2,
    maxRespCode: code,
    maxRespTimeMs: mldv2MaxRespCodeToMs(code),
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

function finish(buf: Uint8Array, pseudo: PseudoHeader | undefined): Uint8Array {
  buf[2] = 0;
  buf[3] = 0;
  if (pseudo !== undefined) {
    const c = icmpv6Checksum(buf, pseudo.source, pseudo.destination);
    buf[2] = c >>> 8;
    buf[3] = c & 0xff;
  }
  return buf;
}

function header24(type: number, code: number, group: string): Uint8Array {
  const buf = new Uint8Array(24);
  buf[0] = type;
  buf[4] = code >>> 8;
  buf[5] = code & 0xff;
  writeIpv6(buf, 8, group);
  return buf;
}

function serializeQuery(q: Query, pseudo: PseudoHeader | undefined): Uint8Array {
  if (q.version === 1) {
    return finish(header24(MldType.LISTENER_QUERY, msToMldv1MaxRespDelay(q.maxRespTimeMs), q.group), pseudo);
  }
  if (q.version !== 2) throw new RangeError(`MLD has no version ${q.version} query (1 or 2)`);
  const n = q.sources.length;
  checkRange("MLDv2 query source count", n, 0, 0xffff);
  const buf = new Uint8Array(28 + 16 * n);
  buf[0] = MldType.LISTENER_QUERY;
  const code = msToMldv2MaxRespCode(q.maxRespTimeMs);
  buf[4] = code >>> 8;
  buf[5] = code & 0xff;
  writeIpv6(buf, 8, q.group);
  writeV3QueryTail(buf, 24, q, "ipv6");
  return finish(buf, pseudo);
}

function serializeV2Report(records: readonly GroupRecord[], pseudo: PseudoHeader | undefined): Uint8Array {
  return finish(encodeV3Report(records, "ipv6", MldType.V2_LISTENER_REPORT), pseudo);
}

/**
 * Serializes an IPv6 message to MLD bytes; the checksum is filled when `pseudo` is given,
 * else left 0 for the kernel. Throws TypeError for an IPv4 message or invalid address
 * text, RangeError for out-of-range counts, lengths or versions.
 */
export function serializeMld(msg: Message, pseudo?: PseudoHeader): Uint8Array {
  if (msg.family !== "ipv6") throw new TypeError(`serializeMld: ${msg.family} message`);
  switch (msg.type) {
    case "query":
      return serializeQuery(msg, pseudo);
    case "report":
      if (msg.version !== 1)
        throw new RangeError(`MLD has no version ${msg.version} report message (131 is v1)`);
      return finish(header24(MldType.V1_LISTENER_REPORT, 0, msg.group), pseudo);
    case "leave":
      return finish(header24(MldType.V1_LISTENER_DONE, 0, msg.group), pseudo);
    case "v3report":
      return serializeV2Report(msg.records, pseudo);
  }
}
