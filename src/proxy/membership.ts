/**
 * Membership database of one family (RFC 4605 §4.1): the per-link forwarding states that
 * the router engines report, together with the static groups of each link (permanent
 * listeners), merged per group into the state the proxy subscribes to on its upstream
 * interface.
 *
 * Merge rule (RFC 4605 §4.1, which defers to RFC 9776 §3.2 / RFC 9777 §4.2 for the
 * interface-state merge):
 *   - if any link is in EXCLUDE mode: EXCLUDE with
 *       (intersection of all EXCLUDE lists) minus (union of all INCLUDE lists);
 *   - otherwise INCLUDE with the union of all INCLUDE lists.
 * INCLUDE {} means "no membership": the group is left upstream.
 */
import { sameItems } from "../util/arrays.js";
import type { Address } from "../wire/types.js";

export type FilterMode = "include" | "exclude";

export interface SourceFilterState {
  filterMode: FilterMode;
  /** include: the sources wanted; exclude: the sources not wanted. Sorted, no duplicates. */
  sources: Address[];
}

export const NO_MEMBERSHIP: SourceFilterState = Object.freeze({ filterMode: "include", sources: [] }) as SourceFilterState;

/**
 * EXCLUDE {}: any source, the state of every any-source join; one shared, frozen object
 * rather than one per group and link.
 */
export const ANY_SOURCE: SourceFilterState = Object.freeze({
  filterMode: "exclude",
  sources: Object.freeze([]) as unknown as Address[],
}) as SourceFilterState;

/** A state with `sources` (sorted, unique); the shared object for INCLUDE {} and EXCLUDE {}. */
export function filterState(filterMode: FilterMode, sources: Address[]): SourceFilterState {
  if (sources.length === 0) return filterMode === "include" ? NO_MEMBERSHIP : ANY_SOURCE;
  return { filterMode, sources };
}

export function isNoMembership(s: SourceFilterState): boolean {
  return s.filterMode === "include" && s.sources.length === 0;
}

export function sameFilter(a: SourceFilterState, b: SourceFilterState): boolean {
  return a.filterMode === b.filterMode && sameItems(a.sources, b.sources);
}

/** Whether a link in state `s` wants traffic from `source` (RFC 9776 §6.3 forwarding rules). */
export function wantsSource(s: SourceFilterState, source: Address): boolean {
  const listed = s.sources.includes(source);
  return s.filterMode === "include" ? listed : !listed;
}

/** Merges link states per the rule in the module comment. */
export function mergeStates(states: Iterable<SourceFilterState>): SourceFilterState {
  let excl: Set<Address> | null = null;
  const incl = new Set<Address>();
  for (const s of states) {
    if (s.filterMode === "exclude") {
      if (excl === null) excl = new Set(s.sources);
      else {
        const keep = new Set(s.sources);
        for (const a of excl) if (!keep.has(a)) excl.delete(a);
      }
    } else {
      for (const a of s.sources) incl.add(a);
    }
  }
  if (excl !== null) {
    for (const a of incl) excl.delete(a);
    return filterState("exclude", [...excl].sort());
  }
  return filterState("include", [...incl].sort());
}

/** Who holds a link's interest in a group: the link's router (the hosts' reports) or the
 * configuration (static groups, a permanent listener of the link: static-groups.ts). */
export type Listener = "router" | "static";

/** One link's listeners of one group and the link's state, their merge. */
interface LinkEntry {
  readonly link: string;
  router?: SourceFilterState;
  static?: SourceFilterState;
  /** The listeners' states merged (never INCLUDE {}: an entry exists while one is held). */
  state: SourceFilterState;
}

/**
 * Per-group link states and their merge. A link's state of a group merges its listeners
 * (the router's state and a static group, as two hosts of the link would be merged, RFC
 * 9776 §3.2); the links' states merge into the upstream state (RFC 4605 §4.1).
 * `setLinkState` returns the new merged state when it changed (the caller then updates the
 * upstream subscription), or null.
 *
 * A group's links are a short array (one entry per downstream link that holds it, rarely
 * more than a few), not a map per group: at 10,000 groups the two maps per group this
 * replaced held ~4 MiB (docs/architecture.md "Memory").
 */
function entryOf(links: readonly LinkEntry[], link: string): LinkEntry | undefined {
  for (const e of links) if (e.link === link) return e;
  return undefined;
}

export class MembershipDatabase {
  /** group -> the links that hold it. */
  private readonly entries = new Map<Address, LinkEntry[]>();
  private readonly merged = new Map<Address, SourceFilterState>();

