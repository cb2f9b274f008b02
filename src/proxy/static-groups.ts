/**
 * Static groups of a link (RFC 8652 `static-group`): the configuration listens to them on
 * the link permanently, as a host that never leaves would. They enter the membership merge
 * as the link's second listener beside its router (membership.ts, Listener "static"), so
 * the group is joined upstream and forwarded onto the link with no report, and the RFC
 * 4605 §4.1 merge combines them with whatever the hosts ask for.
 *
 * One entry is a group with every source (EXCLUDE {}) or a group with one source
 * (INCLUDE {S}); the entries of one group merge like any two listeners (RFC 9776 §3.2), so
 * a group listed both ways is EXCLUDE {}.
 */
import type { Address } from "../wire/types.js";
import { mergeStates, type SourceFilterState } from "./membership.js";

/** One configured entry: `source` null for every source. */
export interface StaticEntry {
  group: Address;
  source: Address | null;
}

/** The link's state of each static group. */
export function staticLinkStates(entries: readonly StaticEntry[]): Map<Address, SourceFilterState> {
  const byGroup = new Map<Address, SourceFilterState[]>();
  for (const e of entries) {
    const state: SourceFilterState =
      e.source === null ? { filterMode: "exclude", sources: [] } : { filterMode: "include", sources: [e.source] };
    const list = byGroup.get(e.group);
    if (list === undefined) byGroup.set(e.group, [state]);
    else list.push(state);
  }
  const out = new Map<Address, SourceFilterState>();
  for (const [group, states] of byGroup) out.set(group, mergeStates(states));
  return out;
}
