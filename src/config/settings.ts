/**
 * The settings table: one row per configuration setting. Everything else about a setting
 * is derived from its row: the JSON Schema (schema.ts), the YAML key mapping and layering
 * (yaml-format.ts), the defaults (defaults.ts), the `check-config` output (format.ts), the
 * router engine config (src/daemon/router-config.ts) and the README table (docs.ts).
 * The RFC defaults are written here and nowhere else.
 *
 * Names follow the IETF YANG model for IGMP and MLD (RFC 8652, module ietf-igmp-mld) where
 * it has the setting; `yang` names that leaf, null where the model has none.
 */
import type { ImproxyConfig, InterfaceConfig } from "./types.js";

/** The configured protocol of one address family: IGMP (IPv4) or MLD (IPv6). */
export type Protocol = "igmp" | "mld";
export const PROTOCOLS: readonly Protocol[] = ["igmp", "mld"];

/** A value that may differ between IGMP and MLD. */
export type PerProtocol<T> = T | { readonly igmp: T; readonly mld: T };

/**
 * Where a setting may be written in the YAML format:
 * - global: at the top level (for a protocol setting: both families, every interface);
 * - family: in an `igmp:` / `mld:` block, at the top level or in a downstream object;
 * - downstream: in a downstream object (both families of that interface), and in the
 *   `default-downstream` object;
 * - upstream: in the upstream object (`upstream: { name: ..., ... }`).
 */
export type Place = "global" | "family" | "downstream" | "upstream";

/**
 * Where the resolved value lands:
 * - protocol: a field of ProtocolSettings (per interface and family);
 * - switch: the family on/off switch (ImproxyConfig.igmpEnabled / mldEnabled);
 * - global: a field of ImproxyConfig;
 * - downstream: a field of InterfaceConfig (downstream interfaces only; the upstream holds the default);
 * - interface: a field of InterfaceConfig on every interface, the upstream included;
 * - upstream: a field of InterfaceConfig (the upstream only; downstreams hold the default).
 */
export type Kind = "protocol" | "switch" | "global" | "downstream" | "interface" | "upstream";

/** The value type, which also fixes the JSON Schema fragment. */
export type ValueType =
  | "integer"
  | "number"
  | "boolean"
  | "prefixes" // list of CIDR prefixes
  | "source-rules" // list of { group: PREFIX, source: PREFIX }
  | "static-groups" // list of GROUP or { group: GROUP, source: SOURCE }
  | "path" // absolute file path
  | "table-id" // integer or null
  | "listen" // "ADDRESS:PORT", "off", true or false
  | "http" // the web view: "off" or { listen: "ADDRESS:PORT" | "metrics", token-file: PATH }
  | "user"; // a user name, or null

export interface Range {
  readonly min?: number;
  readonly exclusiveMin?: number;
  readonly max?: number;
  readonly enum?: readonly number[];
}

/** A default computed from the other resolved settings of the same family and interface. */
export interface DerivedDefault {
  /** The formula as the docs show it. */
  readonly formula: string;
  readonly derive: (resolved: DeriveInput) => number;
}

/**
 * One (group prefix, source prefix) pair of `allow-sources` / `deny-sources`: the sources
 * in `source` sent to the groups in `group` (CIDR prefixes of the block's family).
 */
export interface SourceRule {
  group: string;
  source: string;
}

/**
 * One entry of `static-groups` (RFC 8652 `static-group`): the group, joined with every
 * source (`source` null, written as the bare group) or with one source.
 */
export interface StaticGroup {
  group: string;
  source: string | null;
}

/**
 * The web view (`http:`): where it listens and the file holding its access token. Off by
 * default; bound to loopback unless a token is set (yaml-format.ts checks).
 */
export interface HttpSettings {
  /** "ADDRESS:PORT" of its own listener, or "metrics": served on the metrics endpoint. */
  listen: string;
  /** A file holding the access token (read at start); null: no token (loopback only). */
  tokenFile: string | null;
}

/** `http.listen` value that serves the web view on the metrics endpoint. */
export const HTTP_ON_METRICS = "metrics";

