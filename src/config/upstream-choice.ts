/**
 * Which upstream serves a group (docs/protocol.md "Proxy merge"). RFC 4605 §4 gives each
 * group one upstream interface; with several upstreams the configuration says which: the
 * first upstream, in the file's order, whose `groups` hold the group. An upstream without
 * `groups` serves every group of both families; one whose `groups` hold none of a family
 * serves no group of that family. A group no upstream serves has no upstream (null).
 *
 * The rule is static: an upstream that is down keeps its groups (they wait for it), so the
 * choice does not depend on the interfaces' state.
 */
import { CidrSet } from "../wire/address.js";
import type { Address } from "../wire/types.js";
import { intersectPrefixes, parseCidr, subtractPrefixes } from "./cidr.js";
import type { Protocol } from "./settings.js";
import type { InterfaceConfig } from "./types.js";

export class UpstreamChoice {
  /** In the file's order; `groups` null: every group. */
  private readonly ranges: ReadonlyArray<{ name: string; groups: CidrSet | null }>;

  constructor(upstreams: readonly Pick<InterfaceConfig, "name" | "groups">[]) {
    this.ranges = upstreams.map((u) => ({
      name: u.name,
      groups: u.groups.length === 0 ? null : new CidrSet(u.groups),
    }));
  }

  /** The name of the upstream that serves `group`, or null when none does. */
  of(group: Address): string | null {
    for (const r of this.ranges) if (r.groups === null || r.groups.has(group)) return r.name;
    return null;
  }

  /** The upstreams' names, in order. */
  names(): string[] {
    return this.ranges.map((r) => r.name);
  }
}

/** Every group of a family: what an upstream without `groups` serves. */
const ALL_GROUPS: Record<Protocol, string> = { igmp: "224.0.0.0/4", mld: "ff00::/8" };

/** The groups of `protocol`'s family an upstream's `groups` name (all of them when empty). */
function rangesOf(u: Pick<InterfaceConfig, "groups">, protocol: Protocol): string[] {
  if (u.groups.length === 0) return [ALL_GROUPS[protocol]];
  const family = protocol === "igmp" ? 4 : 6;
  return u.groups.filter((g) => {
    const c = parseCidr(g);
    return typeof c !== "string" && c.family === family;
  });
}

/** A range the upstreams before it already serve (a configuration warning). */
export interface Shadow {
  /** Index of the upstream in the list. */
  upstream: number;
  /** Index of the `groups` entry, or null: the whole upstream serves no group. */
  entry: number | null;
  message: string;
}

/**
 * The upstreams, and `groups` entries, that can never be chosen because upstreams before
 * them serve all of their groups (first match wins), in the families `protocols` enabled.
 */
export function shadowedUpstreams(
  upstreams: readonly Pick<InterfaceConfig, "name" | "groups">[],
  protocols: readonly Protocol[],
): Shadow[] {
  const out: Shadow[] = [];
  upstreams.forEach((u, i) => {
    if (protocols.every((p) => rangesOf(u, p).length === 0)) {
      out.push({
        upstream: i,
        entry: null,
        message: `upstream "${u.name}" serves no group: its \`groups\` name none of the enabled ${protocols.map((p) => p.toUpperCase()).join(" / ")} family`,
      });
      return;
    }
    const before = upstreams.slice(0, i);
    if (before.length === 0) return;
    /** The earlier upstreams serving some of `ranges`, and what of `ranges` they leave. */
    const against = (ranges: string[], protocol: Protocol) => {
      const taken = before.flatMap((b) => rangesOf(b, protocol));
      const by = before.filter((b) => intersectPrefixes(ranges, rangesOf(b, protocol)).length > 0);
      return { left: subtractPrefixes(ranges, taken), by: by.map((b) => `"${b.name}"`).join(", ") };
    };
    const whole = protocols.map((p) => ({ p, ...against(rangesOf(u, p), p) }));
    if (whole.every((w) => w.left.length === 0)) {
      const by = [...new Set(whole.map((w) => w.by).filter((b) => b !== ""))].join(", ");
      out.push({
        upstream: i,
        entry: null,
        message: `upstream "${u.name}" serves no group: the upstreams before it (${by}) serve all of its groups (the first match wins)`,
      });
      return;
    }
    u.groups.forEach((g, k) => {
      const c = parseCidr(g);
      if (typeof c === "string") return;
      const protocol: Protocol = c.family === 4 ? "igmp" : "mld";
      if (!protocols.includes(protocol)) return;
      const { left, by } = against([g], protocol);
      if (left.length === 0) {
        out.push({
          upstream: i,
          entry: k,
          message: `\`groups\` entry ${g} of upstream "${u.name}" is never used: ${by} before it serve${by.includes(",") ? "" : "s"} those groups (the first match wins)`,
        });
      }
    });
  });
  return out;
}
