/**
 * Group records of IGMPv3 (RFC 9776 §4.2.4) and MLDv2 (RFC 9777 §5.2.4) reports: the same
 * layout with 4- or 16-byte addresses. Every count is bounded by the datagram; a record
 * that claims more than is left ends parsing with "truncated", naming the record.
 */
import { bytesToIpv4, bytesToIpv6, writeIpv4, writeIpv6 } from "./address.js";
import { secondsToQqic } from "./floatcode.js";
import { checkRange, fail, NO_AUX_DATA, ok } from "./result.js";
import type { IpFamily, GroupRecord, ParseResult } from "./types.js";

/**
 * Parses a v3 report whose fixed 8-byte header (type, reserved/code, checksum, reserved,
 * record count at offset 6) is at the start of `buf`; `len` is the message length.
 */
export function parseV3Report(buf: Uint8Array, len: number, family: IpFamily): ParseResult {
  const width = family === "ipv4" ? 4 : 16;
  const readAddress = family === "ipv4" ? bytesToIpv4 : bytesToIpv6;
  const header = 4 + width; // Record Type | Aux Data Len (32-bit words) | Number of Sources | group
  const count = (buf[6]! << 8) | buf[7]!;
  const records: GroupRecord[] = new Array<GroupRecord>(count);
  let off = 8;
  for (let r = 0; r < count; r++) {
    const left = len - off;
    if (left < header) {
      return fail("truncated", `record ${r} of ${count}: header needs ${header} bytes, ${left} left`);
    }
    const recordType = buf[off]!;
    const auxWords = buf[off + 1]!;
    const nsrc = (buf[off + 2]! << 8) | buf[off + 3]!;
    const need = header + nsrc * width + auxWords * 4;
    if (need > left) {
      return fail(
        "truncated",
        `record ${r} of ${count} claims ${nsrc} sources and ${auxWords} aux words (${need} bytes), ${left} bytes left`,
      );
    }
    const group = readAddress(buf, off + 4);
    const sources: string[] = new Array<string>(nsrc);
    let p = off + header;
    for (let i = 0; i < nsrc; i++, p += width) sources[i] = readAddress(buf, p);
    // A copy, so a reused receive Buffer cannot change it later.
    const auxData = auxWords === 0 ? NO_AUX_DATA : new Uint8Array(buf.subarray(p, p + auxWords * 4));
    records[r] = { recordType, group, sources, auxData };
    off += need;
  }
  return ok({ type: "v3report", family, records });
}

/**
 * Encodes a v3 report (type byte `type`, checksum left 0 for the caller to fill) with its
 * group records; throws RangeError for out-of-range counts or aux data lengths.
 */
export function encodeV3Report(records: readonly GroupRecord[], family: IpFamily, type: number): Uint8Array {
  const width = family === "ipv4" ? 4 : 16;
  const writeAddress = family === "ipv4" ? writeIpv4 : writeIpv6;
  const header = 4 + width;
  checkRange(`${family === "ipv4" ? "IGMPv3" : "MLDv2"} report record count`, records.length, 0, 0xffff);
  let size = 8;
  for (const r of records) {
    checkRange("record source count", r.sources.length, 0, 0xffff);
    if (r.auxData.length % 4 !== 0 || r.auxData.length > 255 * 4) {
      throw new RangeError(`aux data must be a multiple of 4 bytes, at most 1020, got ${r.auxData.length}`);
    }
    size += header + width * r.sources.length + r.auxData.length;
  }
  const buf = new Uint8Array(size);
  buf[0] = type;
  buf[6] = records.length >>> 8;
  buf[7] = records.length & 0xff;
  let off = 8;
  for (const r of records) {
    checkRange("record type", r.recordType, 0, 0xff);
    buf[off] = r.recordType;
    buf[off + 1] = r.auxData.length / 4;
    buf[off + 2] = r.sources.length >>> 8;
    buf[off + 3] = r.sources.length & 0xff;
    writeAddress(buf, off + 4, r.group);
    off += header;
    for (const src of r.sources) {
      writeAddress(buf, off, src);
      off += width;
    }
    buf.set(r.auxData, off);
    off += r.auxData.length;
  }
  return buf;
}

/**
 * Writes the part of an IGMPv3 / MLDv2 query after the group address (RFC 9776 §4.1.6-
 * §4.1.9, RFC 9777 §5.1.7-§5.1.10): Resv/S/QRV, QQIC, Number of Sources (network order)
 * and the source list, starting at `offset`. A Robustness Variable above 7 is sent as QRV 0.
 */
export function writeV3QueryTail(
  buf: Uint8Array,
  offset: number,
  q: { sFlag: boolean; qrv: number; qqiSeconds: number; sources: readonly string[] },
  family: IpFamily,
): void {
  const n = q.sources.length;
  const qrv = Number.isInteger(q.qrv) && q.qrv >= 0 && q.qrv <= 7 ? q.qrv : 0;
  buf[offset] = (q.sFlag ? 0x08 : 0) | qrv;
  buf[offset + 1] = secondsToQqic(q.qqiSeconds);
  // Number of Sources in network byte order (the C IMProxy wrote host order).
  buf[offset + 2] = n >>> 8;
  buf[offset + 3] = n & 0xff;
  const writeAddress = family === "ipv4" ? writeIpv4 : writeIpv6;
  const size = family === "ipv4" ? 4 : 16;
  for (let i = 0; i < n; i++) writeAddress(buf, offset + 4 + size * i, q.sources[i]!);
}
