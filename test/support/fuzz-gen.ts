/**
 * Hostile IGMP / MLD packet generators for the fuzzer (bench/fuzz.ts) and its unit tests.
 *
 * Pure: no I/O, no clock, no global random state. Every packet is a function of
 * (seed, link, index): `fuzzPacket(seed, link, i)` seeds its own PRNG from a hash of the
 * three, so any packet of a run can be rebuilt from the run's seed and its index alone
 * (`npm run fuzz -- --seed S --start I --packets 1` replays packet I).
 *
 * A packet is one or more complete Ethernet frames (several when the IP packet is
 * fragmented), ready for an AF_PACKET raw socket:
 *  - payload: valid IGMPv1/v2/v3 and MLDv1/v2 messages (src/wire builders + serialize),
 *    random bytes, bit flips, truncations and extensions of valid messages, absurd record /
 *    source counts and aux lengths, unknown record types; checksum right or wrong;
 *  - IPv4 header: TTL 1 or not, Router Alert or none (or other / broken options), the IP
 *    header checksum and total length right or wrong, fragments (complete or partial);
 *  - IPv6 header: hop limit 1 or not, extension-header chains (hop-by-hop with or without
 *    Router Alert, unknown options, destination options, routing, fragment headers,
 *    chains in the wrong order);
 *  - destinations: the report / all-systems / all-routers groups, group addresses, the
 *    router's unicast addresses, broadcast; sources: the host, other on-link hosts, the
 *    link's network and broadcast addresses, off-link and unspecified sources, the
 *    router's own address.
 * Addresses stay inside the lab's test ranges (10.0.0.0/8, fd00::/8, fe80::/10, multicast).
 */
import {
  type Address,
  bytesToIpv4,
  bytesToIpv6,
  generalQuery,
  groupQuery,
  groupSourceQuery,
  icmpv6Checksum,
  type IpFamily,
  internetChecksum,
  ipv4ToBytes,
  ipv6ToBytes,
  leave,
  type Message,
  report,
  serialize,
  v3Report,
} from "../../src/wire/index.js";

// ------------------------------------------------------------------ PRNG

/** sfc32: a small, fast, well-mixed 32-bit PRNG; same seed, same stream. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** One of `choices` by weight. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let x = (this.u32() / 4294967296) * total;
    for (const [w, v] of choices) {
      x -= w;
      if (x < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** A 32-bit hash of the run seed, link and packet index (splitmix-style mixing). */
