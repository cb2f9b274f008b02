/**
 * Struct packing for Linux multicast routing (linux/mroute.h, linux/mroute6.h) and the few
 * IP-level option blobs the mroute socket uses (docs/kernel.md "Struct layouts"). Layouts
 * on x86_64 below (host-order fields follow the machine, addresses network order); the
 * counter structs hold unsigned longs, 4 bytes on a 32-bit ABI: their sizes and offsets come
 * from abi.ts (HOST_LAYOUTS), which the addon checks against its own sizeof/offsetof:
 *
 *   vifctl        16: vifi u16 @0, flags u8 @2, threshold u8 @3, rate_limit u32 @4,
 *                     lcl_addr | lcl_ifindex @8, rmt_addr @12
 *   mfcctl        60: origin @0, mcastgrp @4, parent u16 @8, ttls[32] @10, (pad 2),
 *                     pkt_cnt @44, byte_cnt @48, wrong_if @52, expire @56
 *   igmpmsg       20: unused[8] @0, msgtype u8 @8, mbz u8 @9, vif u8 @10, vif_hi u8 @11,
 *                     src @12, dst @16 (laid over an IPv4 header: mbz is the protocol byte)
 *   sioc_sg_req   32: src @0, grp @4, pktcnt ulong @8, bytecnt ulong @16, wrong_if ulong @24
 *                     (ILP32: 20, counters @8, @12, @16)
 *   mif6ctl       12: mifi u16 @0, flags u8 @2, threshold u8 @3, pifi u16 @4, (pad 2),
 *                     rate_limit u32 @8
 *   mf6cctl       92: origin sockaddr_in6 @0, mcastgrp sockaddr_in6 @28, parent u16 @56,
 *                     (pad 2), ifset u32[8] @60
 *   mrt6msg       40: mbz u8 @0, msgtype u8 @1, mif u16 @2, pad u32 @4, src @8, dst @24
 *   sioc_sg_req6  80: src sockaddr_in6 @0, grp sockaddr_in6 @28, pktcnt ulong @56,
 *                     bytecnt ulong @64, wrong_if ulong @72 (ILP32: 68, @56, @60, @64)
 *   ip_mreqn      12: multiaddr @0, address @4, ifindex i32 @8
 *   ipv6_mreq     20: multiaddr[16] @0, ifindex i32 @16
 *   icmp6_filter  32: u32[8] bitmap; a set bit BLOCKS that ICMPv6 type
 */

import { bytesToIpv4, bytesToIpv6, writeIpv4, writeIpv6 } from "../../wire/address.js";
import type { Address, IpFamily } from "../../wire/types.js";
import { type Abi, HOST_ABI, HOST_LAYOUTS, layoutsOf, readULong } from "./abi.js";
import { HOST_LE, SOCKADDR_IN6_SIZE, writeSockaddrIn6 } from "./sockaddr.js";

// ---------------------------------------------------------------- constants

export const IPPROTO_IP = 0;
export const IPPROTO_IGMP = 2;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

/** IPv4 mroute socket options (level IPPROTO_IP), linux/mroute.h. */
export const MRT_INIT = 200;
export const MRT_DONE = 201;
export const MRT_ADD_VIF = 202;
export const MRT_DEL_VIF = 203;
export const MRT_ADD_MFC = 204;
export const MRT_DEL_MFC = 205;
/** Report packets that arrive on an outgoing VIF of their entry (IGMPMSG_WRONGVIF upcalls). */
export const MRT_ASSERT = 207;
export const MRT_TABLE = 209;
export const MRT_FLUSH = 212;
/** IPv6 mroute socket options (level IPPROTO_IPV6), linux/mroute6.h. */
export const MRT6_INIT = 200;
export const MRT6_DONE = 201;
export const MRT6_ADD_MIF = 202;
export const MRT6_DEL_MIF = 203;
export const MRT6_ADD_MFC = 204;
export const MRT6_DEL_MFC = 205;
export const MRT6_TABLE = 209;

/** vifctl flag: lcl_ifindex holds an interface index instead of a local address. */
export const VIFF_USE_IFINDEX = 0x8;
/** MAXVIFS / MAXMIFS: VIF/MIF indexes are 0..31. */
export const MAXVIFS = 32;
export const MAXMIFS = 32;