export type Value =
  | number
  | boolean
  | string
  | null
  | readonly string[]
  | readonly SourceRule[]
  | readonly StaticGroup[]
  | HttpSettings;

/** What a derived default reads: the settings resolved before it (table order). */
interface DeriveInput {
  readonly queryInterval: number;
  readonly robustnessVariable: number;
}

/** The TypeScript type of a resolved value of each value type. */
type ValueOf<T extends ValueType> = T extends "integer" | "number"
  ? number
  : T extends "boolean"
    ? boolean
    : T extends "prefixes"
      ? string[]
      : T extends "source-rules"
        ? SourceRule[]
        : T extends "static-groups"
          ? StaticGroup[]
          : T extends "path"
            ? string
            : T extends "table-id"
              ? number | null
              : T extends "listen" | "user"
                ? string | null
                : T extends "http"
                  ? HttpSettings | null
                  : never;

type StructuralConfig =
  | "file"
  | "format"
  | "upstreams"
  | "downstreams"
  | "defaultDownstream"
  | "disabled"
  | "igmpEnabled"
  | "mldEnabled";
type StructuralInterface = "name" | "role" | "igmp" | "mld" | "line";
/** Every field of the config shapes that a setting fills (the rest is structure). */
type GlobalKey = Exclude<keyof ImproxyConfig, StructuralConfig>;
type DownstreamKey = Exclude<keyof InterfaceConfig, StructuralInterface>;
export type SettingKey = keyof ProtocolSettings | GlobalKey | DownstreamKey | "enabled";
/** Fields of ImproxyConfig that are settings (rows of kind "global"). */
export type GlobalSettingKey = GlobalKey;
/** Fields of InterfaceConfig that are settings (rows of kind "downstream", "interface", "upstream"). */
export type InterfaceSettingKey = DownstreamKey;

/**
 * Protocol settings of one family on one interface, resolved: one field per row of kind
 * "protocol", typed by the row's value type (the row holds its YAML name, default, range,
 * unit and description). Derived from the table, so a new row is a new field.
 */
export type ProtocolSettings = {
  -readonly [K in keyof Rows as Rows[K]["kind"] extends "protocol" ? K : never]: ValueOf<Rows[K]["type"]>;
};
type Rows = typeof ROWS;

export interface Setting extends Row {
  /** Field of ProtocolSettings / ImproxyConfig / InterfaceConfig ("enabled": the family switch). */
  readonly key: SettingKey;
}

/** A row of the table; its key is the property name it is listed under. */
export interface Row {
  readonly kind: Kind;
  /** Key in the YAML format. */
  readonly yaml: string;
  /** RFC 8652 (ietf-igmp-mld) leaf, null where the model has none. */
  readonly yang: string | null;
  /** "s" for seconds; null for a count, a switch or a text. */
  readonly unit: "s" | null;
  readonly type: ValueType;
  readonly default: PerProtocol<Value> | DerivedDefault;
  /** The default as the YAML writes it, where the resolved value differs (metrics: "off"). */
  readonly yamlDefault?: Value;
  /** The default as the docs show it, where the value itself is too long to print. */
  readonly docDefault?: string;
  readonly range?: PerProtocol<Range>;
  readonly places: readonly Place[];
  readonly description: string;
  /** How check-config prints a value other than `${value}${unit}` (null values). */
  readonly show?: (value: Value) => string;
  /**
   * The default is always part of the resolved value: a stated list is added to it, never
   * replaces it (ignore-groups: the IGMP default 239.255.0.0/16 stays ignored).
   */
  readonly addsToDefault?: boolean;
}

const UINT32_MAX = 4294967295;
const EVERYWHERE: readonly Place[] = ["global", "family", "downstream"];

/** RFC 4607: the IPv6 SSM range ff3x::/32, written out for every scope x. */
const SSM_IPV6 = Array.from({ length: 16 }, (_, x) => `ff3${x.toString(16)}::/32`);

/**
 * The table, keyed by field: every field of the config shapes has a row (the compiler
 * checks). Order matters: it is the order of the schema properties, of the resolved
 * ProtocolSettings fields and of the check-config lines, and a derived default comes
 * after the settings it is derived from.
 */
