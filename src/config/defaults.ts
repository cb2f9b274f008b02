/**
 * RFC default values for the protocol settings (RFC 9776 §8 for IGMPv3, RFC 9777 §9 for
 * MLDv2, names from RFC 8652), and the IMProxy defaults kept for compatibility.
 */
import type { ProtocolSettings } from "./types.js";

export type Protocol = "igmp" | "mld";

/** Versions each family allows (IGMPv1/v2/v3, MLDv1/v2). */
export const ALLOWED_VERSIONS: Record<Protocol, readonly number[]> = {
  igmp: [1, 2, 3],
  mld: [1, 2],
};

export const DEFAULT_VERSION: Record<Protocol, number> = { igmp: 3, mld: 2 };

/** RFC 9776 §8.1 / RFC 9777 §9.1: Robustness Variable. */
export const DEFAULT_ROBUSTNESS_VARIABLE = 2;
/** RFC 9776 §8.2 / RFC 9777 §9.2: Query Interval, seconds. */
export const DEFAULT_QUERY_INTERVAL = 125;
/** RFC 9776 §8.3 / RFC 9777 §9.3: Query Response Interval, seconds. */
export const DEFAULT_QUERY_MAX_RESPONSE_TIME = 10;
/** RFC 9776 §8.8 / RFC 9777 §9.8: Last Member (Listener) Query Interval, seconds. */
export const DEFAULT_LAST_MEMBER_QUERY_INTERVAL = 1;
/** Per-link state bounds (PROTOCOL.md "Bounded state"). */
export const DEFAULT_MAX_GROUPS = 65536;
export const DEFAULT_MAX_SOURCES_PER_GROUP = 1024;

/** RFC 4607 §1 / RFC 4604: the IPv4 SSM range. */
export const DEFAULT_SSM_RANGES_IGMP: readonly string[] = ["232.0.0.0/8"];
/** RFC 4607: ff3x::/32 for every scope x, written out as 16 prefixes. */
export const DEFAULT_SSM_RANGES_MLD: readonly string[] = Array.from(
  { length: 16 },
  (_, x) => `ff3${x.toString(16)}::/32`,
);
/** IMProxy ignored 239.255.0.0/16 (organization-local scope, SSDP); none for MLD. */
export const DEFAULT_IGNORE_GROUPS: Record<Protocol, readonly string[]> = {
  igmp: ["239.255.0.0/16"],
  mld: [],
};

/** In the systemd unit's RuntimeDirectory (/run/improxy), writable by the non-root service user. */
/** Seconds between idle checks of forwarding entries. */
export const DEFAULT_FORWARDING_IDLE_CHECK = 60;

export const DEFAULT_CONTROL_SOCKET = "/run/improxy/improxy.sock";
/** Address used when the YAML says `metrics: true`. */
export const DEFAULT_METRICS_LISTEN = "127.0.0.1:9464";

/** Settings a config may state; anything left undefined takes the default. */
export type PartialSettings = { -readonly [K in keyof ProtocolSettings]?: ProtocolSettings[K] };

/**
 * Resolves a family's settings from layers, lowest precedence first. The derived defaults
 * follow RFC 9776 §8.7/§8.6: startup-query-interval = query-interval / 4, startup-query-count
 * = robustness-variable (computed from the resolved values, not the defaults).
 */
export function resolveSettings(family: Protocol, layers: readonly PartialSettings[]): ProtocolSettings {
  const merged: PartialSettings = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer) as [keyof PartialSettings, unknown][]) {
      if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    }
  }
  const robustnessVariable = merged.robustnessVariable ?? DEFAULT_ROBUSTNESS_VARIABLE;
  const queryInterval = merged.queryInterval ?? DEFAULT_QUERY_INTERVAL;
  return {
    version: merged.version ?? DEFAULT_VERSION[family],
    robustnessVariable,
    queryInterval,
    queryMaxResponseTime: merged.queryMaxResponseTime ?? DEFAULT_QUERY_MAX_RESPONSE_TIME,
    lastMemberQueryInterval: merged.lastMemberQueryInterval ?? DEFAULT_LAST_MEMBER_QUERY_INTERVAL,
    startupQueryInterval: merged.startupQueryInterval ?? queryInterval / 4,
    startupQueryCount: merged.startupQueryCount ?? robustnessVariable,
    fastLeave: merged.fastLeave ?? false,
    maxGroups: merged.maxGroups ?? DEFAULT_MAX_GROUPS,
    maxSourcesPerGroup: merged.maxSourcesPerGroup ?? DEFAULT_MAX_SOURCES_PER_GROUP,
    ssmRanges: [
      ...(merged.ssmRanges ?? (family === "igmp" ? DEFAULT_SSM_RANGES_IGMP : DEFAULT_SSM_RANGES_MLD)),
    ],
    ignoreGroups: [...(merged.ignoreGroups ?? DEFAULT_IGNORE_GROUPS[family])],
  };
}
