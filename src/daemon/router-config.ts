/**
 * The router engine's config of one link and family, from the resolved protocol settings.
 * Every protocol setting of the settings table passes under its own name, except that a
 * setting in seconds becomes milliseconds under the engine's name for it, and the static
 * groups, which are the proxy's (permanent listeners in the membership merge, not router
 * state); the engine's last member query count is the robustness variable (RFC 9776 §8.9,
 * RFC 9777 §9.9).
 */
import { DEFAULT_DOWNSTREAM_NAME, resolveSettings } from "../config/defaults.js";
import { PROTOCOL_SETTINGS, type Protocol } from "../config/settings.js";
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../config/types.js";
import type { RouterConfig } from "../router/types.js";
import { CidrSet, familyOf } from "../wire/address.js";
import type { IpFamily } from "../wire/types.js";

/** The engine's millisecond field of each setting in seconds. */
const MS_FIELDS = {
  queryInterval: "queryIntervalMs",
  queryMaxResponseTime: "queryResponseIntervalMs",
  lastMemberQueryInterval: "lastMemberQueryIntervalMs",
  startupQueryInterval: "startupQueryIntervalMs",
  maxAdoptedQueryInterval: "maxAdoptedQueryIntervalMs",
} as const satisfies Partial<Record<keyof ProtocolSettings, keyof RouterConfig>>;
type MsFields = typeof MS_FIELDS;

/** Protocol settings the proxy applies itself (FamilyProxy); the engine never sees them. */
const PROXY_FIELDS = ["staticGroups"] as const satisfies readonly (keyof ProtocolSettings)[];
type ProxyFields = (typeof PROXY_FIELDS)[number];

/** RouterConfig as this module builds it: the settings renamed, plus the derived count. */
type Built = {
  [K in Exclude<keyof ProtocolSettings, ProxyFields> as K extends keyof MsFields
    ? MsFields[K]
    : K]: ProtocolSettings[K];
} & { lastMemberQueryCount: number };
// Both directions: a setting the engine lacks, or an engine field nothing fills, fails here.
const sameShape: [Built extends RouterConfig ? true : false, RouterConfig extends Built ? true : false] = [
  true,
  true,
];
void sameShape;

export function routerConfig(settings: ProtocolSettings): RouterConfig {
  const out: Record<string, unknown> = { lastMemberQueryCount: settings.robustnessVariable };
  for (const row of PROTOCOL_SETTINGS) {
    if ((PROXY_FIELDS as readonly string[]).includes(row.key)) continue;
    const v = settings[row.key];
    if (row.unit === "s") {
      const field = MS_FIELDS[row.key as keyof MsFields];
      if (field === undefined) throw new Error(`${row.key} is in seconds but has no engine field`);
      out[field] = (v as number) * 1000;
    } else out[row.key] = Array.isArray(v) ? [...v] : v;
  }
  return out as unknown as RouterConfig;
}

const PROTOCOL_OF: Record<IpFamily, Protocol> = { ipv4: "igmp", ipv6: "mld" };

/** The engine config with every setting at its default (tests and benchmarks). */
export function defaultRouterConfig(family: IpFamily): RouterConfig {
  return routerConfig(resolveSettings(PROTOCOL_OF[family], []));
}

/** One link of a family in a configuration: the interface and its resolved protocol settings. */
export interface FamilyLinkConfig {
  cfg: InterfaceConfig;
  settings: ProtocolSettings;
}

/** The links of `family` in a configuration: the interfaces with that family enabled, by name. */
export function familyLinks(config: ImproxyConfig, family: IpFamily): Map<string, FamilyLinkConfig> {
  const out = new Map<string, FamilyLinkConfig>();
  for (const cfg of [...config.upstreams, ...config.downstreams]) {
    const settings = cfg[PROTOCOL_OF[family]];
    if (settings) out.set(cfg.name, { cfg, settings });
  }
  return out;
}

/**
 * Groups never forwarded by `family` (the `ignore-groups` of the upstreams' settings, the
 * top-level family block's value, the same on every upstream); link-local scope is ignored
 * besides these, always.
 */
export function ignoredGroups(config: ImproxyConfig, family: IpFamily): string[] {
  return config.upstreams[0]?.[PROTOCOL_OF[family]]?.ignoreGroups ?? [];
}

/**
 * The default downstream `name` would be in a configuration (default-downstream, igmpproxy
 * `defaultdown`): the template under the interface's name, unless the configuration has
 * none or it is off for `family`, or `name` is configured, an upstream or disabled.
 */
export function defaultLink(config: ImproxyConfig, family: IpFamily, name: string): FamilyLinkConfig | undefined {
  const template = config.defaultDownstream;
  const settings = template?.[PROTOCOL_OF[family]];
  if (!template || !settings || name === DEFAULT_DOWNSTREAM_NAME) return undefined;
  if (config.upstreams.some((u) => u.name === name) || config.disabled.includes(name)) return undefined;
  if (config.downstreams.some((d) => d.name === name)) return undefined;
  return { cfg: { ...template, name }, settings };
}

/**
 * The sources `family` accepts from each upstream, by name: its `sources` (igmpproxy
 * `altnet`) of that family; null (every source) when it lists none of the family.
 */
export function acceptedSources(config: ImproxyConfig, family: IpFamily): Map<string, CidrSet | null> {
  return new Map(
    config.upstreams.map((u) => {
      const own = u.sources.filter((p) => familyOf(p.split("/")[0]!) === family);
      return [u.name, own.length === 0 ? null : new CidrSet(own)];
    }),
  );
}
