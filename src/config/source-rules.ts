/**
 * `allow-sources` / `deny-sources` values: the checks of one rule where it is written (a
 * family block), and the verdict of a resolved policy on one (group, source) pair, for the
 * checks of the static groups. The router applies the same rules to reports
 * (src/router/source-policy.ts).
 */
import { CidrSet } from "../wire/address.js";
import { isMulticastPrefix, parseCidr } from "./cidr.js";
import type { Protocol, SourceRule } from "./settings.js";

/** Why `rule` cannot stand in `protocol`'s block, or null. */
export function sourceRuleProblem(rule: SourceRule, protocol: Protocol): string | null {
  const want = protocol === "igmp" ? 4 : 6;
  const group = parseCidr(rule.group);
  if (typeof group === "string") return `group ${group}`;
  if (group.family !== want) return `group ${JSON.stringify(rule.group)} is not an IPv${want} prefix (this is the ${protocol} block)`;
  if (!isMulticastPrefix(group)) {
    return `group ${JSON.stringify(rule.group)} is not a multicast prefix (must lie within ${want === 4 ? "224.0.0.0/4" : "ff00::/8"})`;
  }
  const source = parseCidr(rule.source);
  if (typeof source === "string") return `source ${source}`;
  if (source.family !== want) return `source ${JSON.stringify(rule.source)} is not an IPv${want} prefix (this is the ${protocol} block)`;
  if (isMulticastPrefix(source)) return `source ${JSON.stringify(rule.source)} is a multicast prefix; sources are unicast`;
  return null;
}

const covers = (rule: SourceRule, group: string) => new CidrSet([rule.group]).has(group);
const matches = (rule: SourceRule, group: string, source: string) =>
  covers(rule, group) && new CidrSet([rule.source]).has(source);

/** Which setting refuses `source` for `group` (deny wins), or null when the policy admits it. */
export function refusingSetting(
  allow: readonly SourceRule[],
  deny: readonly SourceRule[],
  group: string,
  source: string,
): "deny-sources" | "allow-sources" | null {
  if (deny.some((r) => matches(r, group, source))) return "deny-sources";
  const rules = allow.filter((r) => covers(r, group));
  if (rules.length > 0 && !rules.some((r) => matches(r, group, source))) return "allow-sources";
  return null;
}
