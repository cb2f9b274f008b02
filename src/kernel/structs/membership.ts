/**
 * Packing of the RFC 3678 protocol-independent multicast socket option structs
 * (`group_req`, `group_source_req`, `group_filter`). Host-order fields use the machine's
 * byte order, addresses are in network order inside a `sockaddr_in` / `sockaddr_in6` in a
 * 128-byte `sockaddr_storage`, aligned as a pointer: the offsets below are x86_64's, a
 * 32-bit ABI has every storage 4 bytes earlier; both come from abi.ts (HOST_LAYOUTS).
 * docs/kernel.md "Struct layouts".
 *
 *   group_req         136: gr_interface u32 @0, pad 4, gr_group sockaddr_storage @8
 *   group_source_req  264: gsr_interface @0, gsr_group @8, gsr_source @136
 *   group_filter  144+128n: gf_interface @0, gf_group @8, gf_fmode u32 @136,
 *                           gf_numsrc u32 @140, gf_slist[n] @144 (128 bytes each)
 *   (ILP32: 132; 260, group @4, source @132; 140+128n, group @4, fmode @132, numsrc @136)
 */
import type { Address, IpFamily } from "../../wire/types.js";
import { HOST_LAYOUTS } from "./abi.js";
import {
  AF_INET,
  AF_INET6,
  HOST_LE as LE,
  parseSockaddr,
  SOCKADDR_STORAGE_SIZE,
  writeSockaddrIn,
  writeSockaddrIn6,
} from "./sockaddr.js";

export { AF_INET, AF_INET6, SOCKADDR_STORAGE_SIZE };

/** Socket option levels and names (linux/in.h, linux/in6.h). */
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const MCAST_JOIN_GROUP = 42;
export const MCAST_BLOCK_SOURCE = 43;
export const MCAST_UNBLOCK_SOURCE = 44;
export const MCAST_LEAVE_GROUP = 45;
export const MCAST_JOIN_SOURCE_GROUP = 46;
export const MCAST_LEAVE_SOURCE_GROUP = 47;
export const MCAST_MSFILTER = 48;
/** RFC 3678 §5.2 filter modes as the kernel numbers them. */
export const MCAST_EXCLUDE = 0;
export const MCAST_INCLUDE = 1;


export const GROUP_REQ_SIZE = HOST_LAYOUTS.group_req!;
export const GROUP_SOURCE_REQ_SIZE = HOST_LAYOUTS.group_source_req!;
/** Offset of the first sockaddr_storage (the group) after the u32 interface index. */
export const GR_GROUP_OFFSET = HOST_LAYOUTS["group_req.gr_group"]!;
/** Offsets inside group_filter. */
export const GF_FMODE_OFFSET = HOST_LAYOUTS["group_filter.gf_fmode"]!;
export const GF_NUMSRC_OFFSET = HOST_LAYOUTS["group_filter.gf_numsrc"]!;
export const GF_SLIST_OFFSET = HOST_LAYOUTS["group_filter.gf_slist"]!;

/** GROUP_FILTER_SIZE(n) of RFC 3678 §5.2.1: 144 + 128n bytes on x86_64 (140 + 128n on ILP32). */
export function groupFilterSize(numsrc: number): number {
  return GF_SLIST_OFFSET + SOCKADDR_STORAGE_SIZE * numsrc;
}

/** Socket option level for a family (IPPROTO_IP / IPPROTO_IPV6). */
export function levelFor(family: IpFamily): number {
  return family === "ipv4" ? SOL_IP : SOL_IPV6;
}

/**
 * Writes a `sockaddr_in` (family @0, port @2 = 0, addr @4) or `sockaddr_in6` (family @0,
 * port @2, flowinfo @4, addr @8, scope_id @24) at `offset`. The rest of the storage must
 * already be zero.
 */
export function writeSockaddr(buf: Buffer, offset: number, family: IpFamily, address: Address): void {
  if (family === "ipv4") writeSockaddrIn(buf, offset, address);
  else writeSockaddrIn6(buf, offset, address);
}

/** Reads the address of a `sockaddr_in` / `sockaddr_in6` at `offset`; null for another family or short input. */
export function readSockaddr(buf: Uint8Array, offset: number): { family: IpFamily; address: Address } | null {
  const sa = parseSockaddr(buf.subarray(offset));
  return sa === null || sa.family === "netlink" ? null : { family: sa.family, address: sa.address };
}

