/**
 * JSON Schema (draft 2020-12) of the YAML config. This object is the source of truth; the
 * published copy at schema/improxy.schema.json is generated from it by
 * `node --import tsx src/config/write-schema.ts` (a unit test fails when they differ).
 * Names follow RFC 8652 (ietf-igmp-mld) and RFC 9398 (ietf-igmp-mld-proxy).
 *
 * Layering (lowest precedence first): RFC defaults < top-level settings (both families) <
 * top-level `igmp:`/`mld:` < per-interface settings < per-interface `igmp:`/`mld:`.
 */
import { DEFAULT_IGNORE_GROUPS, DEFAULT_SSM_RANGES_IGMP, DEFAULT_SSM_RANGES_MLD } from "./defaults.js";

/** Settings that may appear at every level and apply to both families there. */
const commonSettings = {
  "robustness-variable": {
    description:
      "Robustness Variable (RFC 9776 §8.1, RFC 9777 §9.1). 1 is allowed but leaves no margin for loss.",
    type: "integer",
    minimum: 1,
    maximum: 7,
    default: 2,
  },
  "query-interval": {
    description: "Query Interval in seconds between general queries (RFC 9776 §8.2).",
    type: "integer",
    minimum: 1,
    maximum: 31744,
    default: 125,
  },
  "query-max-response-time": {
    description: "Query Response Interval in seconds (RFC 9776 §8.3); must be less than query-interval.",
    type: "number",
    exclusiveMinimum: 0,
    maximum: 3174,
    default: 10,
  },
  "last-member-query-interval": {
    description: "Last Member Query Interval in seconds, fractions allowed (RFC 9776 §8.8).",
    type: "number",
    exclusiveMinimum: 0,
    maximum: 1023,
    default: 1,
  },
  "startup-query-interval": {
    description: "Startup Query Interval in seconds (RFC 9776 §8.6); default query-interval / 4.",
    type: "number",
    exclusiveMinimum: 0,
    maximum: 31744,
  },
  "startup-query-count": {
    description: "Startup Query Count (RFC 9776 §8.7); default robustness-variable.",
    type: "integer",
    minimum: 1,
    maximum: 255,
  },
  "fast-leave": {
    description:
      "Explicit host tracking: stop forwarding at once when the last host leaves (IMProxy `quickleave`).",
    type: "boolean",
    default: false,
  },
  "max-groups": {
    description: "Most groups kept per link and family; further reports are refused and counted.",
    type: "integer",
    minimum: 1,
    maximum: 4294967295,
    default: 65536,
  },
  "max-sources-per-group": {
    description: "Most sources kept per group on a link.",
    type: "integer",
    minimum: 1,
    maximum: 4294967295,
    default: 1024,
  },
} as const;

const prefixList = (what: string) =>
  ({
    description: what,
    type: "array",
    items: { type: "string", minLength: 1 },
  }) as const;

function familyBlock(family: "igmp" | "mld") {
  const v4 = family === "igmp";
  return {
    type: "object",
    description: v4 ? "IGMP (IPv4) settings." : "MLD (IPv6) settings.",
    additionalProperties: false,
    properties: {
      enabled: {
        description: `Run ${v4 ? "IGMP" : "MLD"} here. Per interface, false turns it off on that interface only.`,
        type: "boolean",
        default: true,
      },
      version: {
        description: v4 ? "IGMP version 1, 2 or 3." : "MLD version 1 or 2.",
        type: "integer",
        enum: v4 ? [1, 2, 3] : [1, 2],
        default: v4 ? 3 : 2,
      },
      ...commonSettings,
      "ssm-ranges": {
        ...prefixList(`Source-specific multicast ranges (RFC 4604), ${v4 ? "IPv4" : "IPv6"} CIDR prefixes.`),
        default: [...(v4 ? DEFAULT_SSM_RANGES_IGMP : DEFAULT_SSM_RANGES_MLD)],
      },
      "ignore-groups": {
        ...prefixList(
          "Groups never managed nor forwarded, CIDR prefixes (link-local scope is always ignored).",
        ),
        default: [...DEFAULT_IGNORE_GROUPS[family]],
      },
    },
  } as const;
}

const downstreamObject = {
  type: "object",
  description: "A downstream interface with its own settings.",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { $ref: "#/$defs/ifname" },
    "down-to-up": {
      description: "Forward this downstream's senders upstream too (IMProxy `down_to_up`).",
      type: "boolean",
    },
    "forward-when-not-querier": {
      description:
        "Forward onto this downstream even while another router is the link's querier (default false: RFC 4605 §4.2, only the querier forwards).",
      type: "boolean",
    },
    ...commonSettings,
    igmp: { $ref: "#/$defs/igmp" },
    mld: { $ref: "#/$defs/mld" },
  },
} as const;

export const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "urn:improxy:config-schema:1",
  title: "improxy configuration",
  description: "IGMP/MLD proxy (RFC 4605) configuration, YAML form.",
  type: "object",
  additionalProperties: false,
  required: ["upstream", "downstream"],
  properties: {
    "forwarding-idle-check": {
      description:
        "Seconds between idle checks of forwarding entries: an (S,G) whose kernel packet counter did not move since the previous check is removed.",
      type: "number",
      exclusiveMinimum: 0,
      maximum: 86400,
      default: 60,
    },
    "mroute-table": {
      description:
        "Kernel multicast routing table id (MRT_TABLE); omit or null for the kernel's default table.",
      type: ["integer", "null"],
      minimum: 0,
      maximum: 4294967295,
      default: null,
    },
    "control-socket": {
      description: "Path of the local control socket (absolute).",
      type: "string",
      minLength: 1,
      default: "/run/improxy/improxy.sock",
    },
    metrics: {
      description:
        'Prometheus endpoint: "ADDRESS:PORT" (e.g. "127.0.0.1:9464", "[::1]:9464"), "off" or false; true means 127.0.0.1:9464.',
      type: ["string", "boolean"],
      default: "off",
    },
    "down-to-up": {
      description: "Default for every downstream: forward its senders upstream too (IMProxy `down_to_up`).",
      type: "boolean",
      default: false,
    },
    "forward-when-not-querier": {
      description:
        "Default for every downstream: forward even while another router is the link's querier (RFC 4605 §4.2 says only the querier forwards).",
      type: "boolean",
      default: false,
    },
    ...commonSettings,
    igmp: { $ref: "#/$defs/igmp" },
    mld: { $ref: "#/$defs/mld" },
    upstream: {
      description: "The one upstream interface (the proxy is a host there).",
      $ref: "#/$defs/ifname",
    },
    downstream: {
      description: "Downstream interfaces (the proxy is a router there): names or objects with settings.",
      type: "array",
      minItems: 1,
      items: { $ref: "#/$defs/downstreamItem" },
    },
  },
  $defs: {
    ifname: {
      description: "Linux interface name: 1 to 15 printable characters, no '/', ':' or spaces.",
      type: "string",
      minLength: 1,
      maxLength: 15,
      pattern: "^[!-.0-9;-~]+$",
    },
    downstreamItem: {
      if: { type: "string" },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
      then: { $ref: "#/$defs/ifname" },
      else: { $ref: "#/$defs/downstreamObject" },
    },
    downstreamObject,
    igmp: familyBlock("igmp"),
    mld: familyBlock("mld"),
  },
} as const;

/** The YAML keys of the settings that apply to both families, in schema order. */
export const COMMON_SETTING_KEYS = Object.keys(commonSettings) as (keyof typeof commonSettings)[];
