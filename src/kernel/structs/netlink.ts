/**
 * rtnetlink (NETLINK_ROUTE) message encoding and decoding: `nlmsghdr`, `nlmsgerr`,
 * `ifinfomsg`, `ifaddrmsg` and route attributes (linux/netlink.h, linux/rtnetlink.h,
 * linux/if_link.h, linux/if_addr.h). Host-order fields use the machine's byte order.
 * docs/kernel.md "Interface events" and "Struct layouts".
 *
 * Decoding never throws: lengths are bounded by the containing buffer, a message or
 * attribute whose length field is impossible ends the walk at that point, unknown
 * message types and attributes are skipped.
 *
 *   nlmsghdr   16: len u32 @0, type u16 @4, flags u16 @6, seq u32 @8, pid u32 @12
 *   nlmsgerr   20: error i32 @0, original nlmsghdr @4
 *   ifinfomsg  16: family u8 @0, pad @1, type u16 @2, index i32 @4, flags u32 @8, change u32 @12
 *   ifaddrmsg   8: family u8 @0, prefixlen u8 @1, flags u8 @2, scope u8 @3, index u32 @4
 *   rtattr      4: len u16 @0, type u16 @2, payload @4, padded to 4 bytes
 *   sockaddr_nl 12: family u16 @0 (AF_NETLINK 16), pad @2, pid u32 @4, groups u32 @8
 */
import { endianness } from "node:os";
import type { Address, IpFamily } from "../../wire/types.js";
import { bytesToIpv4, bytesToIpv6 } from "../../wire/address.js";

const LE = endianness() === "LE";

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const NETLINK_ROUTE = 0;
// Socket-level options (asm-generic/socket.h), used by every receiving socket.
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_ATTACH_FILTER = 26;
export const SO_RCVBUFFORCE = 33;
/** u32[SK_MEMINFO_VARS] of the socket's memory figures; index SK_MEMINFO_DROPS = sk_drops. */
export const SO_MEMINFO = 55;
export const SK_MEMINFO_DROPS = 8;
export const SK_MEMINFO_VARS = 9;
/** Binds a socket to an interface by ifindex (an int; Linux 5.0). */
export const SO_BINDTOIFINDEX = 62;

/** Multicast groups (bitmask form for sockaddr_nl.nl_groups). */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;

export const IFINFOMSG_LEN = 16;
export const IFADDRMSG_LEN = 8;
export const RTA_HDRLEN = 4;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_OPERSTATE = 16;
export const IFLA_EXT_MASK = 29;
/** RTEXT_FILTER_SKIP_STATS: leave the (large) statistics out of link dumps. */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
export const IFA_F_TENTATIVE = 0x40;

export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_MULTICAST = 0x1000;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

/** Attribute type bits that are flags, not part of the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER). */
const NLA_TYPE_MASK = ~(0x8000 | 0x4000) & 0xffff;

/** An interface as the proxy needs to know it. */
export interface LinkInfo {
  ifindex: number;
  name: string;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: operationally up (RFC 2863 oper state up or unknown). */
  running: boolean;
  flags: number;
  mtu: number;
}

/** An interface address. */
export interface AddrInfo {
  ifindex: number;
  family: IpFamily;
  address: Address;
  prefixLen: number;
  scope: "global" | "link" | "host" | "site" | number;
  /** IFA_F_TENTATIVE: duplicate address detection still running (IPv6). */
  tentative: boolean;
}

export interface NlMsgHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NlMessage {
  header: NlMsgHeader;
  /** The bytes after the header, bounded by `header.len`. */
  payload: Uint8Array;
}

export interface ParsedMessages {
  messages: NlMessage[];
  /** Set when the walk stopped early on an impossible length (the rest was ignored). */
  malformed?: string;
}