  /** Records the router's state of `group` on `link`; INCLUDE {} removes it. */
  setLinkState(link: string, group: Address, state: SourceFilterState): SourceFilterState | null {
    if (!this.hold(link, group, "router", state)) return null;
    return this.remerge(group);
  }

  /**
   * Sets the static groups of `link` (group -> state; groups not in `states` lose theirs).
   * Returns every group whose state on the link changed, with its new merged state when
   * that changed too (else null).
   */
  setStaticStates(
    link: string,
    states: ReadonlyMap<Address, SourceFilterState>,
  ): Array<{ group: Address; merged: SourceFilterState | null }> {
    const changed: Array<{ group: Address; merged: SourceFilterState | null }> = [];
    const before = [...this.staticStates(link).keys()];
    for (const group of new Set([...before, ...states.keys()])) {
      if (this.hold(link, group, "static", states.get(group) ?? NO_MEMBERSHIP)) {
        changed.push({ group, merged: this.remerge(group) });
      }
    }
    return changed;
  }

  /** The static groups held on `link`, with their states. */
  staticStates(link: string): Map<Address, SourceFilterState> {
    const out = new Map<Address, SourceFilterState>();
    for (const [group, links] of this.entries) {
      const s = entryOf(links, link)?.static;
      if (s !== undefined) out.set(group, s);
    }
    return out;
  }

  /** Removes every state of a link (link gone or no longer a downstream). Returns the changed merges. */
  removeLink(link: string): Array<{ group: Address; state: SourceFilterState }> {
    const changed: Array<{ group: Address; state: SourceFilterState }> = [];
    for (const [group, links] of [...this.entries]) {
      const i = links.findIndex((e) => e.link === link);
      if (i < 0) continue;
      links.splice(i, 1);
      if (links.length === 0) this.entries.delete(group);
      const m = this.remerge(group);
      if (m) changed.push({ group, state: m });
    }
    return changed;
  }

  /** The state of `group` on `link` (INCLUDE {} when none). */
  linkState(link: string, group: Address): SourceFilterState {
    const links = this.entries.get(group);
    return (links && entryOf(links, link)?.state) ?? NO_MEMBERSHIP;
  }

  /** Links with a membership for `group`, with their states. */
  *linksOf(group: Address): Generator<readonly [string, SourceFilterState]> {
    for (const e of this.entries.get(group) ?? []) yield [e.link, e.state];
  }

  /** Merged state of `group` (INCLUDE {} when none). */
  mergedState(group: Address): SourceFilterState {
    return this.merged.get(group) ?? NO_MEMBERSHIP;
  }

  /** All groups with a non-empty merged state. */
  groupsWithMembership(): Address[] {
    return [...this.merged.keys()];
  }

  get size(): number {
    return this.merged.size;
  }

  /**
   * Sets one listener's state of `group` on `link` (INCLUDE {} removes it); true when the
   * link's state changed.
   */
  private hold(link: string, group: Address, who: Listener, state: SourceFilterState): boolean {
    const links = this.entries.get(group);
    let entry = links && entryOf(links, link);
    const prev = entry?.[who];
    if (isNoMembership(state)) {
      if (prev === undefined || entry === undefined || links === undefined) return false;
      delete entry[who];
      const next = entry.router ?? entry.static;
      if (next === undefined) {
        links.splice(links.indexOf(entry), 1);
        if (links.length === 0) this.entries.delete(group);
        return true;
      }
      return this.settle(entry);
    }
    const norm = filterState(state.filterMode, [...new Set(state.sources)].sort());
    if (prev && sameFilter(prev, norm)) return false;
    if (entry === undefined) {
      entry = { link, [who]: norm, state: norm };
      if (links === undefined) this.entries.set(group, [entry]);
      else links.push(entry);
      return true;
    }
    entry[who] = norm;
    return this.settle(entry);
  }

  /** Recomputes an entry's link state from its listeners; true when it changed. */
  private settle(entry: LinkEntry): boolean {
    const next =
      entry.router !== undefined && entry.static !== undefined
        ? mergeStates([entry.router, entry.static])
        : (entry.router ?? entry.static ?? NO_MEMBERSHIP);
    if (sameFilter(entry.state, next)) return false;
    entry.state = next;
    return true;
  }

  private remerge(group: Address): SourceFilterState | null {
    const links = this.entries.get(group);
    const next = links ? mergeStates(links.map((e) => e.state)) : NO_MEMBERSHIP;
    const prev = this.merged.get(group) ?? NO_MEMBERSHIP;
    if (sameFilter(prev, next)) return null;
    if (isNoMembership(next)) this.merged.delete(group);
    else this.merged.set(group, next);
    return next;
  }
}