/** ioctls on the mroute socket (SIOCPROTOPRIVATE + n); same numbers for IPv6. */
export const SIOCGETVIFCNT = 0x89e0;
export const SIOCGETSGCNT = 0x89e1;

/** igmpmsg.im_msgtype / mrt6msg.im6_msgtype. */
export const IGMPMSG_NOCACHE = 1;
export const IGMPMSG_WRONGVIF = 2;
export const IGMPMSG_WHOLEPKT = 3;
export const IGMPMSG_WRVIFWHOLE = 4;
export const MRT6MSG_NOCACHE = 1;
export const MRT6MSG_WRONGMIF = 2;
export const MRT6MSG_WHOLEPKT = 3;

/** IPv4 socket options (linux/in.h). */
export const IP_OPTIONS = 4;
export const IP_ROUTER_ALERT = 5;
export const IP_PKTINFO = 8;
export const IP_RECVTTL = 12;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IP_DROP_MEMBERSHIP = 36;
/** IPv6 socket options (linux/in6.h). */
export const IPV6_CHECKSUM = 7;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_DROP_MEMBERSHIP = 21;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_RECVHOPLIMIT = 51;
export const IPV6_RECVHOPOPTS = 53;
export const IPV6_HOPOPTS = 54;
/** ICMP6_FILTER at level IPPROTO_ICMPV6. */
export const ICMP6_FILTER = 1;

export const VIFCTL_SIZE = 16;
export const MFCCTL_SIZE = 60;
export const IGMPMSG_SIZE = 20;
export const SIOC_SG_REQ_SIZE = HOST_LAYOUTS.sioc_sg_req!;
export const MIF6CTL_SIZE = 12;
export const MF6CCTL_SIZE = 92;
export const MRT6MSG_SIZE = 40;
export const SIOC_SG_REQ6_SIZE = HOST_LAYOUTS.sioc_sg_req6!;
export const IP_MREQN_SIZE = 12;
export const IPV6_MREQ_SIZE = 20;
export const ICMP6_FILTER_SIZE = 32;

/**
 * IPv4 Router Alert option (RFC 2113 §2.1): type 148 (0x94), length 4, value 0 ("router
 * shall examine packet"). Set with IP_OPTIONS so every query carries it (RFC 9776 §4).
 */
export const IPV4_ROUTER_ALERT_OPTION = Uint8Array.of(0x94, 0x04, 0x00, 0x00);

/**
 * IPv6 Hop-by-Hop Options header carrying Router Alert (RFC 2711 §2.1) with value 0 (MLD),
 * padded with PadN to 8 bytes; next header (byte 0) is filled by the kernel. Set with the
 * sticky IPV6_HOPOPTS option: RFC 9777 §5 requires it on every MLD message, and Linux hosts
 * ignore queries without it.
 */
export const IPV6_ROUTER_ALERT_HOPOPTS = Uint8Array.of(0x00, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00);

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ------------------------------------------------------------------- IPv4

/** struct vifctl for MRT_ADD_VIF / MRT_DEL_VIF with VIFF_USE_IFINDEX. */
export function packVifctl(vifi: number, ifindex: number, threshold = 1): Buffer {
  const b = Buffer.alloc(VIFCTL_SIZE);
  const v = view(b);
  v.setUint16(0, vifi, HOST_LE);
  v.setUint8(2, VIFF_USE_IFINDEX);
  v.setUint8(3, threshold);
  v.setUint32(4, 0, HOST_LE); // rate_limit: unsupported by Linux, must be 0
  v.setInt32(8, ifindex, HOST_LE);
  return b;
}

/**
 * struct mfcctl for MRT_ADD_MFC / MRT_DEL_MFC. `ttls[vif]` = the threshold of every output
 * VIF (the kernel forwards when the packet's TTL exceeds it, ip_mr_forward), 0 = do not
 * forward; `threshold` is one value for every VIF or a function of the VIF. The parent is
 * never listed as an output (it would loop traffic back where it came from).
 */