export function packetSeed(seed: number, family: IpFamily, role: LinkRole, index: number): number {
  let h = (seed ^ 0x85ebca6b) >>> 0;
  for (const v of [
    family === "ipv4" ? 4 : 6,
    role === "downstream" ? 1 : 2,
    index >>> 0,
    Math.floor(index / 2 ** 32),
  ]) {
    h = Math.imul(h ^ v, 0x9e3779b1) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}

// ------------------------------------------------------------------ the link

export type LinkRole = "downstream" | "upstream";

/** Where the injector sits: its link, addresses and MACs. */
export interface FuzzLink {
  family: IpFamily;
  role: LinkRole;
  /** The injector's MAC (6 bytes). */
  hostMac: Uint8Array;
  /** The router's MAC on this link (6 bytes). */
  routerMac: Uint8Array;
  /** The injector's address on the link (10.11.0.2, fd00:11::2). */
  host: Address;
  /** The router's address on the link (10.11.0.1, fd00:11::1). */
  router: Address;
  /** The link's /24 (IPv4, "10.11.0") or /64 prefix (IPv6, "fd00:11:"), as in src/lab/topology.ts. */
  prefix: string;
}

/** What one generated packet is. */
export interface FuzzPacket {
  /** Complete Ethernet frames, in sending order (more than one when fragmented). */
  frames: Uint8Array[];
  /** One line: payload class, message, header variations, source and destination. */
  desc: string;
}

// ------------------------------------------------------------------ address pools

const V4_GROUPS = Array.from({ length: 32 }, (_, i) => `239.77.${i >> 3}.${(i & 7) + 1}`);
const V4_SSM = ["232.77.0.1", "232.77.0.2", "232.77.1.1"];
const V6_GROUPS = Array.from({ length: 32 }, (_, i) => `ff05::77:${(i + 1).toString(16)}`);
const V6_SSM = ["ff35::77:1", "ff35::77:2", "ff3e::77:1"];
/** Group fields a hostile host may put in a message: pool groups, link-local groups, non-multicast. */
function groupField(r: Prng, family: IpFamily): Address {
  const v4 = family === "ipv4";
  return r.weighted<() => Address>([
    [60, () => r.pick(v4 ? V4_GROUPS : V6_GROUPS)],
    [10, () => r.pick(v4 ? V4_SSM : V6_SSM)],
    [5, () => (v4 ? `224.0.0.${r.range(0, 255)}` : `ff02::${r.range(0, 0xffff).toString(16)}`)],
    [5, () => (v4 ? "0.0.0.0" : "::")],
    [
      5,
      () =>
        v4
          ? `10.${r.range(0, 255)}.${r.range(0, 255)}.${r.range(0, 255)}`
          : `fd00::${r.range(1, 0xffff).toString(16)}`,
    ],
    // Any multicast scope and range, from a bounded pool (224.x .. 239.x, ff00:: .. ffff::).
    [
      5,
      () =>
        v4
          ? `${r.range(224, 239)}.78.0.1`
          : `ff${r.pick(["0", "1", "3", "3", "e", "f"])}${r.range(0, 15).toString(16)}::78:1`,
    ],
    [5, () => (v4 ? "255.255.255.255" : "ff0f::1")],
    [5, () => (v4 ? V4_GROUPS[0]! : "ff01::1")],
  ])();
}
/**
 * Source fields: mostly the upstream sources, else one of a bounded pool (so that valid
 * state stays bounded and memory growth means a leak, not more state).
 */
function sourceField(r: Prng, family: IpFamily): Address {
  return family === "ipv4"
    ? r.chance(0.7)
      ? `10.10.0.${r.range(1, 8)}`
      : `10.20.${r.range(0, 3)}.${r.range(1, 64)}`
    : r.chance(0.7)
      ? `fd00:10::${r.range(1, 8)}`
      : `fd00:20::${r.range(0, 3)}:${r.range(1, 64).toString(16)}`;
}

// ------------------------------------------------------------------ payloads

interface Payload {
  bytes: Uint8Array;
  desc: string;
  /** Recompute the checksum once the IP addresses are known (false: leave it as generated). */
  fixChecksum: boolean;
}

function validMessage(r: Prng, family: IpFamily): { msg: Message; desc: string } {
  const v4 = family === "ipv4";
  const g = () => (r.chance(0.85) ? r.pick(v4 ? V4_GROUPS : V6_GROUPS) : r.pick(v4 ? V4_SSM : V6_SSM));
  const opts = () => ({
    maxRespTimeMs: r.pick([0, 100, 1000, 10_000, 25_500, 3_000_000]),
    sFlag: r.chance(0.2),
    qrv: r.range(0, 9),
    qqiSeconds: r.pick([0, 1, 125, 31744]),
  });
  const qv = v4 ? r.pick([1, 2, 3] as const) : r.pick([1, 2] as const);
  const cur = v4 ? 3 : 2;
  const kind = r.weighted<string>([
    [30, "v3report"],
    [15, "report"],
    [10, "leave"],
    [15, "general-query"],
    [10, "group-query"],
    [10, "group-source-query"],
  ]);
  switch (kind) {
    case "v3report": {
      const n = r.weighted([
        [70, 1],
        [20, r.range(2, 4)],
        [10, r.range(5, 40)],
      ]);
      const records = Array.from({ length: n }, () => ({
        recordType: r.range(1, 6),
        group: g(),
        sources: Array.from(
          {
            length: r.weighted([
              [50, 0],
              [40, r.range(1, 4)],
              [10, r.range(5, 60)],
            ]),
          },
          () => sourceField(r, family),
        ),
        auxData: r.chance(0.1) ? r.bytes(4 * r.range(1, 3)) : undefined,
      }));
      // Keep the message within one Ethernet frame.
      while (
        records.length > 1 &&
        records.reduce((s, x) => s + x.sources.length * (v4 ? 4 : 16) + 24, 0) > 1300
      )
        records.pop();
      const last = records[0]!;
      if (last.sources.length * (v4 ? 4 : 16) > 1300) last.sources.length = v4 ? 300 : 75;
      return {
        msg: v3Report(family, records),
        desc: `v3report(${records.map((x) => x.recordType).join(",")})`,
      };
    }
    case "report": {
      const ver = v4 ? r.pick([1, 2] as const) : 1;
      const gg = g();
      return { msg: report(family, ver, gg), desc: `report-v${ver} ${gg}` };
    }
    case "leave": {
      const gg = g();
      return { msg: leave(family, gg), desc: `leave ${gg}` };
    }
    case "general-query":
      return { msg: generalQuery(family, qv, opts()), desc: `general-query-v${qv}` };
    case "group-query": {
      const ver = r.chance(0.5) ? cur : qv;
      return { msg: groupQuery(family, ver, g(), opts()), desc: `group-query-v${ver}` };
    }
    default: {
      const srcs = Array.from({ length: r.range(1, 20) }, () => sourceField(r, family));
      return { msg: groupSourceQuery(family, g(), srcs, opts()), desc: `group-source-query(${srcs.length})` };
    }
  }
}

/** A v3 report / query whose counts lie: huge record or source counts, huge aux lengths. */
function absurdMessage(r: Prng, family: IpFamily): Payload {
  const v4 = family === "ipv4";
  const w = v4 ? 4 : 16;
  const which = r.pick([
    "report-records",
    "record-sources",
    "record-aux",
    "query-sources",
    "query-qqic",
  ] as const);
  if (which === "query-sources" || which === "query-qqic") {
    const head = v4 ? 12 : 28;
    const nsrc = which === "query-sources" ? r.pick([0xffff, 0x8000, 1000, 91, 90]) : r.range(0, 3);
    const bytes = new Uint8Array(
      head + w * r.range(0, Math.min(nsrc, 8)) + (r.chance(0.3) ? r.range(1, 7) : 0),
    );
    if (v4) {
      bytes[0] = 0x11;
      bytes[1] = r.pick([0, 1, 100, 127, 128, 255]);
      bytes.set(ipv4ToBytes(groupField(r, family)), 4);
      bytes[8] = r.chance(0.5) ? 0x0f : r.range(0, 255); // Resv | S | QRV 7
      bytes[9] = r.pick([255, 0, 128, 1]);
      bytes[10] = nsrc >> 8;
      bytes[11] = nsrc & 0xff;
    } else {
      bytes[0] = 130;
      const mrc = r.pick([0xffff, 0x8000, 0, 1]);
      bytes[4] = mrc >> 8;
      bytes[5] = mrc & 0xff;
      bytes.set(ipv6ToBytes(groupField(r, family)), 8);
      bytes[24] = r.chance(0.5) ? 0x0f : r.range(0, 255);
      bytes[25] = r.pick([255, 0, 128, 1]);
      bytes[26] = nsrc >> 8;
      bytes[27] = nsrc & 0xff;
    }
    for (let o = head; o + w <= bytes.length; o += w)
      bytes.set(v4 ? ipv4ToBytes(sourceField(r, family)) : ipv6ToBytes(sourceField(r, family)), o);
    return {
      bytes,
      desc: `absurd ${which} nsrc=${nsrc} qrv/qqic=${bytes[v4 ? 8 : 24]}/${bytes[v4 ? 9 : 25]}`,
      fixChecksum: r.chance(0.9),
    };
  }
  const nrec = which === "report-records" ? r.pick([0xffff, 0x8000, 256, 2]) : r.range(1, 3);
  const recs: number[] = [];
  for (let i = 0; i < Math.min(nrec, 3); i++) {
    const type = r.chance(0.8) ? r.range(1, 6) : r.range(0, 255);
    const aux = which === "record-aux" ? r.pick([255, 128, 64, 1]) : 0;
    const nsrc = which === "record-sources" ? r.pick([0xffff, 0x8000, 1000, 370]) : r.range(0, 2);
    recs.push(type, aux, nsrc >> 8, nsrc & 0xff);
    recs.push(...(v4 ? ipv4ToBytes(groupField(r, family)) : ipv6ToBytes(groupField(r, family))));
    const have = r.range(0, 4);
    for (let s = 0; s < have; s++)
      recs.push(...(v4 ? ipv4ToBytes(sourceField(r, family)) : ipv6ToBytes(sourceField(r, family))));
  }
  const bytes = new Uint8Array(8 + recs.length);
  bytes[0] = v4 ? 0x22 : 143;
  bytes[6] = nrec >> 8;
  bytes[7] = nrec & 0xff;
  bytes.set(recs, 8);
  return { bytes, desc: `absurd ${which} nrec=${nrec}`, fixChecksum: r.chance(0.9) };
}

/** A v3 report with record types outside 1..6 among valid ones. */
function unknownRecords(r: Prng, family: IpFamily): Payload {
  const types = Array.from({ length: r.range(1, 5) }, () =>
    r.chance(0.5) ? r.pick([0, 7, 8, 127, 128, 255]) : r.range(1, 255),
  );
  const msg = v3Report(
    family,
    types.map((recordType) => ({
      recordType,
      group: groupField(r, family),
      sources: Array.from({ length: r.range(0, 3) }, () => sourceField(r, family)),
    })),
  );
  return {
    bytes: serialize(family, msg),
    desc: `unknown-record-types(${types.join(",")})`,
    fixChecksum: true,
  };
}

function payloadOf(r: Prng, family: IpFamily): Payload {
  const v4 = family === "ipv4";
  const kind = r.weighted<string>([
    [30, "valid"],
    [8, "random"],
    [14, "bitflip"],
    [14, "truncate"],
    [5, "extend"],
    [17, "absurd"],
    [8, "unknown-record"],
    [4, "bad-type"],
  ]);
  const valid = () => {
    const m = validMessage(r, family);
    return { bytes: serialize(family, m.msg), desc: m.desc };
  };
  switch (kind) {
    case "valid": {
      const m = valid();
      return { bytes: m.bytes, desc: `valid ${m.desc}`, fixChecksum: r.chance(0.93) };
    }
    case "random": {
      const bytes = r.bytes(
        r.weighted([
          [30, r.range(0, 8)],
          [50, r.range(8, 64)],
          [20, r.range(64, 1400)],
        ]),
      );
      if (bytes.length > 0 && r.chance(0.7))
        bytes[0] = r.pick(v4 ? [0x11, 0x12, 0x16, 0x17, 0x22] : [130, 131, 132, 143]);
      return { bytes, desc: `random(${bytes.length})`, fixChecksum: r.chance(0.8) };
    }
    case "bitflip": {
      const m = valid();
      const flips = r.range(1, 8);
      for (let i = 0; i < flips && m.bytes.length > 0; i++) m.bytes[r.int(m.bytes.length)]! ^= 1 << r.int(8);
      return { bytes: m.bytes, desc: `bitflip(${flips}) ${m.desc}`, fixChecksum: r.chance(0.8) };
    }
    case "truncate": {
      const m = valid();
      const n = r.int(m.bytes.length);
      return {
        bytes: m.bytes.slice(0, n),
        desc: `truncate(${n}/${m.bytes.length}) ${m.desc}`,
        fixChecksum: r.chance(0.8),
      };
    }
    case "extend": {
      const m = valid();
      const extra = r.bytes(r.range(1, 64));
      const bytes = new Uint8Array(m.bytes.length + extra.length);
      bytes.set(m.bytes);
      bytes.set(extra, m.bytes.length);
      return { bytes, desc: `extend(+${extra.length}) ${m.desc}`, fixChecksum: true };
    }
    case "absurd":
      return absurdMessage(r, family);
    case "unknown-record":
      return unknownRecords(r, family);
    default: {
      const m = valid();
      if (m.bytes.length > 0) m.bytes[0] = r.range(0, 255);
      if (!v4 && r.chance(0.5)) m.bytes[1] = r.range(1, 255); // MLD code field
      return { bytes: m.bytes, desc: `type=${m.bytes[0]} ${m.desc}`, fixChecksum: true };
    }
  }
}

// ------------------------------------------------------------------ headers

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

function multicastMac(family: IpFamily, dst: Uint8Array): Uint8Array {
  return family === "ipv4"
    ? new Uint8Array([0x01, 0x00, 0x5e, dst[1]! & 0x7f, dst[2]!, dst[3]!])
    : new Uint8Array([0x33, 0x33, dst[12]!, dst[13]!, dst[14]!, dst[15]!]);
}

/**
 * The fragments of one datagram as sent: all in order, one missing, reversed, or one sent
 * twice (IPv4 and IPv6 alike). `desc` is completed with the mode.
 */
function disorderFragments(r: Prng, frames: Uint8Array[], desc: string): { frames: Uint8Array[]; desc: string } {
  const mode = r.weighted<string>([
    [60, "all"],
    [15, "missing"],
    [15, "reversed"],
    [10, "duplicate"],
  ]);
  if (mode === "missing" && frames.length > 1) frames.splice(r.int(frames.length), 1);
  if (mode === "reversed") frames.reverse();
  if (mode === "duplicate") frames.push(frames[r.int(frames.length)]!);
  return { frames, desc: `${desc},${mode})` };
}

function ethernet(dstMac: Uint8Array, srcMac: Uint8Array, type: number, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set(dstMac, 0);
  f.set(srcMac, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(ip, 14);
  return f;
}

/** The EUI-64 link-local address of a MAC (the kernel's default for veths). */
export function linkLocalOf(mac: Uint8Array): Address {
  const b = [mac[0]! ^ 2, mac[1]!, mac[2]!, 0xff, 0xfe, mac[3]!, mac[4]!, mac[5]!];
  const h = (i: number) => ((b[i]! << 8) | b[i + 1]!).toString(16);
  return `fe80::${h(0)}:${h(2)}:${h(4)}:${h(6)}`;
}

function v4Source(r: Prng, link: FuzzLink): [Address, string] {
  return r.weighted<[Address, string]>([
    [50, [link.host, "host"]],
    [12, [`${link.prefix}.${r.range(3, 18)}`, "on-link"]],
    [6, [`${link.prefix}.0`, "network"]],
    [6, [`${link.prefix}.255`, "broadcast"]],
    [8, [`10.${r.range(90, 99)}.0.${r.range(1, 4)}`, "off-link"]],
    [6, ["0.0.0.0", "unspecified"]],
    [6, [link.router, "router-spoof"]],
    [3, ["10.12.0.2", "other-downstream-host"]],
    [3, [`239.77.0.${r.range(1, 9)}`, "multicast-source"]],
  ]);
}

function v4Destination(r: Prng, link: FuzzLink): [Address, string] {
  return r.weighted<[Address, string]>([
    [30, ["224.0.0.22", "all-v3-routers"]],
    [15, ["224.0.0.1", "all-systems"]],
    [12, ["224.0.0.2", "all-routers"]],
    [18, [r.pick(V4_GROUPS), "group"]],
    [8, [link.router, "router-unicast"]],
    [5, ["255.255.255.255", "limited-broadcast"]],
    [4, [`${link.prefix}.255`, "link-broadcast"]],
    [8, [`224.0.0.${r.range(3, 255)}`, "other-link-local-group"]],
  ]);
}

/** IPv4 options: Router Alert (right or broken), none, or other options. */
function v4Options(r: Prng): [Uint8Array, string] {
  return r.weighted<[Uint8Array, string]>([
    [70, [new Uint8Array([0x94, 0x04, 0x00, 0x00]), "ra"]],
    [15, [new Uint8Array(0), "no-ra"]],
    [3, [new Uint8Array([0x94, 0x04, 0x12, 0x34]), "ra-value"]],
    [3, [new Uint8Array([0x01, 0x94, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]), "nop-ra"]],
    [3, [new Uint8Array([0x94, 0x06, 0x00, 0x00, 0x00, 0x00]).slice(0, 4), "ra-badlen"]],
    [3, [new Uint8Array([0x01, 0x01, 0x01, 0x00]), "nops"]],
    [3, [new Uint8Array([0x07, 0x07, 0x04, 0, 0, 0, 0, 0]), "record-route"]],
  ]);
}

function ipv4Packet(
  src: Address,
  dst: Address,
  ttl: number,
  opts: Uint8Array,
  payload: Uint8Array,
  frag: { id: number; offset: number; more: boolean } | undefined,
  tweak: { badHeaderChecksum?: boolean; totalLengthDelta?: number } = {},
): Uint8Array {
  const hl = 20 + opts.length;
  const p = new Uint8Array(hl + payload.length);
  p[0] = 0x40 | (hl >> 2);
  p[1] = 0xc0; // DSCP CS6, as hosts send IGMP
  const tl = Math.max(0, Math.min(0xffff, p.length + (tweak.totalLengthDelta ?? 0)));
  p[2] = tl >> 8;
  p[3] = tl & 0xff;
  const id = frag?.id ?? 0;
  p[4] = id >> 8;
  p[5] = id & 0xff;
  const fo = frag ? (frag.offset >> 3) | (frag.more ? 0x2000 : 0) : 0x4000; // DF when whole
  p[6] = fo >> 8;
  p[7] = fo & 0xff;
  p[8] = ttl;
  p[9] = 2; // IGMP
  p.set(ipv4ToBytes(src), 12);
  p.set(ipv4ToBytes(dst), 16);
  p.set(opts, 20);
  const ck = internetChecksum(p, 0, hl) ^ (tweak.badHeaderChecksum ? 0x5a5a : 0);
  p[10] = ck >> 8;
  p[11] = ck & 0xff;
  p.set(payload, hl);
  return p;
}

function fixIgmpChecksum(b: Uint8Array): void {
  if (b.length < 4) return;
  b[2] = 0;
  b[3] = 0;
  const ck = internetChecksum(b);
  b[2] = ck >> 8;
  b[3] = ck & 0xff;
}

function breakChecksum(r: Prng, b: Uint8Array): void {
  if (b.length < 4) return;
  b[2 + r.int(2)]! ^= 1 << r.int(8);
}

/** Splits `payload` at 8-byte boundaries into 2..4 fragments. */
function fragmentOffsets(r: Prng, len: number): number[] {
  const cuts = new Set<number>([0]);
  const n = r.range(1, 3);
  for (let i = 0; i < n; i++) {
    const c = 8 * r.range(1, Math.max(1, Math.floor((len - 1) / 8)));
    if (c < len) cuts.add(c);
  }
  return [...cuts].sort((a, b) => a - b);
}

function ipv4Frames(r: Prng, link: FuzzLink, pl: Payload): FuzzPacket {
  const [src, srcDesc] = v4Source(r, link);
  const [dst, dstDesc] = v4Destination(r, link);
  const ttl = r.weighted([
    [75, 1],
    [8, 0],
    [7, 2],
    [5, 64],
    [5, 255],
  ]);
  const [opts, optDesc] = v4Options(r);
  const payload = pl.bytes.slice(0, 1480 - opts.length);
  if (pl.fixChecksum) fixIgmpChecksum(payload);
  else if (r.chance(0.7)) breakChecksum(r, payload);
  const dstBytes = ipv4ToBytes(dst);
  const dstMac =
    dstBytes[0]! >= 224 && dstBytes[0]! <= 239
      ? multicastMac("ipv4", dstBytes)
      : dst === link.router
        ? link.routerMac
        : new Uint8Array([255, 255, 255, 255, 255, 255]);
  const tweak = r.weighted<[{ badHeaderChecksum?: boolean; totalLengthDelta?: number }, string]>([
    [94, [{}, ""]],
    [2, [{ badHeaderChecksum: true }, " bad-ip-checksum"]],
    [2, [{ totalLengthDelta: r.range(1, 40) }, " total-length-long"]],
    [2, [{ totalLengthDelta: -r.range(1, Math.max(1, payload.length)) }, " total-length-short"]],
  ]);
  const head = `${pl.desc} | ipv4 ${srcDesc}=${src} -> ${dstDesc}=${dst} ttl=${ttl} ${optDesc}${tweak[1]}`;
  if (payload.length > 8 && r.chance(0.06)) {
    const id = r.range(1, 0xffff);
    const offs = fragmentOffsets(r, payload.length);
    const frames = offs.map((o, i) => {
      const end = offs[i + 1] ?? payload.length;
      return ethernet(
        dstMac,
        link.hostMac,
        ETH_P_IP,
        ipv4Packet(src, dst, ttl, i === 0 ? opts : new Uint8Array(0), payload.slice(o, end), {
          id,
          offset: o,
          more: i < offs.length - 1,
        }),
      );
    });
    return disorderFragments(r, frames, `${head} fragments(${offs.length}`);
  }
  return {
    frames: [
      ethernet(dstMac, link.hostMac, ETH_P_IP, ipv4Packet(src, dst, ttl, opts, payload, undefined, tweak[0])),
    ],
    desc: head,
  };
}

function v6Source(r: Prng, link: FuzzLink): [Address, string] {
  return r.weighted<[Address, string]>([
    [55, [linkLocalOf(link.hostMac), "host-link-local"]],
    [10, [`fe80::${r.range(3, 18).toString(16)}`, "other-link-local"]],
    [8, [link.host, "host-global"]],
    [5, [`${link.prefix}:`, "network"]],
    [5, ["::", "unspecified"]],
    [6, [`fd00:${r.range(0x90, 0x99).toString(16)}::${r.range(1, 4)}`, "off-link"]],
    [6, [linkLocalOf(link.routerMac), "router-spoof"]],
    [3, [link.router, "router-global-spoof"]],
    [2, ["ff02::1", "multicast-source"]],
  ]);
}

function v6Destination(r: Prng, link: FuzzLink): [Address, string] {
  return r.weighted<[Address, string]>([
    [30, ["ff02::16", "all-v2-routers"]],
    [15, ["ff02::1", "all-nodes"]],
    [12, ["ff02::2", "all-routers"]],
    [18, [r.pick(V6_GROUPS), "group"]],
    [8, [linkLocalOf(link.routerMac), "router-link-local"]],
    [5, [link.router, "router-global"]],
    [7, [`ff02::${r.range(3, 0xffff).toString(16)}`, "other-link-local-group"]],
    [5, [`ff0e::${r.range(1, 8).toString(16)}`, "global-group"]],
  ]);
}

const NH_HOP = 0;
const NH_ROUTING = 43;
const NH_FRAGMENT = 44;
const NH_DSTOPTS = 60;
const NH_ICMPV6 = 58;

/** An options header (hop-by-hop or destination options) with `opts` padded to 8n bytes. */
function optionsHeader(opts: number[]): number[] {
  const body = [...opts];
  const total = Math.ceil((body.length + 2) / 8) * 8;
  const pad = total - 2 - body.length;
  if (pad === 1) body.push(0);
  else if (pad > 1) body.push(1, pad - 2, ...new Array<number>(pad - 2).fill(0));
  return [0 /* next header, set later */, total / 8 - 1, ...body];
}

interface ExtHeader {
  type: number;
  bytes: number[];
  desc: string;
}

function hopByHop(r: Prng): ExtHeader {
  const [opts, desc] = r.weighted<[number[], string]>([
    [70, [[5, 2, 0, 0], "hbh-ra"]],
    [5, [[5, 2, 0, 1], "hbh-ra-rsvp"]],
    [5, [[1, 0, 5, 2, 0, 0], "hbh-padn-ra"]],
    [5, [[0x3e, 2, 0xab, 0xcd, 5, 2, 0, 0], "hbh-unknown-skip-ra"]],
    [4, [[0x7e, 2, 0, 0, 5, 2, 0, 0], "hbh-unknown-discard"]],
    [4, [[5, 4, 0, 0, 0, 0], "hbh-ra-badlen"]],
    [4, [[0xc2, 4, 0, 1, 0, 0], "hbh-jumbo"]],
    [3, [[1, 250, 0, 0], "hbh-padn-overrun"]],
  ]);
  return { type: NH_HOP, bytes: optionsHeader(opts), desc };
}

function extensionChain(r: Prng): ExtHeader[] {
  const chain: ExtHeader[] = [];
  const shape = r.weighted<string>([
    [65, "hbh"],
    [10, "none"],
    [8, "hbh+dstopts"],
    [5, "hbh+routing"],
    [4, "hbh+fragment-atomic"],
    [3, "dstopts+hbh"],
    [3, "hbh+hbh"],
    [2, "long-chain"],
  ]);
  const dst = (): ExtHeader => ({
    type: NH_DSTOPTS,
    bytes: optionsHeader(r.chance(0.5) ? [1, 2, 0, 0] : [0x1e, 2, 1, 2]),
    desc: "dstopts",
  });
  const routing = (): ExtHeader => {
    const rtype = r.pick([0, 2, 4, 253]);
    return {
      type: NH_ROUTING,
      bytes: [0, 2, rtype, 0, 0, 0, 0, 0, ...new Array<number>(16).fill(0)],
      desc: `routing(type ${rtype}, segleft 0)`,
    };
  };
  const atomic = (): ExtHeader => ({
    type: NH_FRAGMENT,
    bytes: [0, 0, 0, 0, ...r.bytes(4)],
    desc: "fragment-atomic",
  });
  switch (shape) {
    case "hbh":
      chain.push(hopByHop(r));
      break;
    case "hbh+dstopts":
      chain.push(hopByHop(r), dst());
      break;
    case "hbh+routing":
      chain.push(hopByHop(r), routing());
      break;
    case "hbh+fragment-atomic":
      chain.push(hopByHop(r), atomic());
      break;
    case "dstopts+hbh":
      chain.push(dst(), hopByHop(r));
      break;
    case "hbh+hbh":
      chain.push(hopByHop(r), hopByHop(r));
      break;
    case "long-chain":
      chain.push(hopByHop(r), dst(), routing(), dst(), atomic());
      break;
    default:
      break;
  }
  return chain;
}

/** IPv6 packet: fixed header, `chain` (next-header fields linked), then `last` type and `rest`. */
function ipv6Packet(
  src: Address,
  dst: Address,
  hop: number,
  chain: ExtHeader[],
  lastType: number,
  rest: Uint8Array,
): Uint8Array {
  const ext: number[] = [];
  for (let i = 0; i < chain.length; i++) {
    const h = [...chain[i]!.bytes];
    h[0] = chain[i + 1]?.type ?? lastType;
    ext.push(...h);
  }
  const plen = ext.length + rest.length;
  const p = new Uint8Array(40 + plen);
  p[0] = 0x60;
  p[4] = plen >> 8;
  p[5] = plen & 0xff;
  p[6] = chain[0]?.type ?? lastType;
  p[7] = hop;
  p.set(ipv6ToBytes(src), 8);
  p.set(ipv6ToBytes(dst), 24);
  p.set(ext, 40);
  p.set(rest, 40 + ext.length);
  return p;
}

function ipv6Frames(r: Prng, link: FuzzLink, pl: Payload): FuzzPacket {
  const [src, srcDesc] = v6Source(r, link);
  const [dst, dstDesc] = v6Destination(r, link);
  const hop = r.weighted([
    [75, 1],
    [8, 0],
    [7, 2],
    [5, 64],
    [5, 255],
  ]);
  const chain = extensionChain(r);
  const payload = pl.bytes.slice(0, 1400);
  if (payload.length >= 4) {
    if (pl.fixChecksum) {
      payload[2] = 0;
      payload[3] = 0;
      const ck = icmpv6Checksum(payload, src, dst);
      payload[2] = ck >> 8;
      payload[3] = ck & 0xff;
    } else if (r.chance(0.7)) breakChecksum(r, payload);
  }
  const dstBytes = ipv6ToBytes(dst);
  const dstMac = dstBytes[0] === 0xff ? multicastMac("ipv6", dstBytes) : link.routerMac;
  const head = `${pl.desc} | ipv6 ${srcDesc}=${src} -> ${dstDesc}=${dst} hop=${hop} [${chain.map((h) => h.desc).join(",") || "no-ext"}]`;
  if (payload.length > 8 && r.chance(0.06)) {
    // Real fragmentation: the fragmentable part (destination options + ICMPv6) is split,
    // the unfragmentable part (hop-by-hop) repeated in every fragment.
    const unfrag = chain.filter((h) => h.type === NH_HOP);
    const fragPart = chain.filter((h) => h.type !== NH_HOP);
    const inner: number[] = [];
    for (let i = 0; i < fragPart.length; i++) {
      const h = [...fragPart[i]!.bytes];
      h[0] = fragPart[i + 1]?.type ?? NH_ICMPV6;
      inner.push(...h);
    }
    const body = new Uint8Array(inner.length + payload.length);
    body.set(inner);
    body.set(payload, inner.length);
    const firstType = fragPart[0]?.type ?? NH_ICMPV6;
    const id = r.u32();
    const offs = fragmentOffsets(r, body.length);
    const frames = offs.map((o, i) => {
      const end = offs[i + 1] ?? body.length;
      const more = i < offs.length - 1;
      const fh = new Uint8Array(8 + (end - o));
      fh[0] = firstType;
      const fo = o | (more ? 1 : 0);
      fh[2] = fo >> 8;
      fh[3] = fo & 0xff;
      fh[4] = id >>> 24;
      fh[5] = (id >>> 16) & 0xff;
      fh[6] = (id >>> 8) & 0xff;
      fh[7] = id & 0xff;
      fh.set(body.subarray(o, end), 8);
      return ethernet(dstMac, link.hostMac, ETH_P_IPV6, ipv6Packet(src, dst, hop, unfrag, NH_FRAGMENT, fh));
    });
    return disorderFragments(r, frames, `${head} fragments(${offs.length}`);
  }
  return {
    frames: [
      ethernet(dstMac, link.hostMac, ETH_P_IPV6, ipv6Packet(src, dst, hop, chain, NH_ICMPV6, payload)),
    ],
    desc: head,
  };
}

/** Packet `index` of the run `seed` on `link`: a pure function of the three. */
export function fuzzPacket(seed: number, link: FuzzLink, index: number): FuzzPacket {
  const r = new Prng(packetSeed(seed, link.family, link.role, index));
  const pl = payloadOf(r, link.family);
  return link.family === "ipv4" ? ipv4Frames(r, link, pl) : ipv6Frames(r, link, pl);
}

// ------------------------------------------------------------------ decoding (fixtures)

/** What the daemon's receive path would hand to ingress for one unfragmented frame. */
export interface DecodedFrame {
  family: IpFamily;
  source: Address;
  destination: Address;
  ttl: number;
  routerAlert: boolean;
  /** The IGMP message (IPv4 payload) or the ICMPv6 message after the extension headers. */
  payload: Uint8Array;
}

/**
 * Decodes an Ethernet frame carrying an unfragmented IGMP or ICMPv6 packet, as the kernel
 * would deliver it to the raw socket (IPv4 payload bounded by the total length; IPv6
 * extension headers walked; Router Alert from the options). Null when it is neither.
 * Never throws.
 */
export function decodeFrame(frame: Uint8Array): DecodedFrame | null {
  if (frame.length < 14) return null;
  const type = (frame[12]! << 8) | frame[13]!;
  const ip = frame.subarray(14);
  if (type === ETH_P_IP && ip.length >= 20) {
    const hl = (ip[0]! & 0x0f) * 4;
    const tl = Math.min(ip.length, (ip[2]! << 8) | ip[3]!);
    if (hl < 20 || hl > tl || ip[9] !== 2) return null;
    let ra = false;
    for (let o = 20; o < hl; ) {
      const t = ip[o]!;
      if (t === 0) break;
      if (t === 1) {
        o++;
        continue;
      }
      const l = ip[o + 1] ?? 0;
      if (t === 0x94 && l === 4) ra = true;
      if (l < 2) break;
      o += l;
    }
    return {
      family: "ipv4",
      source: bytesToIpv4(ip, 12),
      destination: bytesToIpv4(ip, 16),
      ttl: ip[8]!,
      routerAlert: ra,
      payload: ip.slice(hl, tl),
    };
  }
  if (type === ETH_P_IPV6 && ip.length >= 40) {
    let nh = ip[6]!;
    let o = 40;
    let ra = false;
    const end = Math.min(ip.length, 40 + ((ip[4]! << 8) | ip[5]!));
    while (nh !== NH_ICMPV6) {
      if (o + 2 > end) return null;
      if (nh === NH_HOP || nh === NH_DSTOPTS) {
        const len = (ip[o + 1]! + 1) * 8;
        if (nh === NH_HOP) {
          for (let p = o + 2; p < Math.min(o + len, end); ) {
            const t = ip[p]!;
            if (t === 0) {
              p++;
              continue;
            }
            const l = ip[p + 1] ?? 0;
            if (t === 5 && l === 2) ra = true;
            p += 2 + l;
          }
        }
        nh = ip[o]!;
        o += len;
      } else if (nh === NH_ROUTING) {
        nh = ip[o]!;
        o += (ip[o + 1]! + 1) * 8;
      } else if (nh === NH_FRAGMENT) {
        if (((ip[o + 2]! << 8) | ip[o + 3]!) !== 0) return null; // a real fragment
        nh = ip[o]!;
        o += 8;
      } else return null;
    }
    if (o > end) return null;
    return {
      family: "ipv6",
      source: bytesToIpv6(ip, 8),
      destination: bytesToIpv6(ip, 24),
      ttl: ip[7]!,
      routerAlert: ra,
      payload: ip.slice(o, end),
    };
  }
  return null;
}

/** A fixture file's text: `# comment` lines, then the frame's bytes in hex (whitespace ignored). */
export function parseHexFixture(text: string): { comments: string[]; bytes: Uint8Array } {
  const comments: string[] = [];
  let hex = "";
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t.startsWith("#")) comments.push(t.slice(1).trim());
    else hex += t.replace(/\s+/g, "");
  }
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error("fixture: not an even number of hex digits");
  return { comments, bytes: Uint8Array.from(Buffer.from(hex, "hex")) };
}