const ROWS = {
  enabled: {
    kind: "switch",
    yaml: "enabled",
    yang: "enabled",
    unit: null,
    type: "boolean",
    default: true,
    places: ["family"],
    description:
      "Run this family (IGMP or MLD) here. Per interface, false turns it off on that interface only.",
  },
  version: {
    kind: "protocol",
    yaml: "version",
    yang: "version",
    unit: null,
    type: "integer",
    // IGMPv3 (RFC 9776) and MLDv2 (RFC 9777), the versions with source filtering.
    default: { igmp: 3, mld: 2 },
    range: { igmp: { enum: [1, 2, 3] }, mld: { enum: [1, 2] } },
    places: ["family"],
    description: "Querier version on the link: IGMP 1, 2 or 3; MLD 1 or 2.",
  },
  robustnessVariable: {
    kind: "protocol",
    yaml: "robustness-variable",
    yang: "robustness-variable",
    unit: null,
    type: "integer",
    // RFC 9776 §8.1 / RFC 9777 §9.1.
    default: 2,
    range: { min: 1, max: 7 },
    places: EVERYWHERE,
    description:
      "Robustness Variable (RFC 9776 §8.1, RFC 9777 §9.1). 1 is allowed but leaves no margin for loss.",
  },
  queryInterval: {
    kind: "protocol",
    yaml: "query-interval",
    yang: "query-interval",
    unit: "s",
    type: "integer",
    // RFC 9776 §8.2 / RFC 9777 §9.2; 31744 is the largest interval a query can encode.
    default: 125,
    range: { min: 1, max: 31744 },
    places: EVERYWHERE,
    description: "Query Interval in seconds between general queries (RFC 9776 §8.2).",
  },
  queryMaxResponseTime: {
    kind: "protocol",
    yaml: "query-max-response-time",
    yang: "query-max-response-time",
    unit: "s",
    type: "number",
    // RFC 9776 §8.3 / RFC 9777 §9.3.
    default: 10,
    range: { exclusiveMin: 0, max: 3174 },
    places: EVERYWHERE,
    description: "Query Response Interval in seconds (RFC 9776 §8.3); must be less than query-interval.",
  },
  lastMemberQueryInterval: {
    kind: "protocol",
    yaml: "last-member-query-interval",
    yang: "last-member-query-interval",
    unit: "s",
    type: "number",
    // RFC 9776 §8.8 / RFC 9777 §9.8.
    default: 1,
    range: { exclusiveMin: 0, max: 1023 },
    places: EVERYWHERE,
    description: "Last Member Query Interval in seconds, fractions allowed (RFC 9776 §8.8).",
  },
  startupQueryInterval: {
    kind: "protocol",
    yaml: "startup-query-interval",
    yang: null,
    unit: "s",
    type: "number",
    // RFC 9776 §8.6 / RFC 9777 §9.6: a quarter of the resolved query interval.
    default: { formula: "query-interval / 4", derive: (s) => s.queryInterval / 4 },
    range: { exclusiveMin: 0, max: 31744 },
    places: EVERYWHERE,
    description: "Startup Query Interval in seconds (RFC 9776 §8.6); default query-interval / 4.",
  },
  startupQueryCount: {
    kind: "protocol",
    yaml: "startup-query-count",
    yang: null,
    unit: null,
    type: "integer",
    // RFC 9776 §8.7 / RFC 9777 §9.7: the resolved robustness variable.
    default: { formula: "robustness-variable", derive: (s) => s.robustnessVariable },
    range: { min: 1, max: 255 },
    places: EVERYWHERE,
    description: "Startup Query Count (RFC 9776 §8.7); default robustness-variable.",
  },
  fastLeave: {
    kind: "protocol",
    yaml: "fast-leave",
    yang: "immediate-leave",
    unit: null,
    type: "boolean",
    default: false,
    places: EVERYWHERE,
    description:
      "Explicit host tracking: stop forwarding at once when the last host leaves (IMProxy `quickleave`).",
  },
  maxGroups: {
    kind: "protocol",
    yaml: "max-groups",
    yang: "max-groups",
    unit: null,
    type: "integer",
    // Sized for a small router (docs/protocol.md "Bounded state"): a home LAN uses tens,
    // and one link can hold at most a quarter of max-upstream-groups.
    default: 1024,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description: "Most groups kept per link and family; further reports are refused and counted.",
  },
  maxSourcesPerGroup: {
    kind: "protocol",
    yaml: "max-sources-per-group",
    yang: null,
    unit: null,
    type: "integer",
    // More than one IGMPv3 record in a 1500-byte packet holds (366 IPv4 sources).
    default: 256,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description: "Most sources kept per group on a link.",
  },
  maxGroupSources: {
    kind: "protocol",
    yaml: "max-group-sources",
    yang: "max-group-sources",
    unit: null,
    type: "integer",
    // Sized for a small router (docs/protocol.md "Bounded state"): 4 sources per group at max-groups.
    default: 16384,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description:
      "Most (group, source) entries kept per link and family, across all groups; further sources are refused and counted.",
  },
  maxGroupsPerHost: {
    kind: "protocol",
    yaml: "max-groups-per-host",
    yang: null,
    unit: null,
    type: "integer",
    // One host (one source address) cannot take the whole link's max-groups.
    default: 512,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description:
      "Most groups on a link held for one reporting host (the last host that reported each group); new groups beyond it are refused and counted.",
  },
  reportRateLimit: {
    kind: "protocol",
    yaml: "report-rate-limit",
    yang: null,
    unit: null,
    type: "integer",
    // A full link (max-groups) re-reported by ten hosts within the 10 s Query Response
    // Interval; a burst of one second's worth is allowed.
    default: 4000,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description:
      "Group records (and IGMPv1/v2, MLDv1 reports and leaves) accepted per second on a link, burst one second's worth; the rest is dropped and counted.",
  },
  hostReportRateLimit: {
    kind: "protocol",
    yaml: "host-report-rate-limit",
    yang: null,
    unit: null,
    type: "integer",
    // A host at max-groups-per-host can answer a general query in one burst.
    default: 512,
    range: { min: 1, max: UINT32_MAX },
    places: EVERYWHERE,
    description:
      "Group records (and IGMPv1/v2, MLDv1 reports and leaves) accepted per second from one host on a link, burst one second's worth; the rest is dropped and counted.",
  },
  maxAdoptedRobustness: {
    kind: "protocol",
    yaml: "max-adopted-robustness",
    yang: null,
    unit: null,
    type: "integer",
    // RFC 9776 §4.1.6: a non-querier adopts the querier's QRV; one spoofed query must not
    // stretch every timer sevenfold. Never below our own robustness-variable.
    default: 3,
    range: { min: 1, max: 7 },
    places: EVERYWHERE,
    description:
      "Highest Robustness Variable adopted from another querier's QRV (RFC 9776 §4.1.6); higher values are clamped and counted. Never below robustness-variable.",
  },
  maxAdoptedQueryInterval: {
    kind: "protocol",
    yaml: "max-adopted-query-interval",
    yang: null,
    unit: "s",
    type: "integer",
    // RFC 9776 §4.1.7: a non-querier adopts the querier's QQIC (up to 31744 s). Never below
    // our own query-interval.
    default: 300,
    range: { min: 1, max: 31744 },
    places: EVERYWHERE,
    description:
      "Longest Query Interval in seconds adopted from another querier's QQIC (RFC 9776 §4.1.7); longer ones are clamped and counted. Never below query-interval.",
  },
  ssmRanges: {
    kind: "protocol",
    yaml: "ssm-ranges",
    yang: null,
    unit: null,
    type: "prefixes",
    // RFC 4607 §1: 232.0.0.0/8 and ff3x::/32.
    default: { igmp: ["232.0.0.0/8"], mld: SSM_IPV6 },
    docDefault: "232.0.0.0/8 (IGMP); ff3x::/32, every scope x (MLD)",
    places: ["family"],
    description: "Source-specific multicast ranges (RFC 4604), CIDR prefixes of the block's family.",
  },
  ignoreGroups: {
    kind: "protocol",
    yaml: "ignore-groups",
    yang: null,
    unit: null,
    type: "prefixes",
    // IMProxy ignored 239.255.0.0/16 (organization-local scope, SSDP); none for MLD.
    default: { igmp: ["239.255.0.0/16"], mld: [] },
    addsToDefault: true,
    places: ["family"],
    description:
      "Groups never managed nor forwarded, CIDR prefixes; a stated list is added to the default, never replaces it (link-local scope is always ignored too).",
  },
  allowGroups: {
    kind: "protocol",
    yaml: "allow-groups",
    yang: null,
    unit: null,
    type: "prefixes",
    default: [],
    docDefault: "all groups",
    places: ["family"],
    description:
      "Groups hosts may join on the interface, CIDR prefixes (an inline form of RFC 8652 `group-policy`); empty: every group. Other groups are refused and counted (`group-not-allowed`).",
    show: (v) => (Array.isArray(v) && v.length === 0 ? "all groups" : String(v)),
  },
  denyGroups: {
    kind: "protocol",
    yaml: "deny-groups",
    yang: null,
    unit: null,
    type: "prefixes",
    default: [],
    places: ["family"],
    description:
      "Groups hosts may not join on the interface, CIDR prefixes; wins over `allow-groups`. Refused and counted (`group-denied`).",
  },
  // Source policy and static groups (issue 10): kept together, after the group policy.
  allowSources: {
    kind: "protocol",
    yaml: "allow-sources",
    yang: null,
    unit: null,
    type: "source-rules",
    default: [],
    docDefault: "all sources",
    places: ["family"],
    description:
      "Sources hosts may receive on the interface, as { group: PREFIX, source: PREFIX } pairs (an inline form of an RFC 8652 `group-policy` that matches sources); a group covered by some rule gets only the sources of its rules, other groups every source. Others are refused and counted (`source-not-allowed`).",
    show: (v) => (Array.isArray(v) && v.length === 0 ? "all sources" : showSourceRules(v)),
  },
  denySources: {
    kind: "protocol",
    yaml: "deny-sources",
    yang: null,
    unit: null,
    type: "source-rules",
    default: [],
    places: ["family"],
    description:
      "Sources hosts may not receive on the interface, as { group: PREFIX, source: PREFIX } pairs; wins over `allow-sources`. Never joined upstream nor forwarded onto the interface; refused and counted (`source-denied`).",
    show: (v) => showSourceRules(v),
  },
  staticGroups: {
    kind: "protocol",
    yaml: "static-groups",
    yang: "static-group",
    unit: null,
    type: "static-groups",
    default: [],
    places: ["family", "downstream"],
    description:
      "Groups joined upstream and forwarded onto the interface with no host asking: a GROUP (every source) or { group: GROUP, source: SOURCE } (an SSM group needs the source). In a downstream object, entries of both families; in a top-level `igmp:` / `mld:` block, on every downstream.",
    show: (v) => showStaticGroups(v),
  },
  mrouteTable: {
    kind: "global",
    yaml: "mroute-table",
    yang: null,
    unit: null,
    type: "table-id",
    default: null,
    range: { min: 0, max: UINT32_MAX },
    places: ["global"],
    description:
      "Kernel multicast routing table id (MRT_TABLE); omit or null for the kernel's default table.",
    show: (v) => (v === null ? "kernel default" : String(v)),
  },
  controlSocket: {
    kind: "global",
    yaml: "control-socket",
    yang: null,
    unit: null,
    type: "path",
    // In the systemd unit's RuntimeDirectory, writable by the non-root service user.
    default: "/run/improxy/improxy.sock",
    places: ["global"],
    description: "Path of the local control socket (absolute).",
  },
  metricsListen: {
    kind: "global",
    yaml: "metrics",
    yang: null,
    unit: null,
    type: "listen",
    default: null,
    yamlDefault: "off",
    places: ["global"],
    description:
      'Prometheus endpoint: "ADDRESS:PORT" (e.g. "127.0.0.1:9464", "[::1]:9464"), "off" or false; true means 127.0.0.1:9464.',
    show: (v) => (v === null ? "off" : String(v)),
  },
  http: {
    kind: "global",
    yaml: "http",
    yang: null,
    unit: null,
    type: "http",
    default: null,
    yamlDefault: "off",
    places: ["global"],
    description:
      'The live web view (README "Web view"): `{ listen: "ADDRESS:PORT" }` on its own listener, or `{ listen: metrics }` on the metrics endpoint; `token-file: PATH` names a file holding the access token, required when the address is not loopback. "off" or false: no web view.',
    show: (v) => {
      if (v === null) return "off";
      const h = v as HttpSettings;
      const where = h.listen === HTTP_ON_METRICS ? "on the metrics endpoint" : h.listen;
      return `${where}, ${h.tokenFile === null ? "no token" : `token from ${h.tokenFile}`}`;
    },
  },
  forwardingIdleCheck: {
    kind: "global",
    yaml: "forwarding-idle-check",
    yang: null,
    unit: "s",
    type: "number",
    default: 60,
    range: { exclusiveMin: 0, max: 86400 },
    places: ["global"],
    description:
      "Seconds between idle checks of forwarding entries: an (S,G) whose kernel packet counter did not move since the previous check is removed.",
  },
  maxUpstreamGroups: {
    kind: "global",
    yaml: "max-upstream-groups",
    yang: null,
    unit: null,
    type: "integer",
    // One membership socket carries 20 IPv4 groups (net.ipv4.igmp_max_memberships) or 64
    // IPv6 ones: 4096 groups are 205 + 64 sockets, well inside the usual 1024 open files.
    default: 4096,
    range: { min: 1, max: 1048576 },
    places: ["global"],
    description:
      "Most groups joined on each upstream interface per family (each IPv4 membership socket carries net.ipv4.igmp_max_memberships = 20 groups, so this bounds the open files: per upstream); further merged memberships wait, counted as upstream-limit, and are joined as soon as room frees up.",
  },
  upstreamChangesPerSecond: {
    kind: "global",
    yaml: "upstream-changes-per-second",
    yang: null,
    unit: null,
    type: "integer",
    // Joins are applied in batches on the scheduler so that a flood of groups never blocks
    // the event loop; new joins go before changes of groups already joined.
    default: 5000,
    range: { min: 1, max: 1000000 },
    places: ["global"],
    description:
      "Most upstream membership changes (joins, filter changes, leaves) pushed to the kernel per second, family and upstream interface; a group that changes again while queued is applied once, with its latest filter.",
  },
  maxForwardingEntries: {
    kind: "global",
    yaml: "max-forwarding-entries",
    yang: null,
    unit: null,
    type: "integer",
    default: 4096,
    range: { min: 1, max: 1048576 },
    places: ["global"],
    description:
      "Most (S,G) forwarding entries in the kernel per family; beyond it an entry without outgoing link is evicted for one with receivers, else the new flow is not installed (counted as mfc-limit).",
  },
  user: {
    kind: "global",
    yaml: "user",
    yang: null,
    unit: null,
    type: "user",
    default: null,
    places: ["global"],
    description:
      "Run as this user (and its groups) once the kernel sockets are open (igmpproxy `user`), keeping only CAP_NET_ADMIN and CAP_NET_RAW (an interface that appears later needs its own raw socket). Omit or null to keep the starting user.",
    show: (v) => (v === null ? "(starting user)" : String(v)),
  },
  downToUp: {
    kind: "downstream",
    yaml: "down-to-up",
    yang: null,
    unit: null,
    type: "boolean",
    default: false,
    places: ["global", "downstream"],
    description:
      "Forward the downstream's senders upstream too (IMProxy `down_to_up`); at the top level, the default for every downstream.",
  },
  forwardWhenNotQuerier: {
    kind: "downstream",
    yaml: "forward-when-not-querier",
    yang: null,
    unit: null,
    type: "boolean",
    // RFC 4605 §4.2: only the querier of a link forwards onto it.
    default: false,
    places: ["global", "downstream"],
    description:
      "Forward onto the downstream even while another router is the link's querier (RFC 4605 §4.2 says only the querier forwards); at the top level, the default for every downstream.",
  },
  ttlThreshold: {
    kind: "interface",
    yaml: "ttl-threshold",
    yang: null,
    unit: null,
    type: "integer",
    // igmpproxy's `threshold`, default 1: the vifctl vifc_threshold of the VIF and the TTL
    // the interface's slot in every forwarding entry carries (mfcctl mfcc_ttls).
    default: 1,
    range: { min: 1, max: 255 },
    places: ["global", "upstream", "downstream"],
    description:
      "TTL threshold of the interface's VIF (igmpproxy `threshold`): IPv4 packets leave through the interface only with a TTL above it. The kernel's IPv6 forwarding has no per-interface TTL: for MLD it is only the MIF's recorded threshold. At the top level, the default for every interface.",
  },
  groups: {
    kind: "upstream",
    yaml: "groups",
    yang: null,
    unit: null,
    type: "prefixes",
    // RFC 4605 §4: each group has one upstream interface; the first match decides
    // (docs/protocol.md "Proxy merge").
    default: [],
    docDefault: "all groups",
    places: ["upstream"],
    show: (v) => showList(v, "all groups"),
    description:
      "Group prefixes this upstream serves, of either family (igmpproxy `whitelist` on an upstream): each group is joined, and its data taken, on the first upstream in the file's order whose `groups` match it; an upstream without `groups` serves every group of both families. A group no upstream serves is not joined upstream (counted as `no-upstream`) and is still forwarded between downstreams.",
  },
  sources: {
    kind: "upstream",
    yaml: "sources",
    yang: null,
    unit: null,
    type: "prefixes",
    default: [],
    docDefault: "all sources",
    show: (v) => showList(v, "all sources"),
    places: ["upstream"],
    description:
      "Source prefixes whose multicast data is accepted from the upstream (igmpproxy `altnet`); data from other sources is not forwarded and counted (`upstream-source-refused`). Each family uses its own prefixes; a family with none listed accepts every source.",
  },
} satisfies Record<string, Row>;
// Every field of the config shapes that a setting fills has a row, and every row a field.
const everyFieldHasARow: Record<GlobalKey | DownstreamKey | "enabled", Row> = ROWS;
const everyRowHasAField: [Exclude<keyof Rows, SettingKey>] extends [never] ? true : false = true;
void everyFieldHasARow;
void everyRowHasAField;

