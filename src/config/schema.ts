/**
 * JSON Schema (draft 2020-12) of the YAML config, built from the settings table
 * (settings.ts): every row becomes a property wherever its `places` allow. The published
 * copy at schema/improxy.schema.json is generated from this object by
 * `node --import tsx src/config/write-schema.ts` (a unit test fails when they differ).
 *
 * Layering (lowest precedence first): defaults < top-level settings (both families) <
 * top-level `igmp:`/`mld:` < per-interface settings < per-interface `igmp:`/`mld:`.
 * An upstream takes interface settings only (`ttl-threshold`, `groups`, `sources`); its
 * protocol settings are the top-level ones. `upstream` may list several upstreams.
 */
import {
  forProtocol,
  isDerived,
  type Place,
  type Protocol,
  SETTINGS,
  type Setting,
  type Value,
} from "./settings.js";

type Fragment = Record<string, unknown>;

/** An `allow-sources` / `deny-sources` rule: a group prefix and a source prefix. */
export const SOURCE_RULE = {
  type: "object",
  additionalProperties: false,
  required: ["group", "source"],
  properties: {
    group: { description: "Group prefix (CIDR; a bare address is one group).", type: "string", minLength: 1 },
    source: { description: "Source prefix (CIDR; a bare address is one source).", type: "string", minLength: 1 },
  },
} as const;

/** A `static-groups` entry written as a mapping: a group and, optionally, one source. */
export const STATIC_GROUP_OBJECT = {
  type: "object",
  additionalProperties: false,
  required: ["group"],
  properties: {
    group: { description: "Multicast group address.", type: "string", minLength: 1 },
    source: { description: "Unicast source address (required for an SSM group).", type: "string", minLength: 1 },
  },
} as const;

const TYPES: Record<Setting["type"], Fragment> = {
  integer: { type: "integer" },
  number: { type: "number" },
  boolean: { type: "boolean" },
  prefixes: { type: "array", items: { type: "string", minLength: 1 } },
  "source-rules": { type: "array", items: SOURCE_RULE },
  "static-groups": {
    type: "array",
    items: {
      if: { type: "string" },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
      then: { type: "string", minLength: 1 },
      else: STATIC_GROUP_OBJECT,
    },
  },
  path: { type: "string", minLength: 1 },
  "table-id": { type: ["integer", "null"] },
  listen: { type: ["string", "boolean"] },
  http: {
    if: { type: "object" },
    // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
    then: {
      type: "object",
      additionalProperties: false,
      required: ["listen"],
      properties: {
        listen: {
          description: '"ADDRESS:PORT" (e.g. "127.0.0.1:9465", "[::1]:9465"), or "metrics": on the metrics endpoint.',
          type: "string",
          minLength: 1,
        },
        "token-file": {
          description: "Absolute path of a file holding the access token (at least 16 characters).",
          type: "string",
          minLength: 1,
        },
      },
    },
    else: { enum: ["off", false] },
  },
  // POSIX portable user names (useradd's default rule): letters, digits, `.`, `_`, `-`, a final `$`.
  user: { type: ["string", "null"], minLength: 1, maxLength: 32, pattern: "^[A-Za-z0-9_.][A-Za-z0-9_.-]*[$]?$" },
};

/** The schema of one setting as written in `place` (family blocks know their protocol). */
function property(row: Setting, place: Place, protocol: Protocol): Fragment {
  const range = row.range ? forProtocol(row.range, protocol) : {};
  const out: Fragment = { description: row.description, ...TYPES[row.type] };
  if (range.enum !== undefined) out.enum = [...range.enum];
  if (range.min !== undefined) out.minimum = range.min;
  if (range.exclusiveMin !== undefined) out.exclusiveMinimum = range.exclusiveMin;
  if (range.max !== undefined) out.maximum = range.max;
  // An interface's own value defaults to the top-level one, so only the top level says it.
  const inherits = (row.kind === "downstream" || row.kind === "interface") && place !== "global";
  if (!isDerived(row.default) && !inherits) {
    const d: Value = row.yamlDefault !== undefined ? row.yamlDefault : forProtocol(row.default, protocol);
    out.default = Array.isArray(d) ? [...d] : d;
  }
  return out;
}

