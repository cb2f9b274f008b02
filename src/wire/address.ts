/**
 * Address helpers shared by the codecs, the router engine and the config layer.
 *
 * Canonical text forms (the `Address` contract of ./types.ts):
 * - IPv4: dotted quad without leading zeros ("239.1.1.1").
 * - IPv6: RFC 5952 §4: lower-case hex, no leading zeros in a group, the longest run of
 *   two or more zero groups compressed to "::" (the first one on a tie), a single zero
 *   group never compressed; IPv4-mapped addresses (::ffff:0:0/96) in the mixed notation
 *   of RFC 5952 §5 ("::ffff:192.0.2.1").
 *
 * Text parsers accept every valid input form (any case, leading zeros in IPv6 groups,
 * "::" anywhere, an embedded dotted quad in the last 32 bits). Strict where ambiguity
 * would hurt: IPv4 octets with leading zeros ("010.0.0.1", octal in inet_aton) and IPv6
 * zone ids ("fe80::1%eth0") are rejected.
 *
 * Hot paths (one call per group record or source) avoid per-byte string building: an IPv4
 * address is 4 cached octet strings joined by dots; IPv6 words are formatted with
 * Number#toString(16).
 */
import type { Address, IpFamily } from "./types.js";

/** "0".."255", indexed by octet value. */
const OCTET: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));

// ---------------------------------------------------------------------------------------
// IPv4
// ---------------------------------------------------------------------------------------

/**
 * Parses a dotted quad to an unsigned 32-bit integer; null when `s` is not a valid
 * IPv4 address (exactly 4 decimal octets 0..255, no leading zeros, no whitespace).
 */
export function parseIpv4(s: string): number | null {
  const n = s.length;
  if (n < 7 || n > 15) return null;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return null;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return null; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255) return null;
      digits++;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return value * 256 + octet;
}

/** Dotted quad of an unsigned 32-bit integer. */
export function ipv4FromU32(v: number): Address {
  return (
    OCTET[(v >>> 24) & 0xff]! +
    "." +
    OCTET[(v >>> 16) & 0xff]! +
    "." +
    OCTET[(v >>> 8) & 0xff]! +
    "." +
    OCTET[v & 0xff]!
  );
}

/** 4 network-order bytes of a dotted quad. Throws TypeError on invalid text. */
export function ipv4ToBytes(s: string): Uint8Array {
  const v = parseIpv4(s);
  if (v === null) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(s)}`);
  return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/**
 * Dotted quad of the 4 bytes at `buf[offset..offset+3]`. The caller guarantees the bounds
 * (codecs check lengths before calling).
 */
export function bytesToIpv4(buf: Uint8Array, offset = 0): Address {
  return (
    OCTET[buf[offset]!]! +
    "." +
    OCTET[buf[offset + 1]!]! +
    "." +
    OCTET[buf[offset + 2]!]! +
    "." +
    OCTET[buf[offset + 3]!]!
  );
}

/** Writes the dotted quad `s` at `buf[offset..]`. Throws TypeError on invalid text. */
export function writeIpv4(buf: Uint8Array, offset: number, s: string): void {
  const v = parseIpv4(s);
  if (v === null) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(s)}`);
  buf[offset] = v >>> 24;
  buf[offset + 1] = (v >>> 16) & 0xff;
  buf[offset + 2] = (v >>> 8) & 0xff;
  buf[offset + 3] = v & 0xff;
}

// ---------------------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------------------

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text into 8 16-bit words (`out`, length >= 8). Returns false when `s` is not
 * a valid IPv6 address (RFC 4291 §2.2 text forms, without zone id).
 */