/** NLMSG_ALIGN / RTA_ALIGN: round up to a multiple of 4. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Splits a datagram into netlink messages. Never throws. */
export function parseMessages(buf: Uint8Array): ParsedMessages {
  const messages: NlMessage[] = [];
  const dv = view(buf);
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = dv.getUint32(off, LE);
    if (len < NLMSG_HDRLEN || len > buf.length - off) {
      return { messages, malformed: `message at ${off} claims ${len} bytes, ${buf.length - off} left` };
    }
    messages.push({
      header: {
        len,
        type: dv.getUint16(off + 4, LE),
        flags: dv.getUint16(off + 6, LE),
        seq: dv.getUint32(off + 8, LE),
        pid: dv.getUint32(off + 12, LE),
      },
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length) {
    return { messages, malformed: `${buf.length - off} trailing bytes` };
  }
  return { messages };
}

/**
 * Reads the route attributes in `buf` from `offset` on into a map type -> payload. A later
 * attribute of the same type replaces an earlier one. Stops at an impossible length.
 */
export function parseAttributes(buf: Uint8Array, offset: number): Map<number, Uint8Array> {
  const attrs = new Map<number, Uint8Array>();
  const dv = view(buf);
  let off = offset;
  while (off + RTA_HDRLEN <= buf.length) {
    const len = dv.getUint16(off, LE);
    if (len < RTA_HDRLEN || len > buf.length - off) break;
    attrs.set(dv.getUint16(off + 2, LE) & NLA_TYPE_MASK, buf.subarray(off + RTA_HDRLEN, off + len));
    off += align4(len);
  }
  return attrs;
}

function attrU32(a: Uint8Array | undefined): number | undefined {
  if (a === undefined || a.length < 4) return undefined;
  return view(a).getUint32(0, LE);
}

function attrString(a: Uint8Array | undefined): string | undefined {
  if (a === undefined) return undefined;
  const nul = a.indexOf(0);
  return Buffer.from(a.buffer, a.byteOffset, nul === -1 ? a.length : nul).toString("utf8");
}

/** Decodes the `nlmsgerr` of an NLMSG_ERROR message: 0 is an ACK, otherwise -errno. */
export function decodeNlmsgerr(payload: Uint8Array): { error: number; seq: number | null } | null {
  if (payload.length < 4) return null;
  const dv = view(payload);
  return { error: dv.getInt32(0, LE), seq: payload.length >= 4 + NLMSG_HDRLEN ? dv.getUint32(4 + 8, LE) : null };
}

/** Decodes an RTM_NEWLINK / RTM_DELLINK payload (ifinfomsg + attributes); null if short. */
export function decodeIfinfomsg(payload: Uint8Array): LinkInfo | null {
  if (payload.length < IFINFOMSG_LEN) return null;
  const dv = view(payload);
  const ifindex = dv.getInt32(4, LE);
  const flags = dv.getUint32(8, LE);
  const attrs = parseAttributes(payload, IFINFOMSG_LEN);
  return {
    ifindex,
    name: attrString(attrs.get(IFLA_IFNAME)) ?? "",
    up: (flags & IFF_UP) !== 0,
    running: (flags & IFF_RUNNING) !== 0,
    flags,
    mtu: attrU32(attrs.get(IFLA_MTU)) ?? 0,
  };
}

/** rtnetlink scope number -> name (linux/rtnetlink.h rt_scope_t). */
export function scopeName(scope: number): AddrInfo["scope"] {
  switch (scope) {
    case RT_SCOPE_UNIVERSE:
      return "global";
    case RT_SCOPE_SITE:
      return "site";
    case RT_SCOPE_LINK:
      return "link";
    case RT_SCOPE_HOST:
      return "host";
    default:
      return scope;
  }
}

/**
 * Decodes an RTM_NEWADDR / RTM_DELADDR payload. IPv4 uses IFA_LOCAL (the interface's own
 * address; IFA_ADDRESS is the peer on point-to-point links), IPv6 uses IFA_ADDRESS. The
 * 32-bit IFA_FLAGS attribute, when present, supersedes the 8-bit ifa_flags. Null for other
 * families, short payloads or a missing address.
 */
export function decodeIfaddrmsg(payload: Uint8Array): AddrInfo | null {
  if (payload.length < IFADDRMSG_LEN) return null;
  const dv = view(payload);
  const fam = payload[0];
  const prefixLen = payload[1] ?? 0;
  const scope = payload[3] ?? 0;
  const ifindex = dv.getUint32(4, LE);
  const attrs = parseAttributes(payload, IFADDRMSG_LEN);
  const flags = attrU32(attrs.get(IFA_FLAGS)) ?? payload[2] ?? 0;
  let family: IpFamily;
  let address: Address;
  if (fam === AF_INET) {
    const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
    if (raw === undefined || raw.length < 4) return null;
    family = "ipv4";
    address = bytesToIpv4(raw.subarray(0, 4));
  } else if (fam === AF_INET6) {
    const raw = attrs.get(IFA_ADDRESS) ?? attrs.get(IFA_LOCAL);
    if (raw === undefined || raw.length < 16) return null;
    family = "ipv6";
    address = bytesToIpv6(raw.subarray(0, 16));
  } else {
    return null;
  }
  return { ifindex, family, address, prefixLen, scope: scopeName(scope), tentative: (flags & IFA_F_TENTATIVE) !== 0 };
}

/** Encodes one route attribute (header + payload + padding). */
export function encodeRtattr(type: number, data: Uint8Array): Buffer {
  const len = RTA_HDRLEN + data.length;
  const buf = Buffer.alloc(align4(len));
  const dv = view(buf);
  dv.setUint16(0, len, LE);
  dv.setUint16(2, type, LE);
  buf.set(data, RTA_HDRLEN);
  return buf;
}

/** Encodes a netlink message: header + body (body padded to 4 bytes). */
export function encodeMessage(type: number, flags: number, seq: number, body: Uint8Array, pid = 0): Buffer {
  const len = NLMSG_HDRLEN + body.length;
  const buf = Buffer.alloc(align4(len));
  const dv = view(buf);
  dv.setUint32(0, len, LE);
  dv.setUint16(4, type, LE);
  dv.setUint16(6, flags, LE);
  dv.setUint32(8, seq >>> 0, LE);
  dv.setUint32(12, pid >>> 0, LE);
  buf.set(body, NLMSG_HDRLEN);
  return buf;
}

/** RTM_GETLINK dump request (ifinfomsg family AF_UNSPEC, statistics skipped). */
export function encodeGetLinkDump(seq: number): Buffer {
  const ifi = Buffer.alloc(IFINFOMSG_LEN);
  const mask = Buffer.alloc(4);
  view(mask).setUint32(0, RTEXT_FILTER_SKIP_STATS, LE);
  const body = Buffer.concat([ifi, encodeRtattr(IFLA_EXT_MASK, mask)]);
  return encodeMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, body);
}