/** Properties of the rows allowed in `place`, for `protocol` where a value depends on it. */
function properties(place: Place, protocol: Protocol, kinds: readonly Setting["kind"][]): Fragment {
  return Object.fromEntries(
    SETTINGS.filter((r) => r.places.includes(place) && kinds.includes(r.kind)).map((r) => [
      r.yaml,
      property(r, place, protocol),
    ]),
  );
}

/** Rows that are not per family show their IGMP value (there is no difference). */
const ANY: Protocol = "igmp";

function familyBlock(protocol: Protocol) {
  return {
    type: "object",
    description: protocol === "igmp" ? "IGMP (IPv4) settings." : "MLD (IPv6) settings.",
    additionalProperties: false,
    properties: properties("family", protocol, ["switch", "protocol"]),
  } as const;
}

/** The settings a downstream object may hold besides its name (also `default-downstream`). */
const downstreamSettings = {
  ...properties("downstream", ANY, ["downstream"]),
  ...properties("downstream", ANY, ["interface"]),
  ...properties("downstream", ANY, ["protocol"]),
  igmp: { $ref: "#/$defs/igmp" },
  mld: { $ref: "#/$defs/mld" },
} as const;

const downstreamObject = {
  type: "object",
  description: "A downstream interface with its own settings.",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { $ref: "#/$defs/ifname" },
    ...downstreamSettings,
  },
} as const;

const defaultDownstreamObject = {
  type: "object",
  description: "The settings of the default downstreams (as a downstream object, without `name`).",
  additionalProperties: false,
  properties: downstreamSettings,
} as const;

const upstreamObject = {
  type: "object",
  description: "The upstream interface with its own settings.",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { $ref: "#/$defs/ifname" },
    ...properties("upstream", ANY, ["interface", "upstream"]),
  },
} as const;

export const CONFIG_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "urn:improxy:config-schema:1",
  title: "improxy configuration",
  description: "IGMP/MLD proxy (RFC 4605) configuration, YAML form.",
  type: "object",
  additionalProperties: false,
  required: ["upstream"],
  properties: {
    ...properties("global", ANY, ["global"]),
    ...properties("global", ANY, ["downstream"]),
    ...properties("global", ANY, ["interface"]),
    ...properties("global", ANY, ["protocol"]),
    igmp: { $ref: "#/$defs/igmp" },
    mld: { $ref: "#/$defs/mld" },
    upstream: {
      description:
        "The upstream interface (the proxy is a host there): a name, or a mapping with `name` and settings; or a list of those, in order: each group is served by the first upstream whose `groups` hold it.",
      if: { type: "array" },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
      then: { type: "array", minItems: 1, items: { $ref: "#/$defs/upstreamItem" } },
      else: { $ref: "#/$defs/upstreamItem" },
    },
    downstream: {
      description:
        "Downstream interfaces (the proxy is a router there): names or objects with settings. Required unless `default-downstream` is set.",
      type: "array",
      minItems: 1,
      items: { $ref: "#/$defs/downstreamItem" },
    },
    "default-downstream": {
      description:
        "Every other interface that can do multicast and has an address of the family (not loopback, not the upstream, not in `disabled`) is a downstream too, also when it appears later (igmpproxy `defaultdown`): true, or a mapping with the settings of those downstreams.",
      $ref: "#/$defs/defaultDownstreamItem",
    },
    disabled: {
      description:
        "Interfaces that are never used, in particular not as default downstreams (igmpproxy `phyint NAME disabled`).",
      type: "array",
      items: { $ref: "#/$defs/ifname" },
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
    upstreamItem: {
      if: { type: "string" },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
      then: { $ref: "#/$defs/ifname" },
      else: { $ref: "#/$defs/upstreamObject" },
    },
    upstreamObject,
    defaultDownstreamItem: {
      if: { type: "boolean" },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword, not a thenable.
      then: { type: "boolean" },
      else: { $ref: "#/$defs/defaultDownstreamObject" },
    },
    defaultDownstreamObject,
    igmp: familyBlock("igmp"),
    mld: familyBlock("mld"),
  },
} as const;