/** The fixture text of `frame` with `comment` (one line per comment entry). */
export function formatHexFixture(comments: string[], frame: Uint8Array): string {
  const hex = Buffer.from(frame).toString("hex");
  const lines = comments.map((c) => `# ${c}`);
  for (let i = 0; i < hex.length; i += 64) lines.push(hex.slice(i, i + 64));
  return `${lines.join("\n")}\n`;
}

// ------------------------------------------------------------------ hand-made frames (fixtures)

const ZERO_MAC = new Uint8Array([0x02, 0, 0, 0, 0, 0x01]);

/** One IPv4 IGMP frame from explicit fields (the fixture generator's building block). */
export function ipv4Frame(o: {
  src: Address;
  dst: Address;
  ttl?: number;
  /** IP options (default: Router Alert). */
  options?: Uint8Array;
  payload: Uint8Array;
  /** Recompute the IGMP checksum (default true). */
  fixChecksum?: boolean;
}): Uint8Array {
  const payload = o.payload.slice();
  if (o.fixChecksum ?? true) fixIgmpChecksum(payload);
  const d = ipv4ToBytes(o.dst);
  const mac = d[0]! >= 224 && d[0]! <= 239 ? multicastMac("ipv4", d) : ZERO_MAC;
  const opts = o.options ?? new Uint8Array([0x94, 0x04, 0x00, 0x00]);
  return ethernet(mac, ZERO_MAC, ETH_P_IP, ipv4Packet(o.src, o.dst, o.ttl ?? 1, opts, payload, undefined));
}

