/**
 * Decoding a received IGMP / MLD datagram into what the daemon's ingress needs, the same for
 * every socket that reads them (a link's report socket, and for IPv4 the mroute socket:
 * src/kernel/igmp-paths.ts). Kernel facts: docs/kernel.md "Receiving reports".
 *  - IPv4: the raw socket delivers the whole datagram with its IP header; TTL, protocol,
 *    addresses and the Router Alert option come from it, the payload is bounded by Total
 *    Length; the destination from IP_PKTINFO when it came.
 *  - IPv6: the socket delivers the ICMPv6 message; the source is the sockaddr, the
 *    destination comes from IPV6_PKTINFO, the hop limit from IPV6_HOPLIMIT, Router Alert
 *    from the IPV6_HOPOPTS header.
 */
import type { Address } from "../wire/types.js";
import type { RecvResult } from "./addon.js";
import { hopOptsHaveRouterAlert, IPPROTO_IGMP, parseIpv4Datagram } from "./structs/mroute.js";
import { addressFromBytes, parseSockaddr } from "./structs/sockaddr.js";

/** An IGMP or MLD message as received. */
export interface ReceivedPacket {
  /** Ingress interface (IP_PKTINFO / IPV6_PKTINFO). */
  ifindex: number;
  /** IP source address ("::" while the sender's link-local address is tentative). */
  source: Address;
  /** IP destination address (224.0.0.22, ff02::16, a group address, ...). */
  destination: Address;
  /** IPv4 TTL / IPv6 hop limit as received (-1 if the kernel did not say). */
  ttl: number;
  /** IPv4 Router Alert option (RFC 2113) / IPv6 hop-by-hop Router Alert (RFC 2711). */
  routerAlert: boolean;
  /** The IGMP message without IP header / the ICMPv6 message (a copy, safe to keep). */
  payload: Uint8Array;
}

/** An IGMP datagram (IP header first); null when it is not a sane IPv4 IGMP datagram. */
export function decodeIgmp(r: RecvResult, data: Uint8Array): ReceivedPacket | null {
  const dg = parseIpv4Datagram(data);
  if (dg === null || dg.protocol !== IPPROTO_IGMP) return null;
  return {
    ifindex: r.ifindex,
    source: dg.source,
    destination: r.dst !== null ? addressFromBytes(r.dst) : dg.destination,
    ttl: dg.ttl,
    routerAlert: dg.routerAlert,
    payload: Uint8Array.from(dg.payload),
  };
}

/** An ICMPv6 message; null without an IPv6 source or a pktinfo destination. */
export function decodeMld(r: RecvResult, data: Uint8Array): ReceivedPacket | null {
  const from = parseSockaddr(r.from);
  if (from === null || from.family !== "ipv6" || r.dst === null) return null;
  return {
    ifindex: r.ifindex,
    source: from.address,
    destination: addressFromBytes(r.dst),
    ttl: r.ttl,
    routerAlert: r.hopopts !== null && hopOptsHaveRouterAlert(r.hopopts),
    payload: Uint8Array.from(data),
  };
}
