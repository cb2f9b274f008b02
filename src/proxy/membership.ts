/**
 * Membership database of one family (RFC 4605 §4.1): the per-link forwarding states that
 * the router engines report, merged per group into the state the proxy subscribes to on
 * its upstream interface.
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
    return { filterMode: "exclude", sources: [...excl].sort() };
  }
  return { filterMode: "include", sources: [...incl].sort() };
}

/**
 * Per-group link states and their merge. `setLinkState` returns the new merged state when
 * it changed (the caller then updates the upstream subscription), or null.
 */
export class MembershipDatabase {
  private readonly groups = new Map<Address, Map<string, SourceFilterState>>();
  private readonly merged = new Map<Address, SourceFilterState>();

  /** Records the forwarding state of `group` on `link`; INCLUDE {} removes the link. */
  setLinkState(link: string, group: Address, state: SourceFilterState): SourceFilterState | null {
    let links = this.groups.get(group);
    if (isNoMembership(state)) {
      if (!links?.delete(link)) return null;
      if (links.size === 0) this.groups.delete(group);
    } else {
      if (!links) {
        links = new Map();
        this.groups.set(group, links);
      }
      const norm: SourceFilterState = { filterMode: state.filterMode, sources: [...new Set(state.sources)].sort() };
      const prev = links.get(link);
      if (prev && sameFilter(prev, norm)) return null;
      links.set(link, norm);
    }
    return this.remerge(group);
  }

  /** Removes every state of a link (link gone or no longer a downstream). Returns the changed merges. */
  removeLink(link: string): Array<{ group: Address; state: SourceFilterState }> {
    const changed: Array<{ group: Address; state: SourceFilterState }> = [];
    for (const [group, links] of [...this.groups]) {
      if (!links.delete(link)) continue;
      if (links.size === 0) this.groups.delete(group);
      const m = this.remerge(group);
      if (m) changed.push({ group, state: m });
    }
    return changed;
  }

  /** The state of `group` on `link` (INCLUDE {} when none). */
  linkState(link: string, group: Address): SourceFilterState {
    return this.groups.get(group)?.get(link) ?? NO_MEMBERSHIP;
  }

  /** Links with a membership for `group`. */
  linksOf(group: Address): ReadonlyMap<string, SourceFilterState> {
    return this.groups.get(group) ?? new Map();
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

  private remerge(group: Address): SourceFilterState | null {
    const links = this.groups.get(group);
    const next = links ? mergeStates(links.values()) : NO_MEMBERSHIP;
    const prev = this.merged.get(group) ?? NO_MEMBERSHIP;
    if (sameFilter(prev, next)) return null;
    if (isNoMembership(next)) this.merged.delete(group);
    else this.merged.set(group, next);
    return next;
  }
}
