/**
 * The source policy of one link and family (`allow-sources`, `deny-sources`): which
 * sources of a group the hosts of the link may receive (docs/protocol.md "Source policy").
 * Rules are (group prefix, source prefix) pairs. A source matching a deny rule of the group
 * is refused (`source-denied`); when allow rules cover the group, a source matching none of
 * them is refused too (`source-not-allowed`); deny wins. Groups no rule covers are not
 * affected.
 *
 * The link router applies it in two places, and the proxy in a third:
 * - received records (RFC 9776 §6.4, RFC 9777 §7.4): refused sources are taken out of every
 *   record's source list before the action tables, so they never get a source record;
 * - the link's forwarding state, which the proxy merges upstream (RFC 4605 §4.1):
 *   `policedState` keeps refused sources out of INCLUDE lists and adds the exact hosts
 *   (/32, /128) of the deny rules to EXCLUDE lists; when every allow rule of the group is an
 *   exact host, an EXCLUDE state becomes INCLUDE (those hosts, minus the excluded ones);
 * - the forwarding entries: an (S,G) whose S is refused on a link gets no output interface
 *   for that link (`LinkRouter.sourceAllowed`, asked by src/proxy/forwarding.ts). That is
 *   where prefix rules hold in EXCLUDE mode: a source filter lists addresses, not prefixes,
 *   so upstream cannot be told.
 */
import { type Cidr, CidrSet, expandCidr } from "../wire/address.js";
import type { Address } from "../wire/types.js";
import type { DropReason } from "./counters.js";
import type { FilterMode, SourceRule } from "./types.js";

/** The policy's refusal reasons. */
export type SourceRefusal = Extract<DropReason, "source-denied" | "source-not-allowed">;

interface CompiledRule {
  groups: CidrSet;
  sources: Cidr[];
}

/** Groups whose rules are cached at most (then the cache starts over). */
const CACHE_LIMIT = 4096;

/** The rules that apply to one group. */
export class GroupSourcePolicy {
  constructor(
    /** Source prefixes of the deny rules covering the group. */
    readonly denied: CidrSet,
    /** Source prefixes of the allow rules covering the group; null when none covers it. */
    readonly allowed: CidrSet | null,
    /** The deny rules' exact host sources (/32, /128), sorted: they go into EXCLUDE lists. */
    readonly deniedHosts: readonly Address[],
    /**
     * When allow rules cover the group and every one of them is an exact host: those hosts
     * (sorted); null otherwise.
     */
    readonly allowedHosts: readonly Address[] | null,
  ) {}

  /** Why `source` is refused for the group, or null. */
  refusal(source: Address): SourceRefusal | null {
    if (this.denied.has(source)) return "source-denied";
    if (this.allowed !== null && !this.allowed.has(source)) return "source-not-allowed";
    return null;
  }
}

function compile(rules: readonly SourceRule[]): CompiledRule[] {
  return rules.map((r) => ({ groups: new CidrSet([r.group]), sources: expandCidr(r.source) }));
}

/** The address of a host prefix (/32, /128), or null for a wider prefix. */
function hostOf(c: Cidr): Address | null {
  const max = c.family === "ipv4" ? 32 : 128;
  return c.prefixLength === max ? c.text.slice(0, c.text.lastIndexOf("/")) : null;
}

function sortedUnique(list: Address[]): Address[] {
  return [...new Set(list)].sort();
}

export class SourcePolicy {
  private readonly allow: CompiledRule[];
  private readonly deny: CompiledRule[];
  private readonly cache = new Map<Address, GroupSourcePolicy | null>();

  constructor(allow: readonly SourceRule[], deny: readonly SourceRule[]) {
    this.allow = compile(allow);
    this.deny = compile(deny);
  }

  /** No rule at all: nothing to check. */
  get empty(): boolean {
    return this.allow.length === 0 && this.deny.length === 0;
  }

  /** The rules covering `group`, or null when none does (the group is not affected). */
  forGroup(group: Address): GroupSourcePolicy | null {
    if (this.empty) return null;
    const hit = this.cache.get(group);
    if (hit !== undefined) return hit;
    const p = this.build(group);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(group, p);
    return p;
  }

  /** Why `source` is refused for `group` on the link, or null. */
  refusal(group: Address, source: Address): SourceRefusal | null {
    return this.forGroup(group)?.refusal(source) ?? null;
  }

  private build(group: Address): GroupSourcePolicy | null {
    const deny = this.deny.filter((r) => r.groups.has(group)).flatMap((r) => r.sources);
    const allow = this.allow.filter((r) => r.groups.has(group)).flatMap((r) => r.sources);
    if (deny.length === 0 && allow.length === 0) return null;
    const deniedHosts = deny.map(hostOf).filter((h): h is Address => h !== null);
    const allowHosts = allow.map(hostOf);
    const allExact = allow.length > 0 && allowHosts.every((h) => h !== null);
    return new GroupSourcePolicy(
      new CidrSet(deny),
      allow.length > 0 ? new CidrSet(allow) : null,
      sortedUnique(deniedHosts),
      allExact ? sortedUnique(allowHosts as Address[]) : null,
    );
  }
}

/**
 * The forwarding state a group's state on the link stands for under the policy: `sources`
 * are the forwarded sources in INCLUDE mode, the blocked ones ("Y") in EXCLUDE mode.
 * - INCLUDE: refused sources left out;
 * - EXCLUDE, every allow rule of the group an exact host: INCLUDE (those hosts that are not
 *   blocked nor denied), the exact state the policy allows;
 * - EXCLUDE otherwise: the blocked sources plus the deny rules' exact hosts. Sources refused
 *   by prefix rules stay wanted in this state; the forwarding entries refuse them.
 */
export function policedState(
  p: GroupSourcePolicy | null,
  filterMode: FilterMode,
  sources: Address[],
): { filterMode: FilterMode; sources: Address[] } {
  if (p === null) return { filterMode, sources };
  if (filterMode === "include") return { filterMode, sources: sources.filter((s) => p.refusal(s) === null) };
  if (p.allowedHosts !== null) {
    const blocked = new Set(sources);
    return {
      filterMode: "include",
      sources: p.allowedHosts.filter((h) => !blocked.has(h) && p.refusal(h) === null),
    };
  }
  if (p.deniedHosts.length === 0) return { filterMode, sources };
  return { filterMode, sources: sortedUnique([...sources, ...p.deniedHosts]) };
}