/** `struct group_req` for MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP. */
export function packGroupReq(ifindex: number, family: IpFamily, group: Address): Buffer {
  const buf = Buffer.alloc(GROUP_REQ_SIZE);
  writeU32(buf, 0, ifindex);
  writeSockaddr(buf, GR_GROUP_OFFSET, family, group);
  return buf;
}

/** `struct group_source_req` for MCAST_{JOIN,LEAVE}_SOURCE_GROUP / MCAST_{BLOCK,UNBLOCK}_SOURCE. */
export function packGroupSourceReq(ifindex: number, family: IpFamily, group: Address, source: Address): Buffer {
  const buf = Buffer.alloc(GROUP_SOURCE_REQ_SIZE);
  writeU32(buf, 0, ifindex);
  writeSockaddr(buf, GR_GROUP_OFFSET, family, group);
  writeSockaddr(buf, GR_GROUP_OFFSET + SOCKADDR_STORAGE_SIZE, family, source);
  return buf;
}

/**
 * `struct group_filter` for MCAST_MSFILTER (RFC 3678 §5.2.1). `capacity` (default: the
 * number of sources) sizes the source list; a larger capacity makes room for the kernel's
 * answer to `getsockopt`.
 */
export function packGroupFilter(
  ifindex: number,
  family: IpFamily,
  group: Address,
  mode: "include" | "exclude",
  sources: readonly Address[],
  capacity: number = sources.length,
): Buffer {
  const slots = Math.max(capacity, sources.length);
  const buf = Buffer.alloc(groupFilterSize(slots));
  writeU32(buf, 0, ifindex);
  writeSockaddr(buf, GR_GROUP_OFFSET, family, group);
  writeU32(buf, GF_FMODE_OFFSET, mode === "include" ? MCAST_INCLUDE : MCAST_EXCLUDE);
  writeU32(buf, GF_NUMSRC_OFFSET, sources.length);
  sources.forEach((s, i) => {
    writeSockaddr(buf, GF_SLIST_OFFSET + i * SOCKADDR_STORAGE_SIZE, family, s);
  });
  return buf;
}

/**
 * The in/out `group_filter` for getsockopt(MCAST_MSFILTER): the kernel reads the interface,
 * the group and gf_numsrc (how many source slots the caller provides) and writes back the
 * mode, the real source count and at most `capacity` sources.
 */
export function packGroupFilterQuery(ifindex: number, family: IpFamily, group: Address, capacity: number): Buffer {
  const buf = packGroupFilter(ifindex, family, group, "include", [], capacity);
  writeU32(buf, GF_NUMSRC_OFFSET, capacity);
  return buf;
}

/** A `group_filter` as read back from the kernel. */
export interface UnpackedGroupFilter {
  ifindex: number;
  family: IpFamily;
  group: Address;
  mode: "include" | "exclude";
  /** The kernel's source count; may exceed `sources.length` when the buffer was too small. */
  numsrc: number;
  /** The sources that fitted in the buffer (at most `length` bytes worth). */
  sources: Address[];
}

/**
 * Decodes a `group_filter` of `length` valid bytes (the optlen getsockopt returned; default
 * the whole buffer). Null when the header is short or the group is not an inet address.
 */
export function unpackGroupFilter(buf: Uint8Array, length: number = buf.length): UnpackedGroupFilter | null {
  const end = Math.min(length, buf.length);
  if (end < GF_SLIST_OFFSET) return null;
  const group = readSockaddr(buf.subarray(0, end), GR_GROUP_OFFSET);
  if (group === null) return null;
  const fmode = readU32(buf, GF_FMODE_OFFSET);
  const numsrc = readU32(buf, GF_NUMSRC_OFFSET);
  const fit = Math.min(numsrc, Math.floor((end - GF_SLIST_OFFSET) / SOCKADDR_STORAGE_SIZE));
  const sources: Address[] = [];
  for (let i = 0; i < fit; i++) {
    const s = readSockaddr(buf.subarray(0, end), GF_SLIST_OFFSET + i * SOCKADDR_STORAGE_SIZE);
    if (s !== null && s.family === group.family) sources.push(s.address);
  }
  return {
    ifindex: readU32(buf, 0),
    family: group.family,
    group: group.address,
    mode: fmode === MCAST_INCLUDE ? "include" : "exclude",
    numsrc,
    sources,
  };
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
function writeU32(buf: Uint8Array, off: number, v: number): void {
  view(buf).setUint32(off, v >>> 0, LE);
}
function readU32(buf: Uint8Array, off: number): number {
  return view(buf).getUint32(off, LE);
}