export function packMfcctl(
  origin: Address,
  group: Address,
  parentVif: number,
  outVifs: Iterable<number>,
  threshold: number | ((vif: number) => number) = 1,
): Buffer {
  const b = Buffer.alloc(MFCCTL_SIZE);
  writeIpv4(b, 0, origin);
  writeIpv4(b, 4, group);
  view(b).setUint16(8, parentVif, HOST_LE);
  for (const vif of outVifs) {
    if (!Number.isInteger(vif) || vif < 0 || vif >= MAXVIFS)
      throw new RangeError(`VIF index out of range: ${vif}`);
    if (vif === parentVif) continue;
    const ttl = typeof threshold === "number" ? threshold : threshold(vif);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new RangeError(`TTL threshold out of range: ${ttl}`);
    b[10 + vif] = ttl;
  }
  return b;
}

/** The `ttls` array of a packed mfcctl (test helper and diagnostics). */
export function mfcctlTtls(b: Uint8Array): number[] {
  return Array.from(b.subarray(10, 10 + MAXVIFS));
}

export interface IgmpUpcallMsg {
  msgtype: number;
  vif: number;
  source: Address;
  group: Address;
}

/**
 * Decodes an igmpmsg upcall. The kernel lays it over an IPv4 header whose protocol byte
 * (offset 9, im_mbz) is 0; a real IGMP packet has protocol 2 there. Returns null when the
 * datagram is not an upcall or too short.
 */
export function parseIgmpmsg(b: Uint8Array): IgmpUpcallMsg | null {
  if (b.length < IGMPMSG_SIZE || b[9] !== 0) return null;
  return {
    msgtype: b[8]!,
    vif: b[10]! | (b[11]! << 8),
    source: bytesToIpv4(b, 12),
    group: bytesToIpv4(b, 16),
  };
}

export interface SgCounters {
  packets: bigint;
  bytes: bigint;
  wrongIf: bigint;
}

/** struct sioc_sg_req for SIOCGETSGCNT (src/grp in, counters out). */
export function packSiocSgReq(source: Address, group: Address): Buffer {
  const b = Buffer.alloc(SIOC_SG_REQ_SIZE);
  writeIpv4(b, 0, source);
  writeIpv4(b, 4, group);
  return b;
}

export function parseSiocSgReq(b: Uint8Array, abi: Abi = HOST_ABI): SgCounters {
  return sgCounters(b, "sioc_sg_req", abi);
}

/** The three unsigned long counters of a sioc_sg_req / sioc_sg_req6 answered by the kernel. */
function sgCounters(b: Uint8Array, struct: "sioc_sg_req" | "sioc_sg_req6", abi: Abi): SgCounters {
  const v = view(b);
  const at = layoutsOf(abi);
  return {
    packets: readULong(v, at[`${struct}.pktcnt`]!, HOST_LE, abi),
    bytes: readULong(v, at[`${struct}.bytecnt`]!, HOST_LE, abi),
    wrongIf: readULong(v, at[`${struct}.wrong_if`]!, HOST_LE, abi),
  };
}

/** Per-VIF / per-MIF counters (SIOCGETVIFCNT / SIOCGETMIFCNT_IN6). */
export interface VifCounters {
  packetsIn: bigint;
  packetsOut: bigint;
  bytesIn: bigint;
  bytesOut: bigint;
}

/**
 * struct sioc_vif_req / sioc_mif_req6 (the same layout): vifi u16 @0, then four unsigned
 * longs: x86_64 icount @8, ocount @16, ibytes @24, obytes @32 (40 bytes); ILP32 @4.. (20).
 */
export const SIOC_VIF_REQ_SIZE = HOST_LAYOUTS.sioc_vif_req!;

export function packSiocVifReq(vif: number): Buffer {
  const b = Buffer.alloc(SIOC_VIF_REQ_SIZE);
  view(b).setUint16(0, vif, HOST_LE);
  return b;
}

export function parseSiocVifReq(b: Uint8Array, abi: Abi = HOST_ABI): VifCounters {
  const v = view(b);
  const at = layoutsOf(abi);
  return {
    packetsIn: readULong(v, at["sioc_vif_req.icount"]!, HOST_LE, abi),
    packetsOut: readULong(v, at["sioc_vif_req.ocount"]!, HOST_LE, abi),
    bytesIn: readULong(v, at["sioc_vif_req.ibytes"]!, HOST_LE, abi),
    bytesOut: readULong(v, at["sioc_vif_req.obytes"]!, HOST_LE, abi),
  };
}