/** RTM_GETADDR dump request for all families (ifaddrmsg family AF_UNSPEC). */
export function encodeGetAddrDump(seq: number): Buffer {
  return encodeMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, Buffer.alloc(IFADDRMSG_LEN));
}

/** `struct sockaddr_nl` (12 bytes): pid 0 lets the kernel pick the port id; groups is a bitmask. */
export function packSockaddrNl(pid: number, groups: number): Buffer {
  const buf = Buffer.alloc(12);
  const dv = view(buf);
  dv.setUint16(0, AF_NETLINK, LE);
  dv.setUint32(4, pid >>> 0, LE);
  dv.setUint32(8, groups >>> 0, LE);
  return buf;
}

/** Encodes an ifinfomsg with attributes: for tests and tools that build messages by hand. */
export function encodeIfinfomsg(
  link: { ifindex: number; flags: number; family?: number; type?: number; change?: number },
  attrs: Array<[number, Uint8Array]> = [],
): Buffer {
  const head = Buffer.alloc(IFINFOMSG_LEN);
  const dv = view(head);
  head[0] = link.family ?? AF_UNSPEC;
  dv.setUint16(2, link.type ?? 0, LE);
  dv.setInt32(4, link.ifindex, LE);
  dv.setUint32(8, link.flags >>> 0, LE);
  dv.setUint32(12, (link.change ?? 0) >>> 0, LE);
  return Buffer.concat([head, ...attrs.map(([t, d]) => encodeRtattr(t, d))]);
}

/** Encodes an ifaddrmsg with attributes: for tests and tools that build messages by hand. */
export function encodeIfaddrmsg(
  addr: { family: number; prefixLen: number; flags: number; scope: number; ifindex: number },
  attrs: Array<[number, Uint8Array]> = [],
): Buffer {
  const head = Buffer.alloc(IFADDRMSG_LEN);
  head[0] = addr.family;
  head[1] = addr.prefixLen;
  head[2] = addr.flags & 0xff;
  head[3] = addr.scope;
  view(head).setUint32(4, addr.ifindex >>> 0, LE);
  return Buffer.concat([head, ...attrs.map(([t, d]) => encodeRtattr(t, d))]);
}