/** check-config's text of a prefix list whose empty value means everything (`empty`). */
function showList(v: Value, empty: string): string {
  const list = v as readonly string[];
  return list.length === 0 ? empty : list.join(", ");
}

/** check-config's text of a `source-rules` value: "GROUP from SOURCE" per rule. */
function showSourceRules(v: Value): string {
  const rules = v as readonly SourceRule[];
  return rules.length === 0 ? "(none)" : rules.map((r) => `${r.group} from ${r.source}`).join(", ");
}

/** check-config's text of a `static-groups` value: "GROUP" or "GROUP from SOURCE" per entry. */
function showStaticGroups(v: Value): string {
  const entries = v as readonly StaticGroup[];
  if (entries.length === 0) return "(none)";
  return entries.map((e) => (e.source === null ? e.group : `${e.group} from ${e.source}`)).join(", ");
}

export const SETTINGS: readonly Setting[] = Object.entries(ROWS).map(
  ([key, row]): Setting => ({ key: key as SettingKey, ...(row as Row) }),
);

/** The address used when the YAML says `metrics: true`. */
export const METRICS_LISTEN_WHEN_TRUE = "127.0.0.1:9464";

export const PROTOCOL_SETTINGS = SETTINGS.filter((s) => s.kind === "protocol") as readonly (Setting & {
  key: keyof ProtocolSettings;
})[];

/** The one row of `key`. */
export function setting(key: SettingKey): Setting {
  const row = SETTINGS.find((s) => s.key === key);
  if (!row) throw new Error(`no setting ${key}`);
  return row;
}

export function isPerProtocol<T>(v: PerProtocol<T>): v is { readonly igmp: T; readonly mld: T } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "igmp" in v && "mld" in v;
}

export function isDerived(v: Setting["default"]): v is DerivedDefault {
  return typeof v === "object" && v !== null && "derive" in v;
}

/** A per-protocol value for one protocol. */
export function forProtocol<T>(v: PerProtocol<T>, protocol: Protocol): T {
  return isPerProtocol(v) ? v[protocol] : v;
}
