/**
 * Prefix checks for `ssm-ranges` / `ignore-groups`, on top of the wire layer's CIDR parser
 * (src/wire/address.ts), which also expands the `ff3x::/32` notation.
 */
import { type Cidr as WirePrefix, expandCidr, halvesOf } from "../wire/address.js";

export interface Cidr {
  family: 4 | 6;
  /** The prefixes the text stands for (several for the `x` nibble notation). */
  prefixes: WirePrefix[];
}

/** Parses "A.B.C.D/N", "X::/N" or "ff3x::/32"; a bare address is a host prefix. Returns a reason on failure. */
export function parseCidr(text: string): Cidr | string {
  let prefixes: WirePrefix[];
  try {
    prefixes = expandCidr(text);
  } catch (err) {
    const max = text.includes(":") ? 128 : 32;
    return /prefix length/.test((err as Error).message)
      ? `${JSON.stringify(text)} has an invalid prefix length (0..${max})`
      : `${JSON.stringify(text)} is not an IPv4 or IPv6 prefix`;
  }
  return { family: prefixes[0]!.family === "ipv4" ? 4 : 6, prefixes };
}

/** True when every prefix lies inside 224.0.0.0/4 or ff00::/8. */
export function isMulticastPrefix(c: Cidr): boolean {
  return c.prefixes.every((p) =>
    c.family === 4
      ? p.prefixLength >= 4 && p.words[0]! >>> 28 === 0xe
      : p.prefixLength >= 8 && p.words[0]! >>> 24 === 0xff,
  );
}

/** Whether prefix `outer` contains prefix `inner` (same family; `outer` no longer than `inner`). */
export function containsPrefix(outer: WirePrefix, inner: WirePrefix): boolean {
  if (outer.family !== inner.family || outer.prefixLength > inner.prefixLength) return false;
  return outer.words.every((w, k) => (inner.words[k]! & outer.masks[k]!) >>> 0 === w);
}

/**
 * The intersection of two prefix lists, as prefixes: two prefixes either nest (the longer
 * one is their intersection) or are disjoint. Duplicates are dropped; order follows `a`.
 */
export function intersectPrefixes(a: readonly string[], b: readonly string[]): string[] {
  const pa = a.flatMap((t) => expandCidr(t));
  const pb = b.flatMap((t) => expandCidr(t));
  const out: string[] = [];
  for (const x of pa) {
    for (const y of pb) {
      const inner = containsPrefix(x, y) ? y : containsPrefix(y, x) ? x : null;
      if (inner !== null && !out.includes(inner.text)) out.push(inner.text);
    }
  }
  return out;
}

/**
 * The part of prefix list `a` that no prefix of `b` covers, as prefixes: a prefix of `a`
 * that holds a prefix of `b` is halved until each piece lies inside `b` (dropped) or
 * outside it (kept). Order follows `a`; empty when `b` covers all of `a`.
 */
export function subtractPrefixes(a: readonly string[], b: readonly string[]): string[] {
  const pb = b.flatMap((t) => expandCidr(t));
  const out: string[] = [];
  const rest = (p: WirePrefix): void => {
    if (pb.some((q) => containsPrefix(q, p))) return;
    const halves = pb.some((q) => containsPrefix(p, q)) ? halvesOf(p) : null;
    if (halves === null) {
      if (!out.includes(p.text)) out.push(p.text);
      return;
    }
    rest(halves[0]);
    rest(halves[1]);
  };
  for (const t of a) for (const p of expandCidr(t)) rest(p);
  return out;
}