/** Extension headers by name for `ipv6Frame`. */
export type Ext = "hbh-ra" | "hbh-pad" | "dstopts" | "routing0" | "routing4" | "fragment-atomic";

/** One IPv6 ICMPv6 frame from explicit fields, with an extension-header chain. */
export function ipv6Frame(o: {
  src: Address;
  dst: Address;
  hop?: number;
  chain?: Ext[];
  payload: Uint8Array;
  fixChecksum?: boolean;
}): Uint8Array {
  const payload = o.payload.slice();
  if ((o.fixChecksum ?? true) && payload.length >= 4) {
    payload[2] = 0;
    payload[3] = 0;
    const ck = icmpv6Checksum(payload, o.src, o.dst);
    payload[2] = ck >> 8;
    payload[3] = ck & 0xff;
  }
  const ext: ExtHeader[] = (o.chain ?? ["hbh-ra"]).map((e) => {
    switch (e) {
      case "hbh-ra":
        return { type: NH_HOP, bytes: optionsHeader([5, 2, 0, 0]), desc: e };
      case "hbh-pad":
        return { type: NH_HOP, bytes: optionsHeader([1, 4, 0, 0, 0, 0]), desc: e };
      case "dstopts":
        return { type: NH_DSTOPTS, bytes: optionsHeader([1, 2, 0, 0]), desc: e };
      case "routing0":
      case "routing4":
        return {
          type: NH_ROUTING,
          bytes: [0, 2, e === "routing0" ? 0 : 4, 0, 0, 0, 0, 0, ...new Array<number>(16).fill(0)],
          desc: e,
        };
      default:
        return { type: NH_FRAGMENT, bytes: [0, 0, 0, 0, 0, 0, 0x12, 0x34], desc: e };
    }
  });
  const d = ipv6ToBytes(o.dst);
  const mac = d[0] === 0xff ? multicastMac("ipv6", d) : ZERO_MAC;
  return ethernet(mac, ZERO_MAC, ETH_P_IPV6, ipv6Packet(o.src, o.dst, o.hop ?? 1, ext, NH_ICMPV6, payload));
}
