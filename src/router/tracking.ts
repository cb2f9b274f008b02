/**
 * Explicit host tracking (RFC 9776 §6.x mentions it as an option; FRR pim6d and Linux
 * bridges do it): per group, remember what every reporter wants, from its own records.
 * Used for fast leave (IMProxy `quickleave`): when no tracked host wants a group or a
 * source any more, the router stops forwarding it at once instead of after the Last
 * Member Query Time. Kept only when fast leave is on (its one consumer): it costs about
 * 280 bytes per (link, group) with 8 sources (bench/engine.ts).
 *
 * Reports from the unspecified address (0.0.0.0 / ::, hosts without an address yet)
 * are tracked under that address as one anonymous reporter that leaves cannot remove:
 * it only expires, so it keeps the normal RFC timing for what it asked for.
 *
 * Bounded (GroupTable): the host records of a link, each counted as 1 + its sources, stay
 * within maxGroups + maxGroupSources. A host that does not fit is not tracked, and its
 * group keeps the normal RFC timing (no fast leave) for a Group Membership Interval.
 */
import type { Address } from "../wire/types.js";
import { RecordType } from "../wire/types.js";
import type { FilterMode } from "./types.js";

export interface HostRecord {
  filterMode: FilterMode;
  /** INCLUDE: sources wanted; EXCLUDE: sources not wanted. */
  sources: Set<Address>;
  /** Deadline after which the record is forgotten (Group Membership Interval after its last report). */
  expires: number;
}

/**
 * Applies one record (or a v1/v2 report as IS_EX({}), a leave as TO_IN({})) to the host's
 * tracked state, updating `current` in place when it exists. Returns the record, or null
 * when the host now wants nothing.
 */
export function trackRecord(
  current: HostRecord | undefined,
  recordType: number,
  sources: readonly Address[],
  expires: number,
): HostRecord | null {
  switch (recordType) {
    case RecordType.MODE_IS_INCLUDE:
    case RecordType.CHANGE_TO_INCLUDE_MODE:
    case RecordType.MODE_IS_EXCLUDE:
    case RecordType.CHANGE_TO_EXCLUDE_MODE: {
      const filterMode: FilterMode =
        recordType === RecordType.MODE_IS_INCLUDE || recordType === RecordType.CHANGE_TO_INCLUDE_MODE
          ? "include"
          : "exclude";
      if (filterMode === "include" && sources.length === 0) return null;
      if (current === undefined) return { filterMode, sources: new Set(sources), expires };
      current.filterMode = filterMode;
      current.expires = expires;
      if (current.sources.size !== sources.length || !sources.every((s) => current.sources.has(s))) {
        current.sources.clear();
        for (const s of sources) current.sources.add(s);
      }
      return current;
    }
    case RecordType.ALLOW_NEW_SOURCES: {
      const rec = current ?? { filterMode: "include", sources: new Set<Address>(), expires };
      rec.expires = expires;
      if (rec.filterMode === "include") for (const s of sources) rec.sources.add(s);
      else for (const s of sources) rec.sources.delete(s);
      return rec.filterMode === "include" && rec.sources.size === 0 ? null : rec;
    }
    case RecordType.BLOCK_OLD_SOURCES:
      if (current === undefined) return null;
      if (current.filterMode === "include") for (const s of sources) current.sources.delete(s);
      else for (const s of sources) current.sources.add(s);
      return current.filterMode === "include" && current.sources.size === 0 ? null : current;
    default:
      return current ?? null;
  }
}

/** Whether some live tracked host wants traffic from `source`. */
export function hostsWantSource(
  hosts: ReadonlyMap<Address, HostRecord>,
  source: Address,
  now: number,
): boolean {
  for (const h of hosts.values()) {
    if (h.expires <= now) continue;
    if (h.filterMode === "include" ? h.sources.has(source) : !h.sources.has(source)) return true;
  }
  return false;
}

/** Whether some live tracked host is in EXCLUDE mode (wants any source but some). */
export function hostsWantExclude(hosts: ReadonlyMap<Address, HostRecord>, now: number): boolean {
  for (const h of hosts.values()) if (h.expires > now && h.filterMode === "exclude") return true;
  return false;
}

/** Tracking entries a host record costs against the link's cap: itself and each source. */
export function hostUnits(rec: HostRecord | undefined): number {
  return rec === undefined ? 0 : 1 + rec.sources.size;
}

/** Forgets the host records that expired; returns the entries freed ({@link hostUnits}). */
export function pruneHosts(hosts: Map<Address, HostRecord>, now: number): number {
  let freed = 0;
  for (const [h, rec] of hosts) {
    if (rec.expires > now) continue;
    freed += hostUnits(rec);
    hosts.delete(h);
  }
  return freed;
}