/** struct ip_mreqn for IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP on interface `ifindex`. */
export function packIpMreqn(group: Address, ifindex: number): Buffer {
  const b = Buffer.alloc(IP_MREQN_SIZE);
  writeIpv4(b, 0, group);
  view(b).setInt32(8, ifindex, HOST_LE);
  return b;
}

export interface Ipv4Datagram {
  source: Address;
  destination: Address;
  ttl: number;
  protocol: number;
  /** An IPv4 Router Alert option (type 0x94, RFC 2113) is present in the header. */
  routerAlert: boolean;
  /** Bytes after the header, bounded by the header's Total Length. */
  payload: Uint8Array;
}

/**
 * Parses the IPv4 header a raw socket delivers in front of the IGMP message (RFC 791 §3.1):
 * IHL, Total Length, TTL, protocol, addresses and the options (for Router Alert). Never
 * throws; returns null when the bytes are not a sane IPv4 datagram.
 */
export function parseIpv4Datagram(b: Uint8Array): Ipv4Datagram | null {
  if (b.length < 20) return null;
  const version = b[0]! >> 4;
  const ihl = (b[0]! & 0x0f) * 4;
  if (version !== 4 || ihl < 20 || ihl > b.length) return null;
  const totalLength = (b[2]! << 8) | b[3]!;
  // Linux hands raw sockets the header as received; bound the payload by both lengths.
  const end = totalLength >= ihl && totalLength <= b.length ? totalLength : b.length;
  let routerAlert = false;
  // RFC 791 options: 0 = End of Option List, 1 = No Operation, else type/length/value.
  for (let i = 20; i < ihl; ) {
    const type = b[i]!;
    if (type === 0) break;
    if (type === 1) {
      i += 1;
      continue;
    }
    const len = b[i + 1];
    if (len === undefined || len < 2 || i + len > ihl) break;
    if (type === 0x94) routerAlert = true;
    i += len;
  }
  return {
    source: bytesToIpv4(b, 12),
    destination: bytesToIpv4(b, 16),
    ttl: b[8]!,
    protocol: b[9]!,
    routerAlert,
    payload: b.subarray(ihl, end),
  };
}

// ------------------------------------------------------------------- IPv6

/** struct mif6ctl for MRT6_ADD_MIF. `mif6c_pifi` is 16 bits: ifindex must be <= 65535. */
export function packMif6ctl(mifi: number, ifindex: number, threshold = 1): Buffer {
  if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > 0xffff) {
    throw new RangeError(`ifindex ${ifindex} does not fit mif6ctl.mif6c_pifi (16 bits)`);
  }
  const b = Buffer.alloc(MIF6CTL_SIZE);
  const v = view(b);
  v.setUint16(0, mifi, HOST_LE);
  v.setUint8(2, 0); // flags: no MIFF_REGISTER
  v.setUint8(3, threshold);
  v.setUint16(4, ifindex, HOST_LE);
  v.setUint32(8, 0, HOST_LE);
  return b;
}

/** The mifi_t (u16) MRT6_DEL_MIF takes. */
export function packMifi(mifi: number): Buffer {
  const b = Buffer.alloc(2);
  view(b).setUint16(0, mifi, HOST_LE);
  return b;
}

/** struct mf6cctl for MRT6_ADD_MFC / MRT6_DEL_MFC: output MIFs as a bitmap (parent excluded). */
export function packMf6cctl(
  origin: Address,
  group: Address,
  parentMif: number,
  outMifs: Iterable<number>,
): Buffer {
  const b = Buffer.alloc(MF6CCTL_SIZE);
  writeSockaddrIn6(b, 0, origin);
  writeSockaddrIn6(b, SOCKADDR_IN6_SIZE, group);
  const v = view(b);
  v.setUint16(56, parentMif, HOST_LE);
  for (const mif of outMifs) {
    if (!Number.isInteger(mif) || mif < 0 || mif >= MAXMIFS)
      throw new RangeError(`MIF index out of range: ${mif}`);
    if (mif === parentMif) continue;
    const word = 60 + 4 * (mif >> 5);
    v.setUint32(word, v.getUint32(word, HOST_LE) | (1 << (mif & 31)), HOST_LE);
  }
  return b;
}

