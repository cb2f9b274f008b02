/**
 * Test support: a minimal pcap writer (libpcap format, microsecond timestamps) and IPv4 /
 * IPv6 header builders for IGMP and MLD packets as routers and hosts send them:
 * - IPv4: TTL 1, IP Router Alert option (RFC 2113), header checksum, protocol 2 (IGMP),
 *   TOS 0xc0 (Internetwork Control), as the Linux kernel sends IGMP.
 * - IPv6: hop limit 1, Hop-by-Hop Options header with Router Alert value 0 (MLD, RFC 2711)
 *   and a PadN, then ICMPv6 (RFC 9777 §5); the ICMPv6 checksum is computed over the
 *   pseudo-header with the final destination.
 */
import { writeFileSync } from "node:fs";
import { writeIpv4, writeIpv6 } from "../../src/wire/address.js";
import { internetChecksum } from "../../src/wire/checksum.js";
import { serializeIgmp, serializeMld } from "../../src/wire/index.js";
import type { Address, Message } from "../../src/wire/types.js";

/** LINKTYPE_RAW: each record is a bare IPv4 or IPv6 packet. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;

/** Collects packets and produces a classic pcap file. */
export class PcapWriter {
  private readonly records: Uint8Array[] = [];
  private nextMicros = 1_700_000_000_000_000n;

  constructor(
    readonly linktype = LINKTYPE_RAW,
    readonly snaplen = 65535,
  ) {}

  /** Appends one packet; timestamps advance by 1 ms unless given. */
  add(packet: Uint8Array, timestampMicros?: bigint): this {
    const ts = timestampMicros ?? this.nextMicros;
    this.nextMicros = ts + 1000n;
    const rec = new Uint8Array(16 + packet.length);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, Number(ts / 1_000_000n), true);
    dv.setUint32(4, Number(ts % 1_000_000n), true);
    const caplen = Math.min(packet.length, this.snaplen);
    dv.setUint32(8, caplen, true);
    dv.setUint32(12, packet.length, true);
    rec.set(packet.subarray(0, caplen), 16);
    this.records.push(rec);
    return this;
  }

  get count(): number {
    return this.records.length;
  }

  /** The whole file: global header (magic 0xa1b2c3d4, v2.4, little-endian) and records. */
  toBytes(): Uint8Array {
    const header = new Uint8Array(24);
    const dv = new DataView(header.buffer);
    dv.setUint32(0, 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true);
    dv.setUint32(12, 0, true);
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linktype, true);
    const total = this.records.reduce((n, r) => n + r.length, 24);
    const out = new Uint8Array(total);
    out.set(header, 0);
    let off = 24;
    for (const r of this.records) {
      out.set(r, off);
      off += r.length;
    }
    return out;
  }

  writeFile(path: string): void {
    writeFileSync(path, this.toBytes());
  }
}

export interface Ipv4Options {
  source: Address;
  destination: Address;
  payload: Uint8Array;
  /** Default 1 (all IGMP is sent with TTL 1). */
  ttl?: number;
  /** Default true: IP Router Alert option 94 04 00 00. */
  routerAlert?: boolean;
  /** Default 2 (IGMP). */
  protocol?: number;
  /** Default 0xc0. */
  tos?: number;
  identification?: number;
}

/** IPv4 packet with a correct header checksum (RFC 791). */
export function ipv4Packet(o: Ipv4Options): Uint8Array {
  const ra = o.routerAlert ?? true;
  const hlen = ra ? 24 : 20;
  const total = hlen + o.payload.length;
  const p = new Uint8Array(total);
  p[0] = 0x40 | (hlen / 4);
  p[1] = o.tos ?? 0xc0;
  p[2] = total >>> 8;
  p[3] = total & 0xff;
  const id = o.identification ?? 0;
  p[4] = id >>> 8;
  p[5] = id & 0xff;
  p[6] = 0x40; // Don't Fragment
  p[8] = o.ttl ?? 1;
  p[9] = o.protocol ?? 2;
  writeIpv4(p, 12, o.source);
  writeIpv4(p, 16, o.destination);
  if (ra) p.set([0x94, 0x04, 0x00, 0x00], 20);
  const c = internetChecksum(p, 0, hlen);
  p[10] = c >>> 8;
  p[11] = c & 0xff;
  p.set(o.payload, hlen);
  return p;
}

export interface Ipv6Options {
  source: Address;
  destination: Address;
  payload: Uint8Array;
  /** Default 1. */
  hopLimit?: number;
  /** Default true: Hop-by-Hop header 3a 00 05 02 00 00 01 00 before the payload. */
  routerAlert?: boolean;
  /** Upper-layer protocol of the payload; default 58 (ICMPv6). */
  nextHeader?: number;
}

/** IPv6 packet, optionally with a Hop-by-Hop Router Alert (RFC 2711). */
export function ipv6Packet(o: Ipv6Options): Uint8Array {
  const ra = o.routerAlert ?? true;
  const nh = o.nextHeader ?? 58;
  const ext = ra ? 8 : 0;
  const p = new Uint8Array(40 + ext + o.payload.length);
  p[0] = 0x60;
  const plen = ext + o.payload.length;
  p[4] = plen >>> 8;
  p[5] = plen & 0xff;
  p[6] = ra ? 0 : nh;
  p[7] = o.hopLimit ?? 1;
  writeIpv6(p, 8, o.source);
  writeIpv6(p, 24, o.destination);
  if (ra) p.set([nh, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00], 40);
  p.set(o.payload, 40 + ext);
  return p;
}

/** IGMP message in an IPv4 packet (TTL 1, Router Alert). */
export function igmpPacket(
  source: Address,
  destination: Address,
  msg: Message,
  extra: Partial<Ipv4Options> = {},
): Uint8Array {
  return ipv4Packet({ source, destination, payload: serializeIgmp(msg), ...extra });
}

/** MLD message in an IPv6 packet (hop limit 1, Hop-by-Hop Router Alert, checksum filled). */
export function mldPacket(
  source: Address,
  destination: Address,
  msg: Message,
  extra: Partial<Ipv6Options> = {},
): Uint8Array {
  return ipv6Packet({ source, destination, payload: serializeMld(msg, { source, destination }), ...extra });
}
