/**
 * `static-groups` values (RFC 8652 `static-group`): groups a downstream receives with no
 * host asking. An entry is written as a bare group address (every source) or as
 * `{ group: G, source: S }` (one source). Here: the parse of one entry where it is written
 * (canonical addresses, so the daemon compares them with the addresses it reads off the
 * wire), the entries of one family, and the checks of a downstream's resolved list against
 * its other settings and limits: a static group that could never be forwarded, or that the
 * limits would refuse, is a configuration error.
 */
import { CidrSet, isLinkLocalGroup, isMulticast, tryCanonicalAddress } from "../wire/address.js";
import type { IpFamily } from "../wire/types.js";
import type { Protocol, ProtocolSettings, StaticGroup } from "./settings.js";
import type { InterfaceConfig } from "./types.js";
import { refusingSetting } from "./source-rules.js";
import { UpstreamChoice } from "./upstream-choice.js";

/** An entry as the YAML writes it (the schema has checked the shape). */
export type RawStaticEntry = string | { group: string; source?: string };

const FAMILY_OF: Record<Protocol, IpFamily> = { igmp: "ipv4", mld: "ipv6" };
const PROTOCOL_OF: Record<IpFamily, Protocol> = { ipv4: "igmp", ipv6: "mld" };

/** The entry with canonical addresses and its protocol, or why it is not a valid entry. */
export function parseStaticEntry(raw: RawStaticEntry): { protocol: Protocol; entry: StaticGroup } | string {
  const groupText = typeof raw === "string" ? raw : raw.group;
  const sourceText = typeof raw === "string" ? undefined : raw.source;
  const family: IpFamily = groupText.includes(":") ? "ipv6" : "ipv4";
  const group = tryCanonicalAddress(groupText, family);
  if (group === null) return `group ${JSON.stringify(groupText)} is not an IPv4 or IPv6 address`;
  if (!isMulticast(group, family)) return `group ${JSON.stringify(groupText)} is not a multicast address`;
  if (sourceText === undefined) return { protocol: PROTOCOL_OF[family], entry: { group, source: null } };
  const source = tryCanonicalAddress(sourceText, family);
  if (source === null) {
    return `source ${JSON.stringify(sourceText)} is not an ${family === "ipv4" ? "IPv4" : "IPv6"} address (the group's family)`;
  }
  if (isMulticast(source, family) || source === (family === "ipv4" ? "0.0.0.0" : "::")) {
    return `source ${JSON.stringify(sourceText)} is not a unicast address`;
  }
  return { protocol: PROTOCOL_OF[family], entry: { group, source } };
}

/** The entries of `protocol` in a list whose entries parse. */
export function staticEntriesOf(raw: readonly RawStaticEntry[], protocol: Protocol): StaticGroup[] {
  const out: StaticGroup[] = [];
  for (const r of raw) {
    const p = parseStaticEntry(r);
    if (typeof p !== "string" && p.protocol === protocol) out.push(p.entry);
  }
  return out;
}

/** How an entry is named in messages. */
export function showStaticEntry(e: StaticGroup): string {
  return e.source === null ? e.group : `${e.group} from ${e.source}`;
}

/**
 * The first entry of a downstream's resolved `staticGroups` that cannot work with its
 * other settings, and why: a group never managed or forwarded (link-local scope,
 * ignore-groups, deny-groups, outside allow-groups), an SSM group without source (RFC 4604
 * §2.2: no any-source membership there), a source the source policy refuses, a repeated
 * entry, or more groups or sources than max-groups, max-sources-per-group and
 * max-group-sources allow on the link.
 */
export function staticGroupsProblem(
  s: ProtocolSettings,
  protocol: Protocol,
): { entry: StaticGroup; reason: string } | null {
  const family = FAMILY_OF[protocol];
  const ignored = new CidrSet(s.ignoreGroups);
  const denied = new CidrSet(s.denyGroups);
  const allowed = s.allowGroups.length > 0 ? new CidrSet(s.allowGroups) : null;
  const ssm = new CidrSet(s.ssmRanges);
  const seen = new Set<string>();
  const sourcesOf = new Map<string, number>();
  let sources = 0;
  for (const entry of s.staticGroups) {
    const { group, source } = entry;
    const fail = (reason: string) => ({ entry, reason });
    if (isLinkLocalGroup(group, family)) return fail("is a link-local scope group, never forwarded");
    if (ignored.has(group)) return fail("is in `ignore-groups`, never forwarded");
    if (denied.has(group)) return fail("is in `deny-groups`");
    if (allowed !== null && !allowed.has(group)) return fail("is outside `allow-groups`");
    if (source === null && ssm.has(group)) {
      return fail("is in an SSM range (`ssm-ranges`): write it with its source, { group: G, source: S }");
    }
    if (source !== null) {
      const refused = refusingSetting(s.allowSources, s.denySources, group, source);
      if (refused !== null) return fail(`has a source that \`${refused}\` refuses`);
    }
    const key = `${group}|${source ?? "*"}`;
    if (seen.has(key)) return fail("is listed twice");
    seen.add(key);
    if (!sourcesOf.has(group)) {
      if (sourcesOf.size >= s.maxGroups) return fail(`is one group more than \`max-groups\` (${s.maxGroups})`);
      sourcesOf.set(group, 0);
    }
    if (source !== null) {
      const n = (sourcesOf.get(group) ?? 0) + 1;
      if (n > s.maxSourcesPerGroup) {
        return fail(`is one source more than \`max-sources-per-group\` (${s.maxSourcesPerGroup})`);
      }
      if (++sources > s.maxGroupSources) {
        return fail(`is one source more than \`max-group-sources\` (${s.maxGroupSources})`);
      }
      sourcesOf.set(group, n);
    }
  }
  return null;
}

/**
 * The static groups of all downstreams together are joined upstream, each on its upstream
 * (upstream-choice.ts): more distinct groups of one family on one upstream than
 * `max-upstream-groups` could never all be joined. The first downstream whose static
 * groups go over, and why; or null. Groups no upstream serves are not joined upstream.
 */
export function staticUpstreamProblem(
  upstreams: readonly InterfaceConfig[],
  downstreams: readonly InterfaceConfig[],
  maxUpstreamGroups: number,
): { line: number; reason: string } | null {
  const choice = new UpstreamChoice(upstreams);
  for (const protocol of ["igmp", "mld"] as const) {
    const groups = new Map<string, Set<string>>();
    for (const d of downstreams) {
      for (const e of d[protocol]?.staticGroups ?? []) {
        const up = choice.of(e.group);
        if (up === null) continue;
        const held = groups.get(up) ?? new Set<string>();
        groups.set(up, held.add(e.group));
        if (held.size <= maxUpstreamGroups) continue;
        const on = upstreams.length === 1 ? "" : ` on upstream "${up}"`;
        return {
          line: d.line,
          reason: `the ${protocol === "igmp" ? "IGMP" : "MLD"} static groups of the downstreams up to "${d.name}" are ${held.size} groups${on}, more than \`max-upstream-groups\` (${maxUpstreamGroups}) can join upstream`,
        };
      }
    }
  }
  return null;
}