/** The output MIFs set in a packed mf6cctl (test helper and diagnostics). */
export function mf6cctlIfset(b: Uint8Array): number[] {
  const v = view(b);
  const out: number[] = [];
  for (let mif = 0; mif < MAXMIFS; mif++) {
    if ((v.getUint32(60 + 4 * (mif >> 5), HOST_LE) >>> (mif & 31)) & 1) out.push(mif);
  }
  return out;
}

export interface Mld6UpcallMsg {
  msgtype: number;
  mif: number;
  source: Address;
  group: Address;
}

/**
 * Decodes an mrt6msg upcall. Byte 0 (im6_mbz) is 0 for an upcall; a real ICMPv6 message has
 * its (non-zero) type there. Returns null when not an upcall or too short.
 */
export function parseMrt6msg(b: Uint8Array): Mld6UpcallMsg | null {
  if (b.length < MRT6MSG_SIZE || b[0] !== 0) return null;
  return {
    msgtype: b[1]!,
    mif: view(b).getUint16(2, HOST_LE),
    source: bytesToIpv6(b, 8),
    group: bytesToIpv6(b, 24),
  };
}

/** struct sioc_sg_req6 for SIOCGETSGCNT_IN6. */
export function packSiocSgReq6(source: Address, group: Address): Buffer {
  const b = Buffer.alloc(SIOC_SG_REQ6_SIZE);
  writeSockaddrIn6(b, 0, source);
  writeSockaddrIn6(b, SOCKADDR_IN6_SIZE, group);
  return b;
}

export function parseSiocSgReq6(b: Uint8Array, abi: Abi = HOST_ABI): SgCounters {
  return sgCounters(b, "sioc_sg_req6", abi);
}

/** struct ipv6_mreq for IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP. */
export function packIpv6Mreq(group: Address, ifindex: number): Buffer {
  const b = Buffer.alloc(IPV6_MREQ_SIZE);
  writeIpv6(b, 0, group);
  view(b).setInt32(16, ifindex, HOST_LE);
  return b;
}

/**
 * struct icmp6_filter passing only the listed ICMPv6 types (RFC 3542 §3.2: a set bit
 * blocks the type; ICMP6_FILTER_SETPASS clears it). Upcalls are not ICMPv6 and pass anyway.
 */
export function packIcmp6FilterPassOnly(types: Iterable<number>): Buffer {
  const b = Buffer.alloc(ICMP6_FILTER_SIZE, 0xff);
  const v = view(b);
  for (const t of types) {
    if (!Number.isInteger(t) || t < 0 || t > 255) throw new RangeError(`ICMPv6 type out of range: ${t}`);
    const word = 4 * (t >> 5);
    v.setUint32(word, v.getUint32(word, HOST_LE) & ~(1 << (t & 31)), HOST_LE);
  }
  return b;
}

/**
 * True when a raw IPv6 Hop-by-Hop Options header (as the IPV6_HOPOPTS cmsg delivers it)
 * carries a Router Alert option (type 5, length 2; RFC 2711). Bounded; never throws.
 */
export function hopOptsHaveRouterAlert(h: Uint8Array): boolean {
  if (h.length < 2) return false;
  const end = Math.min(h.length, (h[1]! + 1) * 8);
  for (let i = 2; i < end; ) {
    const type = h[i]!;
    if (type === 0) {
      i += 1; // Pad1
      continue;
    }
    const len = h[i + 1];
    if (len === undefined || i + 2 + len > end) return false;
    if (type === 5 && len === 2) return true;
    i += 2 + len;
  }
  return false;
}

// ------------------------------------------------------------------ shared

/** The membership request for joining `group` on `ifindex` with the family's classic option. */
export function packMembershipRequest(family: IpFamily, group: Address, ifindex: number): Buffer {
  return family === "ipv4" ? packIpMreqn(group, ifindex) : packIpv6Mreq(group, ifindex);
}
