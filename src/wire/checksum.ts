/**
 * Internet checksum (RFC 1071) and the ICMPv6 checksum over the IPv6 pseudo-header
 * (RFC 8200 §8.1, RFC 4443 §2.3). Used by IGMP (RFC 2236 §2.3, RFC 9776 §4.1.2) and MLD
 * (RFC 9777 §5.1.2).
 */
import { writeIpv6 } from "./address.js";
import type { Address } from "./types.js";

/**
 * 16-bit one's complement sum (not complemented) of `buf[offset..offset+length)`, added to
 * `initial`. An odd trailing byte is padded with a zero byte (RFC 1071 §4.1).
 */
export function onesComplementSum(
  buf: Uint8Array,
  offset = 0,
  length = buf.length - offset,
  initial = 0,
): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  // Plain 32-bit accumulation: 0xffff * 2^15 words stays well below 2^53, fold at the end.
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Internet checksum of `buf[offset..offset+length)`: the one's complement of the one's
 * complement sum. Computing it over a message that already carries a correct checksum
 * yields 0.
 */
export function internetChecksum(buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  return ~onesComplementSum(buf, offset, length) & 0xffff;
}

/** One's complement sum of the ICMPv6 pseudo-header (RFC 8200 §8.1). */
export function pseudoHeaderSum(source: Address, destination: Address, upperLayerLength: number): number {
  const ph = new Uint8Array(40);
  writeIpv6(ph, 0, source);
  writeIpv6(ph, 16, destination);
  ph[32] = (upperLayerLength >>> 24) & 0xff;
  ph[33] = (upperLayerLength >>> 16) & 0xff;
  ph[34] = (upperLayerLength >>> 8) & 0xff;
  ph[35] = upperLayerLength & 0xff;
  ph[39] = 58; // Next Header: ICMPv6
  return onesComplementSum(ph);
}

/**
 * ICMPv6 checksum of `msg` (its checksum field included in the sum as it is: zero it
 * before computing, or check that the result is 0 to verify).
 */
export function icmpv6Checksum(msg: Uint8Array, source: Address, destination: Address): number {
  return ~onesComplementSum(msg, 0, msg.length, pseudoHeaderSum(source, destination, msg.length)) & 0xffff;
}