export function parseIpv6Words(s: string, out: Uint16Array | number[]): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  const head: number[] = [];
  const tail: number[] = [];
  let sawDouble = false;
  let i = 0;
  if (s.charCodeAt(0) === 58 /* : */) {
    if (s.charCodeAt(1) !== 58) return false;
    sawDouble = true;
    i = 2;
    if (i === n) {
      for (let k = 0; k < 8; k++) out[k] = 0;
      return true;
    }
  }
  while (i < n) {
    const groups = sawDouble ? tail : head;
    // One group: up to 4 hex digits, or a dotted quad in the last position.
    let j = i;
    let v = 0;
    while (j < n && j - i < 5) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    const c = j < n ? s.charCodeAt(j) : -1;
    if (c === 46 /* . */) {
      // Embedded IPv4: must be the last thing in the string.
      const v4 = parseIpv4(s.slice(i));
      if (v4 === null) return false;
      groups.push(v4 >>> 16, v4 & 0xffff);
      i = n;
      break;
    }
    const len = j - i;
    if (len === 0 || len > 4) return false;
    groups.push(v);
    if (j === n) {
      i = n;
      break;
    }
    if (c !== 58) return false;
    // c is ':'
    if (j + 1 < n && s.charCodeAt(j + 1) === 58) {
      if (sawDouble) return false;
      sawDouble = true;
      i = j + 2;
      if (i === n) break;
    } else {
      i = j + 1;
      if (i === n) return false; // trailing single ':'
    }
  }
  const total = head.length + tail.length;
  if (sawDouble ? total > 7 : total !== 8) return false;
  let k = 0;
  for (const w of head) out[k++] = w;
  for (let z = 8 - total; z > 0; z--) out[k++] = 0;
  for (const w of tail) out[k++] = w;
  return true;
}

/** 16 network-order bytes of IPv6 text. Throws TypeError on invalid text. */
export function ipv6ToBytes(s: string): Uint8Array {
  const w = new Uint16Array(8);
  if (!parseIpv6Words(s, w)) throw new TypeError(`invalid IPv6 address: ${JSON.stringify(s)}`);
  const out = new Uint8Array(16);
  for (let k = 0; k < 8; k++) {
    out[2 * k] = w[k]! >>> 8;
    out[2 * k + 1] = w[k]! & 0xff;
  }
  return out;
}

const scratchWords = new Uint16Array(8);

/** Writes IPv6 text `s` at `buf[offset..offset+15]`. Throws TypeError on invalid text. */
export function writeIpv6(buf: Uint8Array, offset: number, s: string): void {
  if (!parseIpv6Words(s, scratchWords)) throw new TypeError(`invalid IPv6 address: ${JSON.stringify(s)}`);
  for (let k = 0; k < 8; k++) {
    buf[offset + 2 * k] = scratchWords[k]! >>> 8;
    buf[offset + 2 * k + 1] = scratchWords[k]! & 0xff;
  }
}

/** RFC 5952 text of 8 16-bit words. */
function formatIpv6Words(w: ArrayLike<number>): Address {
  // RFC 5952 §5: IPv4-mapped addresses in mixed notation.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return "::ffff:" + ipv4FromU32(((w[6]! << 16) | w[7]!) >>> 0);
  }
  // RFC 5952 §4.2: longest run (>= 2) of zero groups, first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let k = 0; k <= 8; k++) {
    if (k < 8 && w[k] === 0) {
      if (runStart < 0) runStart = k;
    } else if (runStart >= 0) {
      const len = k - runStart;
      if (len > bestLen) {
        bestStart = runStart;
        bestLen = len;
      }
      runStart = -1;
    }
  }
  if (bestStart < 0) {
    return (
      w[0]!.toString(16) +
      ":" +
      w[1]!.toString(16) +
      ":" +
      w[2]!.toString(16) +
      ":" +
      w[3]!.toString(16) +
      ":" +
      w[4]!.toString(16) +
      ":" +
      w[5]!.toString(16) +
      ":" +
      w[6]!.toString(16) +
      ":" +
      w[7]!.toString(16)
    );
  }
  let s = "";
  for (let k = 0; k < bestStart; k++) s += (k > 0 ? ":" : "") + w[k]!.toString(16);
  s += "::";
  for (let k = bestStart + bestLen; k < 8; k++)
    s += (k > bestStart + bestLen ? ":" : "") + w[k]!.toString(16);
  return s;
}

const formatWords = new Uint16Array(8);

/**
 * RFC 5952 canonical text of the 16 bytes at `buf[offset..offset+15]`. The caller
 * guarantees the bounds.
 */
export function bytesToIpv6(buf: Uint8Array, offset = 0): Address {
  for (let k = 0; k < 8; k++) formatWords[k] = (buf[offset + 2 * k]! << 8) | buf[offset + 2 * k + 1]!;
  return formatIpv6Words(formatWords);
}

