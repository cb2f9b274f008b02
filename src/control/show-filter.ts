/**
 * The filters of `improxy show` (control request fields "interface", "group", "source"):
 * which filters each view takes, their validation (shared by the CLI and the control
 * protocol) and the matching the status builder applies, so that a filtered answer stays
 * small whatever the daemon holds (docs/operations.md "Show filters").
 *
 * - interface: a configured interface (or a default downstream present now). groups and
 *   sources: the downstream link; routes: the incoming or an outgoing link; interfaces and
 *   stats: that interface's row and counters.
 * - group: a multicast address or prefix (239.1.0.0/16); source: an address or prefix.
 */
import { isMulticastPrefix, parseCidr } from "../config/cidr.js";
import { checkInterfaceName } from "../config/interface-name.js";
import { CidrSet } from "../wire/address.js";
import type { Address } from "../wire/types.js";
import type { ShowView, StatusSource } from "./status.js";

export interface ShowFilter {
  interface?: string;
  group?: string;
  source?: string;
}

export type ShowFilterKey = keyof ShowFilter;
export const SHOW_FILTER_KEYS: readonly ShowFilterKey[] = ["interface", "group", "source"];

/** The filter fields of `o` (a show request), those that are set. */
export function filterOf(o: ShowFilter): ShowFilter {
  const out: ShowFilter = {};
  for (const key of SHOW_FILTER_KEYS) if (o[key] !== undefined) out[key] = o[key];
  return out;
}

/** The filters each view takes. */
export const VIEW_FILTERS: Record<ShowView, readonly ShowFilterKey[]> = {
  interfaces: ["interface"],
  groups: ["interface", "group", "source"],
  sources: ["interface", "group", "source"],
  routes: ["interface", "group", "source"],
  stats: ["interface"],
};

/** Null when `filter` is valid for `view`, else the reason (one line). */
export function checkShowFilter(view: ShowView, filter: ShowFilter): string | null {
  for (const key of SHOW_FILTER_KEYS) {
    if (filter[key] !== undefined && !VIEW_FILTERS[view].includes(key)) {
      return `show ${view} takes no ${key} filter (it takes: ${VIEW_FILTERS[view].join(", ")})`;
    }
  }
  if (filter.interface !== undefined) {
    const bad = checkInterfaceName(filter.interface);
    if (bad !== null) return bad;
  }
  for (const key of ["group", "source"] as const) {
    const text = filter[key];
    if (text === undefined) continue;
    const c = parseCidr(text);
    if (typeof c === "string") return `${key} ${c}`;
    if (key === "group" && !isMulticastPrefix(c)) {
      return `group ${JSON.stringify(text)} is not a multicast address or prefix`;
    }
  }
  return null;
}

/**
 * The names `show INTERFACE` accepts: the configured interfaces and the links the families
 * hold now (default downstreams). `links` are the link names of the snapshots taken.
 */
export function knownInterfaces(source: StatusSource, links: Iterable<string>): string[] {
  const { config } = source;
  const names = [...config.upstreams, ...config.downstreams].map((i) => i.name);
  for (const l of links) if (!names.includes(l)) names.push(l);
  return names;
}

/** A filter naming an interface that is not configured (exit 1 in the CLI, not a usage error). */
export class UnknownInterfaceError extends Error {
  constructor(name: string, known: readonly string[]) {
    super(`no interface ${name} is configured; configured: ${known.join(", ") || "none"}`);
    this.name = "UnknownInterfaceError";
  }
}

/** The matching side of a valid filter; an absent filter matches everything. */
export class ShowMatcher {
  private readonly groups: CidrSet | null;
  private readonly sources: CidrSet | null;

  constructor(readonly filter: ShowFilter) {
    this.groups = filter.group === undefined ? null : new CidrSet([filter.group]);
    this.sources = filter.source === undefined ? null : new CidrSet([filter.source]);
  }

  /** Whether the filter restricts anything. */
  get active(): boolean {
    return SHOW_FILTER_KEYS.some((k) => this.filter[k] !== undefined);
  }

  link(name: string): boolean {
    return this.filter.interface === undefined || this.filter.interface === name;
  }

  group(group: Address): boolean {
    return this.groups === null || this.groups.has(group);
  }

  source(source: Address): boolean {
    return this.sources === null || this.sources.has(source);
  }

  /** A source list holds a matching source (a group's or upstream membership's sources). */
  anySource(sources: Iterable<Address>): boolean {
    if (this.sources === null) return true;
    for (const s of sources) if (this.sources.has(s)) return true;
    return false;
  }

  /** A forwarding entry: its incoming or one of its outgoing links, its group and source. */
  route(e: { source: Address; group: Address; iif: string; oifs: readonly string[] }): boolean {
    const i = this.filter.interface;
    const linkOk = i === undefined || e.iif === i || e.oifs.includes(i);
    return linkOk && this.group(e.group) && this.source(e.source);
  }
}
