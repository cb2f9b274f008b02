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

/** Who holds a link's interest in a group: the link's router (the hosts' reports) or the
 * configuration (static groups, a permanent listener of the link: static-groups.ts). */
export type Listener = "router" | "static";

/** One link's listeners of one group. */
interface Held {
  router?: SourceFilterState;
  static?: SourceFilterState;
}

/**
 * Per-group link states and their merge. A link's state of a group merges its listeners
 * (the router's state and a static group, as two hosts of the link would be merged, RFC
 * 9776 §3.2); the links' states merge into the upstream state (RFC 4605 §4.1).
 * `setLinkState` returns the new merged state when it changed (the caller then updates the
 * upstream subscription), or null.
 */
export class MembershipDatabase {
  /** group -> link -> its listeners' states. */
  private readonly held = new Map<Address, Map<string, Held>>();
  /** group -> link -> the link's state (its listeners merged). */
  private readonly groups = new Map<Address, Map<string, SourceFilterState>>();
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
    const before = [...this.held].filter(([, links]) => links.get(link)?.static !== undefined).map(([g]) => g);
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
    for (const [group, links] of this.held) {
      const s = links.get(link)?.static;
      if (s !== undefined) out.set(group, s);
    }
    return out;
  }

  /** Removes every state of a link (link gone or no longer a downstream). Returns the changed merges. */
  removeLink(link: string): Array<{ group: Address; state: SourceFilterState }> {
    const changed: Array<{ group: Address; state: SourceFilterState }> = [];
    for (const [group, links] of [...this.held]) {
      if (!links.delete(link)) continue;
      if (links.size === 0) this.held.delete(group);
      this.settleLink(link, group);
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

  /**
   * Sets one listener's state of `group` on `link` (INCLUDE {} removes it); true when the
   * link's state changed.
   */
  private hold(link: string, group: Address, who: Listener, state: SourceFilterState): boolean {
    let links = this.held.get(group);
    const prev = links?.get(link)?.[who];
    if (isNoMembership(state)) {
      if (prev === undefined) return false;
      const h = links!.get(link)!;
      delete h[who];
      if (h.router === undefined && h.static === undefined) links!.delete(link);
      if (links!.size === 0) this.held.delete(group);
    } else {
      const norm: SourceFilterState = { filterMode: state.filterMode, sources: [...new Set(state.sources)].sort() };
      if (prev && sameFilter(prev, norm)) return false;
      if (!links) {
        links = new Map();
        this.held.set(group, links);
      }
      const h = links.get(link) ?? {};
      h[who] = norm;
      links.set(link, h);
    }
    return this.settleLink(link, group);
  }

  /** Recomputes the link's state of `group` from its listeners; true when it changed. */
  private settleLink(link: string, group: Address): boolean {
    const h = this.held.get(group)?.get(link);
    const next =
      h === undefined
        ? NO_MEMBERSHIP
        : h.router !== undefined && h.static !== undefined
          ? mergeStates([h.router, h.static])
          : (h.router ?? h.static ?? NO_MEMBERSHIP);
    const prev = this.linkState(link, group);
    if (sameFilter(prev, next)) return false;
    let links = this.groups.get(group);
    if (isNoMembership(next)) {
      links?.delete(link);
      if (links?.size === 0) this.groups.delete(group);
    } else {
      if (!links) {
        links = new Map();
        this.groups.set(group, links);
      }
      links.set(link, next);
    }
    return true;
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