// ---------------------------------------------------------------------------------------
// Helpers for either IP family
// ---------------------------------------------------------------------------------------

/** The family of a textual address by its shape (":" means IPv6). */
export function familyOf(addr: string): IpFamily {
  return addr.includes(":") ? "ipv6" : "ipv4";
}

/** Canonical text of `s` (see module comment); null when invalid for `family`. */
export function tryCanonicalAddress(s: string, family: IpFamily): Address | null {
  if (family === "ipv4") {
    const v = parseIpv4(s);
    return v === null ? null : ipv4FromU32(v);
  }
  const w = new Uint16Array(8);
  return parseIpv6Words(s, w) ? formatIpv6Words(w) : null;
}

/** Canonical text of `s`. Throws TypeError when `s` is not a valid address of `family`. */
export function canonicalAddress(s: string, family: IpFamily): Address {
  const c = tryCanonicalAddress(s, family);
  if (c === null) throw new TypeError(`invalid ${family} address: ${JSON.stringify(s)}`);
  return c;
}

/**
 * Map key of an (S,G) pair: `source|group`. Used wherever (S,G) entries are indexed (the
 * forwarding planner, the idle check, the status rates), so every index agrees.
 */
export function sgKey(source: Address, group: Address): string {
  return `${source}|${group}`;
}

/** First 16-bit group of IPv6 text (valid input of any form), or -1 when it starts with "::". */
function firstIpv6Group(addr: string): number {
  let v = 0;
  let i = 0;
  for (; i < addr.length && i < 5; i++) {
    const h = hexValue(addr.charCodeAt(i));
    if (h < 0) break;
    v = v * 16 + h;
  }
  return i === 0 ? -1 : v;
}

