/**
 * Public API of the IGMP/MLD codecs: pure functions, no I/O, no state.
 *
 * - `parse(family, buf, pseudo?)`: IGMP message (IPv4 payload) or MLD message (ICMPv6
 *   payload) -> `ParseResult`; never throws.
 * - `serialize(family, msg, pseudo?)`: typed message -> bytes; IGMP checksum always
 *   filled, MLD checksum filled when the pseudo-header is given (else 0 for the kernel).
 * - Builders for queries and reports, address helpers, float codes, checksums.
 */
import { parseIgmp, serializeIgmp } from "./igmp.js";
import { type PseudoHeader, parseMld, serializeMld } from "./mld.js";
import type { Address, IpFamily, Message, ParseResult } from "./types.js";

export * from "./address.js";
export * from "./builders.js";
export * from "./checksum.js";
export * from "./floatcode.js";
export { IGMPV1_MAX_RESP_TIME_MS, IgmpType, parseIgmp, serializeIgmp } from "./igmp.js";
export { MldType, type PseudoHeader, parseMld, serializeMld } from "./mld.js";
export * from "./types.js";

/** Parses an IGMP (ipv4) or MLD (ipv6) message. `pseudo` is used for MLD checksums only. */
export function parse(family: IpFamily, buf: Uint8Array, pseudo?: PseudoHeader): ParseResult {
  return family === "ipv4" ? parseIgmp(buf) : parseMld(buf, pseudo);
}

/** Serializes a message of `family`. `pseudo` is used for MLD checksums only. */
export function serialize(family: IpFamily, msg: Message, pseudo?: PseudoHeader): Uint8Array {
  if (msg.family !== family) throw new TypeError(`serialize(${family}) of a ${msg.family} message`);
  return family === "ipv4" ? serializeIgmp(msg) : serializeMld(msg, pseudo);
}

/** IP protocol number of IGMP (RFC 1112) and ICMPv6 Next Header value (RFC 4443). */
export const IPPROTO_IGMP = 2;
export const IPPROTO_ICMPV6 = 58;

/** All-systems / all-nodes (queries), RFC 1112 §4, RFC 4291 §2.7.1. */
export const ALL_SYSTEMS: Readonly<Record<IpFamily, Address>> = { ipv4: "224.0.0.1", ipv6: "ff02::1" };
/** All-routers (IGMPv2 leave, MLDv1 done), RFC 2236 §3, RFC 2710 §4. */
export const ALL_ROUTERS: Readonly<Record<IpFamily, Address>> = { ipv4: "224.0.0.2", ipv6: "ff02::2" };
/** IGMPv3 / MLDv2 report destination, RFC 9776 §4.2.14, RFC 9777 §5.2.14. */
export const ALL_V3_ROUTERS: Readonly<Record<IpFamily, Address>> = { ipv4: "224.0.0.22", ipv6: "ff02::16" };

export const IGMP_ALL_SYSTEMS = "224.0.0.1";
export const IGMP_ALL_ROUTERS = "224.0.0.2";
export const IGMPV3_ALL_ROUTERS = "224.0.0.22";
export const MLD_ALL_NODES = "ff02::1";
export const MLD_ALL_ROUTERS = "ff02::2";
export const MLDV2_ALL_ROUTERS = "ff02::16";

/** Router Alert option bytes: IPv4 (RFC 2113) and IPv6 Hop-by-Hop (RFC 2711, value 0 = MLD). */
export const IPV4_ROUTER_ALERT: Readonly<Uint8Array> = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
export const IPV6_ROUTER_ALERT_HOPOPTS: Readonly<Uint8Array> = new Uint8Array([0, 0, 5, 2, 0, 0, 1, 0]);
