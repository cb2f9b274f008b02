/**
 * Socket address packing for Linux (x86_64, but host-order fields follow the machine;
 * docs/kernel.md "Struct layouts"):
 *
 *   sockaddr_in   16: family u16 (host) @0, port u16 (network) @2, addr @4, zero[8] @8
 *   sockaddr_in6  28: family u16 (host) @0, port u16 (network) @2, flowinfo u32 (network) @4,
 *                     addr[16] @8, scope_id u32 (host) @24
 *   sockaddr_nl   12: family u16 (host) @0, pad u16 @2, pid u32 (host) @4, groups u32 (host) @8
 *   sockaddr_un  110: family u16 (host) @0, sun_path[108] @2 (unix(7)); passed as long as
 *                     the path and its NUL, or "@name": an abstract name (leading NUL, no NUL after)
 *
 * Addresses are the project's canonical text (src/wire/address.ts).
 */
import { endianness } from "node:os";
import { bytesToIpv4, bytesToIpv6, writeIpv4, writeIpv6 } from "../../wire/address.js";
import type { Address, IpFamily } from "../../wire/types.js";

/** Host byte order for "host-order" struct fields. */
export const HOST_LE = endianness() === "LE";

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
export const SOCKADDR_NL_SIZE = 12;
/** sizeof(struct sockaddr_storage). */
export const SOCKADDR_STORAGE_SIZE = 128;

/** Offsets of the address bytes inside sockaddr_in / sockaddr_in6. */
export const SIN_ADDR_OFFSET = 4;
export const SIN6_ADDR_OFFSET = 8;
export const SIN6_SCOPE_ID_OFFSET = 24;

/** The AF_* number of a family. */
export function afOf(family: IpFamily): number {
  return family === "ipv4" ? AF_INET : AF_INET6;
}

/** Length in bytes of an address of `family` (4 or 16). */
export function addressLength(family: IpFamily): number {
  return family === "ipv4" ? 4 : 16;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes a sockaddr_in at `buf[offset..offset+15]` (the buffer is expected zeroed). */
export function writeSockaddrIn(buf: Uint8Array, offset: number, address: Address, port = 0): void {
  const v = view(buf);
  v.setUint16(offset, AF_INET, HOST_LE);
  v.setUint16(offset + 2, port, false);
  writeIpv4(buf, offset + SIN_ADDR_OFFSET, address);
}

/** Writes a sockaddr_in6 at `buf[offset..offset+27]` (the buffer is expected zeroed). */
export function writeSockaddrIn6(
  buf: Uint8Array,
  offset: number,
  address: Address,
  opts: { port?: number; flowinfo?: number; scopeId?: number } = {},
): void {
  const v = view(buf);
  v.setUint16(offset, AF_INET6, HOST_LE);
  v.setUint16(offset + 2, opts.port ?? 0, false);
  v.setUint32(offset + 4, opts.flowinfo ?? 0, false);
  writeIpv6(buf, offset + SIN6_ADDR_OFFSET, address);
  v.setUint32(offset + SIN6_SCOPE_ID_OFFSET, opts.scopeId ?? 0, HOST_LE);
}

/** A fresh sockaddr_in. */
export function sockaddrIn(address: Address, port = 0): Buffer {
  const b = Buffer.alloc(SOCKADDR_IN_SIZE);
  writeSockaddrIn(b, 0, address, port);
  return b;
}

/** A fresh sockaddr_in6. `scopeId` is the interface index for link-local addresses. */
export function sockaddrIn6(
  address: Address,
  opts: { port?: number; flowinfo?: number; scopeId?: number } = {},
): Buffer {
  const b = Buffer.alloc(SOCKADDR_IN6_SIZE);
  writeSockaddrIn6(b, 0, address, opts);
  return b;
}

/** A fresh sockaddr_in or sockaddr_in6 for `family`. */
export function sockaddrFor(
  family: IpFamily,
  address: Address,
  opts: { port?: number; scopeId?: number } = {},
): Buffer {
  return family === "ipv4" ? sockaddrIn(address, opts.port ?? 0) : sockaddrIn6(address, opts);
}

/** A fresh sockaddr_nl (pid 0 = the kernel when used as a destination). */
export function sockaddrNl(pid = 0, groups = 0): Buffer {
  const b = Buffer.alloc(SOCKADDR_NL_SIZE);
  const v = view(b);
  v.setUint16(0, AF_NETLINK, HOST_LE);
  v.setUint32(4, pid >>> 0, HOST_LE);
  v.setUint32(8, groups >>> 0, HOST_LE);
  return b;
}

/** The longest sun_path a pathname socket can have: 108 bytes with its terminating NUL. */
export const SUN_PATH_MAX = 107;

/**
 * A sockaddr_un for `path` (unix(7)); "@name" is an abstract socket. RangeError when the
 * path is empty or longer than SUN_PATH_MAX bytes.
 */
export function sockaddrUn(path: string): Buffer {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path, "utf8");
  if (name.length === 0 || name.length > SUN_PATH_MAX) {
    throw new RangeError(`unix socket path must be 1 to ${SUN_PATH_MAX} bytes, got ${name.length}: ${path}`);
  }
  const b = Buffer.alloc(2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1));
  view(b).setUint16(0, AF_UNIX, HOST_LE);
  name.copy(b, abstract ? 3 : 2);
  return b;
}

export type ParsedSockaddr =
  | { family: "ipv4"; address: Address; port: number }
  | { family: "ipv6"; address: Address; port: number; flowinfo: number; scopeId: number }
  | { family: "netlink"; pid: number; groups: number };

/** Decodes a raw sockaddr (as `recvmsg().from` returns); null for unknown or short input. */
export function parseSockaddr(buf: Uint8Array): ParsedSockaddr | null {
  if (buf.length < 2) return null;
  const v = view(buf);
  const af = v.getUint16(0, HOST_LE);
  if (af === AF_INET && buf.length >= 8) {
    return { family: "ipv4", address: bytesToIpv4(buf, SIN_ADDR_OFFSET), port: v.getUint16(2, false) };
  }
  if (af === AF_INET6 && buf.length >= SOCKADDR_IN6_SIZE) {
    return {
      family: "ipv6",
      address: bytesToIpv6(buf, SIN6_ADDR_OFFSET),
      port: v.getUint16(2, false),
      flowinfo: v.getUint32(4, false),
      scopeId: v.getUint32(SIN6_SCOPE_ID_OFFSET, HOST_LE),
    };
  }
  if (af === AF_NETLINK && buf.length >= SOCKADDR_NL_SIZE) {
    return { family: "netlink", pid: v.getUint32(4, HOST_LE), groups: v.getUint32(8, HOST_LE) };
  }
  return null;
}

/** Raw address bytes (4 or 16, network order) of canonical text. */
export function addressBytes(family: IpFamily, address: Address): Uint8Array {
  const out = new Uint8Array(addressLength(family));
  if (family === "ipv4") writeIpv4(out, 0, address);
  else writeIpv6(out, 0, address);
  return out;
}

/** Canonical text of raw address bytes (4 -> IPv4, 16 -> IPv6). */
export function addressFromBytes(bytes: Uint8Array): Address {
  if (bytes.length === 4) return bytesToIpv4(bytes, 0);
  if (bytes.length === 16) return bytesToIpv6(bytes, 0);
  throw new RangeError(`address must be 4 or 16 bytes, got ${bytes.length}`);
}