/** First octet of dotted-quad text (no validation). */
function firstIpv4Octet(addr: string): number {
  let v = 0;
  for (let i = 0; i < addr.length && i < 3; i++) {
    const c = addr.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Multicast address test: 224.0.0.0/4 (RFC 5771), ff00::/8 (RFC 4291 §2.7). Works on
 * any valid text form without allocating.
 */
export function isMulticast(addr: Address, family: IpFamily): boolean {
  if (family === "ipv4") {
    const o = firstIpv4Octet(addr);
    return o >= 224 && o <= 239;
  }
  const g = firstIpv6Group(addr);
  return g >= 0 && g >>> 8 === 0xff;
}

/**
 * Link-local scope groups a router never manages or forwards: IPv4 224.0.0.0/24 (RFC 5771
 * §4, Local Network Control Block); IPv6 multicast with scope <= 2 (RFC 4291 §2.7:
 * reserved 0, interface-local 1, link-local 2), whatever the flags, e.g. ff02::/16,
 * ff01::/16, ff00::/16, ff12::/16.
 */
export function isLinkLocalGroup(addr: Address, family: IpFamily): boolean {
  if (family === "ipv4") {
    const v = parseIpv4(addr);
    return v !== null && v >>> 8 === 0xe00000;
  }
  const g = firstIpv6Group(addr);
  return g >= 0 && g >>> 8 === 0xff && (g & 0xf) <= 2;
}

/** fe80::/10 (RFC 4291 §2.5.6); MLD messages must come from such a source (RFC 9777 §5). */
export function isLinkLocalUnicast6(addr: Address): boolean {
  const g = firstIpv6Group(addr);
  return g >= 0 && (g & 0xffc0) === 0xfe80 && addr.includes(":");
}

const cmpA = new Uint16Array(8);
const cmpB = new Uint16Array(8);

/**
 * Numeric order of two addresses of one family (-1, 0, 1): querier election picks the
 * lowest address (RFC 9776 §6.6.2, RFC 9777 §7.6.2). IPv4 sorts before IPv6; invalid
 * text sorts after valid text, then by string.
 */
export function compareAddresses(a: Address, b: Address): number {
  const fa = familyOf(a);
  const fb = familyOf(b);
  if (fa !== fb) return fa === "ipv4" ? -1 : 1;
  if (fa === "ipv4") {
    const va = parseIpv4(a);
    const vb = parseIpv4(b);
    if (va !== null && vb !== null) return va < vb ? -1 : va > vb ? 1 : 0;
    if (va !== null) return -1;
    if (vb !== null) return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const oka = parseIpv6Words(a, cmpA);
  const okb = parseIpv6Words(b, cmpB);
  if (oka && okb) {
    for (let k = 0; k < 8; k++) {
      const d = cmpA[k]! - cmpB[k]!;
      if (d !== 0) return d < 0 ? -1 : 1;
    }
    return 0;
  }
  if (oka) return -1;
  if (okb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
// CIDR prefixes
// ---------------------------------------------------------------------------------------

/** A prefix; `words` holds the masked network (1 word for IPv4, 4 for IPv6, big-endian). */
export interface Cidr {
  family: IpFamily;
  prefixLength: number;
  words: Uint32Array;
  masks: Uint32Array;
  /** Canonical text "network/len". */
  text: string;
}

function maskWord(prefixLength: number, wordIndex: number): number {
  const bits = prefixLength - wordIndex * 32;
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/**
 * Parses "addr/len" (or a bare address: /32, /128). The network is masked; host bits set
 * in the input are accepted and cleared. Throws TypeError on invalid text. The "x" nibble
 * wildcard (ff3x::/32) is handled by {@link expandCidr}.
 */
export function parseCidr(s: string): Cidr {
  const slash = s.indexOf("/");
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const family = familyOf(addrText);
  const max = family === "ipv4" ? 32 : 128;
  let prefixLength = max;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) throw new TypeError(`invalid prefix length in ${JSON.stringify(s)}`);
    prefixLength = Number(lenText);
    if (prefixLength > max) throw new TypeError(`prefix length > ${max} in ${JSON.stringify(s)}`);
  }
  let words: Uint32Array;
  if (family === "ipv4") {
    const v = parseIpv4(addrText);
    if (v === null) throw new TypeError(`invalid IPv4 prefix: ${JSON.stringify(s)}`);
    words = new Uint32Array([v]);
  } else {
    const w = new Uint16Array(8);
    if (!parseIpv6Words(addrText, w)) throw new TypeError(`invalid IPv6 prefix: ${JSON.stringify(s)}`);
    words = new Uint32Array(4);
    for (let k = 0; k < 4; k++) words[k] = ((w[2 * k]! << 16) | w[2 * k + 1]!) >>> 0;
  }
  return prefixOf(family, words, prefixLength);
}

/** The prefix of `prefixLength` bits of `words` (masked here; `words` is taken over). */
function prefixOf(family: IpFamily, words: Uint32Array, prefixLength: number): Cidr {
  const masks = new Uint32Array(words.length);
  for (let k = 0; k < words.length; k++) {
    masks[k] = maskWord(prefixLength, k);
    words[k] = (words[k]! & masks[k]!) >>> 0;
  }
  let text: string;
  if (family === "ipv4") {
    text = ipv4FromU32(words[0]!) + "/" + prefixLength;
  } else {
    const w = new Uint16Array(8);
    for (let k = 0; k < 4; k++) {
      w[2 * k] = words[k]! >>> 16;
      w[2 * k + 1] = words[k]! & 0xffff;
    }
    text = formatIpv6Words(w) + "/" + prefixLength;
  }
  return { family, prefixLength, words, masks, text };
}

/** The two halves of a prefix (one bit longer each); null for a host prefix (/32, /128). */
export function halvesOf(c: Cidr): [Cidr, Cidr] | null {
  if (c.prefixLength === c.words.length * 32) return null;
  const high = new Uint32Array(c.words);
  const word = Math.floor(c.prefixLength / 32);
  high[word] = (high[word]! | (0x80000000 >>> c.prefixLength % 32)) >>> 0;
  return [prefixOf(c.family, new Uint32Array(c.words), c.prefixLength + 1), prefixOf(c.family, high, c.prefixLength + 1)];
}

/**
 * Parses a prefix that may contain "x" hex-nibble wildcards (RFC 4607 writes the SSM range
 * as ff3x::/32): every "x" expands to 0..f, so "ff3x::/32" gives ff30::/32 .. ff3f::/32.
 * Without wildcards: one prefix, as {@link parseCidr}.
 */
export function expandCidr(s: string): Cidr[] {
  const slash = s.indexOf("/");
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const at = addrText.search(/[xX]/);
  if (at < 0 || !addrText.includes(":")) return [parseCidr(s)];
  const out: Cidr[] = [];
  for (let n = 0; n < 16; n++) {
    out.push(...expandCidr(s.slice(0, at) + n.toString(16) + s.slice(at + 1)));
  }
  return out;
}

const v4Scratch = new Uint32Array(1);
const v6Scratch = new Uint32Array(4);
const v6WordScratch = new Uint16Array(8);

/** Fills `out` with the address words of `addr`; false when invalid for `family`. */
function addressWords(addr: string, family: IpFamily, out: Uint32Array): boolean {
  if (family === "ipv4") {
    const v = parseIpv4(addr);
    if (v === null) return false;
    out[0] = v;
    return true;
  }
  if (!parseIpv6Words(addr, v6WordScratch)) return false;
  for (let k = 0; k < 4; k++) out[k] = ((v6WordScratch[2 * k]! << 16) | v6WordScratch[2 * k + 1]!) >>> 0;
  return true;
}

/** Whether `addr` lies in `cidr` (false for another family or invalid text). */
export function inCidr(addr: Address, cidr: Cidr): boolean {
  if (familyOf(addr) !== cidr.family) return false;
  const w = cidr.family === "ipv4" ? v4Scratch : v6Scratch;
  if (!addressWords(addr, cidr.family, w)) return false;
  for (let k = 0; k < w.length; k++) {
    if ((w[k]! & cidr.masks[k]!) >>> 0 !== cidr.words[k]) return false;
  }
  return true;
}

/**
 * A set of prefixes of both families with a per-packet membership test. Prefixes are
 * precomputed as (network, mask) word arrays; `has` parses the address once and compares
 * words, with no allocation.
 */
export class CidrSet {
  readonly cidrs: readonly Cidr[];
  private readonly v4Nets: Uint32Array;
  private readonly v4Masks: Uint32Array;
  private readonly v6Nets: Uint32Array;
  private readonly v6Masks: Uint32Array;

  /** `prefixes`: text ("224.0.0.0/24", "ff3x::/32", ...) or parsed {@link Cidr}s. */
  constructor(prefixes: Iterable<string | Cidr> = []) {
    const all: Cidr[] = [];
    for (const p of prefixes) {
      if (typeof p === "string") all.push(...expandCidr(p));
      else all.push(p);
    }
    this.cidrs = all;
    const v4 = all.filter((c) => c.family === "ipv4");
    const v6 = all.filter((c) => c.family === "ipv6");
    this.v4Nets = new Uint32Array(v4.map((c) => c.words[0]!));
    this.v4Masks = new Uint32Array(v4.map((c) => c.masks[0]!));
    this.v6Nets = new Uint32Array(v6.length * 4);
    this.v6Masks = new Uint32Array(v6.length * 4);
    v6.forEach((c, i) => {
      this.v6Nets.set(c.words, i * 4);
      this.v6Masks.set(c.masks, i * 4);
    });
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** Whether `addr` (either family, any valid text form) lies in one of the prefixes. */
  has(addr: Address): boolean {
    if (addr.includes(":")) {
      if (this.v6Nets.length === 0 || !addressWords(addr, "ipv6", v6Scratch)) return false;
      return this.hasWords6(v6Scratch);
    }
    const v = parseIpv4(addr);
    return v !== null && this.hasU32(v);
  }

  /** IPv4 test on an unsigned 32-bit address. */
  hasU32(v: number): boolean {
    const nets = this.v4Nets;
    const masks = this.v4Masks;
    for (let i = 0; i < nets.length; i++) {
      if ((v & masks[i]!) >>> 0 === nets[i]) return true;
    }
    return false;
  }

  /** IPv6 test on 4 big-endian 32-bit words. */
  hasWords6(w: ArrayLike<number>): boolean {
    const nets = this.v6Nets;
    const masks = this.v6Masks;
    for (let i = 0; i < nets.length; i += 4) {
      if (
        (w[0]! & masks[i]!) >>> 0 === nets[i] &&
        (w[1]! & masks[i + 1]!) >>> 0 === nets[i + 1] &&
        (w[2]! & masks[i + 2]!) >>> 0 === nets[i + 2] &&
        (w[3]! & masks[i + 3]!) >>> 0 === nets[i + 3]
      ) {
        return true;
      }
    }
    return false;
  }
}
