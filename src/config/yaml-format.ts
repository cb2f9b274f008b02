/**
 * The YAML config format: everything the IMProxy format says, plus the RFC 8652 / RFC 9398
 * settings globally and per interface. Parsed with `yaml` (line numbers kept), validated
 * against CONFIG_SCHEMA by the validator ajv generated at build time (schema-validator.ts;
 * all errors, the first by line is reported), then checked semantically. See schema.ts for
 * the layering of settings.
 *
 * Differences from the IMProxy format, by design: a family without a block is ENABLED
 * (`igmp: { enabled: false }` turns it off); a missing top-level key (upstream, downstream)
 * is reported at the last line of the file; `upstream` may list several upstreams, each
 * with the `groups` it serves (upstream-choice.ts: the first match wins).
 */

import { isIPv4, isIPv6 } from "node:net";
import type { ErrorObject } from "ajv/dist/2020.js";
import type { Alias, Document } from "yaml";
import { isMulticastPrefix, parseCidr } from "./cidr.js";
import {
  DEFAULT_DOWNSTREAM_NAME,
  defaultOf,
  globalDefaults,
  interfaceDefaults,
  type PartialSettings,
  resolveSettings,
} from "./defaults.js";
import { explainSchemaError, type LocatedReason } from "./schema-errors.js";
import { validate as compiledValidate } from "./schema-validator.js";
import {
  HTTP_ON_METRICS,
  type HttpSettings,
  METRICS_LISTEN_WHEN_TRUE,
  PROTOCOL_SETTINGS,
  PROTOCOLS,
  type Protocol,
  type Setting,
  SETTINGS,
  type SourceRule,
  type StaticGroup,
} from "./settings.js";
import { sourceRuleProblem } from "./source-rules.js";
import {
  parseStaticEntry,
  type RawStaticEntry,
  showStaticEntry,
  staticEntriesOf,
  staticGroupsProblem,
  staticUpstreamProblem,
} from "./static-groups.js";
import {
  ConfigError,
  type ConfigWarning,
  type InterfaceConfig,
  type ParsedConfig,
  type ProtocolSettings,
} from "./types.js";
import { shadowedUpstreams } from "./upstream-choice.js";
import { checkVifLimit } from "./vif-limit.js";
import { yamlLib } from "./yaml-lib.js";
import { type DataPath, pointerToPath, YamlLocator } from "./yaml-locator.js";

export type { ConfigWarning, ParsedConfig } from "./types.js";

/** A mapping of the YAML file, keyed by YAML name (the schema has checked the values). */
interface RawValues {
  readonly [yaml: string]: unknown;
}
interface RawProtocolBlock extends RawValues {
  enabled?: boolean;
}
interface RawDownstreamSettings extends RawValues {
  igmp?: RawProtocolBlock;
  mld?: RawProtocolBlock;
}
interface RawDownstream extends RawDownstreamSettings {
  name: string;
}
interface RawUpstream extends RawValues {
  name: string;
}
interface RawConfig extends RawValues {
  igmp?: RawProtocolBlock;
  mld?: RawProtocolBlock;
  upstream: string | RawUpstream | (string | RawUpstream)[];
  downstream?: (string | RawDownstream)[];
  "default-downstream"?: boolean | RawDownstreamSettings;
  disabled?: string[];
}

/** Rows whose values are prefix lists, checked where they are written. */
const PREFIX_SETTINGS = PROTOCOL_SETTINGS.filter((r) => r.type === "prefixes").map((r) => r.yaml);
/** Rows whose values are source rules (allow-sources, deny-sources). */
const SOURCE_RULE_SETTINGS = PROTOCOL_SETTINGS.filter((r) => r.type === "source-rules").map((r) => r.yaml);
const STATIC_GROUPS = "static-groups";
const STATIC_ROW = PROTOCOL_SETTINGS.find((r) => r.yaml === STATIC_GROUPS)!;

/**
 * The value a layer states for `row` and `protocol`, or undefined. Static groups become
 * canonical entries of `protocol`'s family; in a downstream object, which holds both
 * families, a family with no entry there states nothing (it inherits). Source rules are
 * copied, so the resolved config shares no object with the parsed file.
 */
function layerValue(row: Setting, value: unknown, protocol: Protocol, familyBlock: boolean): unknown {
  if (value === undefined) return undefined;
  if (row.type === "static-groups") {
    const entries = staticEntriesOf(value as RawStaticEntry[], protocol);
    return entries.length === 0 && !familyBlock ? undefined : entries;
  }
  if (row.type === "source-rules") return (value as SourceRule[]).map((r) => ({ group: r.group, source: r.source }));
  return value;
}
/** Interface rows of a downstream: its own value, else the top-level one, else the default. */
const DOWNSTREAM_SETTINGS = SETTINGS.filter((r) => r.kind === "downstream" || r.kind === "interface");
/** Interface rows of the upstream: the upstream object's value, else the top-level one (interface rows). */
const UPSTREAM_SETTINGS = SETTINGS.filter((r) => r.kind === "upstream" || r.kind === "interface");
const GLOBAL_SETTINGS = SETTINGS.filter((r) => r.kind === "global");

/** One layer of settings and where it sits in the file. */
interface Layer {
  raw: RawProtocolBlock;
  path: DataPath;
}

/**
 * CONFIG_SCHEMA's check, compiled ahead of time by ajv (write-validator.ts): all errors,
 * verbose (each carries its value and schema).
 */
interface SchemaCheck {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
const check = compiledValidate as SchemaCheck;

/** Parses YAML config text. `file` is used in errors and stored in the result as given. */
export function parseYamlConfig(text: string, file: string): ParsedConfig {
  const { LineCounter, parseDocument } = yamlLib();
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const trimmed = text.endsWith("\n") ? text.slice(0, -1) : text;
  const lastLine = Math.max(1, trimmed.split("\n").length);
  const loc = new YamlLocator(doc, counter, lastLine);
  const fail: (line: number, reason: string) => never = (line, reason) => {
    throw new ConfigError(file, line, reason);
  };

  const syntax = doc.errors[0];
  if (syntax) {
    const first = syntax.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? "syntax error";
    fail(counter.linePos(syntax.pos[0]).line, `YAML syntax error: ${first}`);
  }
  if (doc.contents === null) fail(1, "empty config: expected a mapping with `upstream` and `downstream`");
  const data = toData(doc, (offset, reason) => fail(counter.linePos(offset).line, reason));

  if (!check(data)) {
    const reasons = (check.errors ?? [])
      .map((e: ErrorObject) => explainSchemaError(e, pointerToPath(e.instancePath)))
      .filter((r): r is LocatedReason => r !== null)
      .map((r) => ({ ...r, line: r.wholeFile ? lastLine : loc.line(r.path) }));
    reasons.sort((a, b) => a.line - b.line);
    const first = reasons[0];
    fail(first?.line ?? 1, first?.reason ?? "invalid config");
  }
  return buildConfig(data as RawConfig, file, loc, fail);
}

/**
 * Aliases expanded at most this often (weighted by what they expand to, as `yaml` counts):
 * a config has little reason for aliases at all, and a "billion laughs" file must not
 * expand into memory.
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * The document as plain data. `yaml` throws a ReferenceError naming no position when an
 * alias has no anchor before it or expands too much; the alias that threw is remembered
 * (its toJSON is wrapped on this document only) so the error names its line.
 */
function toData(doc: Document, fail: (offset: number, reason: string) => never): unknown {
  let culprit: Alias | undefined;
  yamlLib().visit(doc, {
    Alias(_key, node) {
      const own = node.toJSON.bind(node);
      node.toJSON = (...args: Parameters<Alias["toJSON"]>) => {
        try {
          return own(...args);
        } catch (err) {
          culprit ??= node;
          throw err;
        }
      };
    },
  });
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    const offset = culprit?.range?.[0] ?? 0;
    const alias = culprit ? `*${culprit.source}` : "an alias";
    if (/^Unresolved alias/.test(err.message))
      fail(offset, `unknown alias ${alias}: no anchor &${culprit?.source ?? "NAME"} before it`);
    if (/^Excessive alias count/.test(err.message))
      fail(
        offset,
        `alias ${alias} expands the document too much (more than ${MAX_ALIAS_COUNT} alias expansions, counted as the yaml library does); write the values out`,
      );
    fail(offset, `YAML alias error at ${alias}: ${err.message.split("\n")[0] ?? ""}`);
  }
}

function buildConfig(
  raw: RawConfig,
  file: string,
  loc: YamlLocator,
  fail: (line: number, reason: string) => never,
): ParsedConfig {
  const warnings: ConfigWarning[] = [];
  const warn = (line: number, message: string) => {
    if (!warnings.some((w) => w.line === line && w.message === message))
      warnings.push({ file, line, message });
  };

  // Families: a missing block means enabled; `enabled: false` turns the family off.
  const enabled: Record<Protocol, boolean> = {
    igmp: raw.igmp?.enabled ?? defaultOf<boolean>("enabled"),
    mld: raw.mld?.enabled ?? defaultOf<boolean>("enabled"),
  };
  if (!enabled.igmp && !enabled.mld) {
    const line = Math.max(loc.line(["igmp", "enabled"]), loc.line(["mld", "enabled"]));
    fail(line, "both IGMP and MLD are disabled, nothing to proxy");
  }

  // Prefix lists are checked where they are written.
  const checkPrefixes = (protocol: Protocol, block: RawProtocolBlock | undefined, path: DataPath) => {
    for (const key of PREFIX_SETTINGS) {
      ((block?.[key] as string[] | undefined) ?? []).forEach((text, i) => {
        const line = loc.line([...path, key, i]);
        const cidr = parseCidr(text);
        if (typeof cidr === "string") fail(line, `\`${key}\` entry ${cidr}`);
        const want = protocol === "igmp" ? 4 : 6;
        if (cidr.family !== want) {
          fail(
            line,
            `\`${key}\` entry ${JSON.stringify(text)} is not an IPv${want} prefix (this is the ${protocol} block)`,
          );
        }
        if (!isMulticastPrefix(cidr)) {
          fail(
            line,
            `\`${key}\` entry ${JSON.stringify(text)} is not a multicast prefix (must lie within ${want === 4 ? "224.0.0.0/4" : "ff00::/8"})`,
          );
        }
      });
    }
  };
  /**
   * Source rules and static groups of a family block: each entry of the block's family, a
   * multicast group, a unicast source.
   */
  const checkPolicies = (protocol: Protocol, block: RawProtocolBlock | undefined, path: DataPath) => {
    for (const key of SOURCE_RULE_SETTINGS) {
      ((block?.[key] as SourceRule[] | undefined) ?? []).forEach((rule, i) => {
        const problem = sourceRuleProblem(rule, protocol);
        if (problem !== null) fail(loc.line([...path, key, i]), `\`${key}\` entry ${problem}`);
      });
    }
    checkStaticEntries(block?.[STATIC_GROUPS] as RawStaticEntry[] | undefined, [...path, STATIC_GROUPS], protocol);
  };
  /** Static group entries at `path`: valid, and of `protocol`'s family when given (a family block). */
  const checkStaticEntries = (list: RawStaticEntry[] | undefined, path: DataPath, protocol?: Protocol) => {
    (list ?? []).forEach((raw, i) => {
      const p = parseStaticEntry(raw);
      const line = loc.line([...path, i]);
      if (typeof p === "string") fail(line, `\`${STATIC_GROUPS}\` entry ${p}`);
      if (protocol !== undefined && p.protocol !== protocol) {
        fail(
          line,
          `\`${STATIC_GROUPS}\` entry ${showStaticEntry(p.entry)} is not an IPv${protocol === "igmp" ? 4 : 6} group (this is the ${protocol} block)`,
        );
      }
    });
  };
  const checkBlock = (protocol: Protocol, block: RawProtocolBlock | undefined, path: DataPath) => {
    checkPrefixes(protocol, block, path);
    checkPolicies(protocol, block, path);
  };
  checkBlock("igmp", raw.igmp, ["igmp"]);
  checkBlock("mld", raw.mld, ["mld"]);

  /** Resolves one family from layers (lowest precedence first) and checks the result. */
  const resolve = (protocol: Protocol, layers: Layer[]): ProtocolSettings => {
    const partials: PartialSettings[] = layers.map(({ raw: r, path }) => {
      const p: Record<string, unknown> = {};
      for (const row of PROTOCOL_SETTINGS) {
        const v = layerValue(row, r[row.yaml], protocol, path.at(-1) === protocol);
        if (v !== undefined) p[row.key] = v;
      }
      return p as PartialSettings;
    });
    const settings = resolveSettings(protocol, partials);
    /** Line of the most specific layer that sets `key`, with its layer index (-1: default). */
    const origin = (key: string): { line: number; depth: number } => {
      for (let i = layers.length - 1; i >= 0; i--) {
        const layer = layers[i]!;
        if (layer.raw[key] !== undefined) return { line: loc.line([...layer.path, key]), depth: i };
      }
      return { line: loc.line(layers[layers.length - 1]?.path ?? []), depth: -1 };
    };
    // RFC 9776 §8.3 / RFC 9777 §9.3: the response interval must be less than the query interval.
    if (settings.queryMaxResponseTime >= settings.queryInterval) {
      const a = origin("query-max-response-time");
      const b = origin("query-interval");
      fail(
        a.depth >= b.depth ? a.line : b.line,
        `\`query-max-response-time\` (${settings.queryMaxResponseTime}) must be less than \`query-interval\` (${settings.queryInterval}) for ${protocol}`,
      );
    }
    if (settings.robustnessVariable === 1) {
      warn(
        origin("robustness-variable").line,
        "`robustness-variable` 1: a single lost packet loses membership (RFC 9776 §8.1 says it should not be 1)",
      );
    }
    return settings;
  };

  const globalLayers = (protocol: Protocol): Layer[] => [
    { raw, path: [] },
    ...(raw[protocol] ? [{ raw: raw[protocol], path: [protocol] }] : []),
  ];

  // Upstreams: the proxy is a host there; only version (and the timers, for reference) apply.
  const protocolSettings = (protocol: Protocol, layers: Layer[], fastLeave: boolean | undefined) => {
    if (!enabled[protocol]) return null;
    const s = resolve(protocol, layers);
    if (fastLeave !== undefined) s.fastLeave = fastLeave;
    // A host upstream: static groups are the downstreams' (a top-level block's apply to each).
    s.staticGroups = [];
    return s;
  };
  /** Interface rows: the interface's own value, else the top-level one (where allowed), else the default. */
  const interfaceValues = (rows: readonly Setting[], own: RawValues | undefined) =>
    Object.fromEntries(
      rows.map((r) => [
        r.key,
        own?.[r.yaml] ?? (r.places.includes("global") ? raw[r.yaml] : undefined) ?? defaultOf(r.key),
      ]),
    );
  /** An upstream's prefix list `key` at `path`: CIDR prefixes, multicast ones exactly when `groups`. */
  const checkUpstreamPrefixes = (list: string[] | undefined, key: "groups" | "sources", path: DataPath) => {
    (list ?? []).forEach((text, i) => {
      const line = loc.line([...path, key, i]);
      const cidr = parseCidr(text);
      if (typeof cidr === "string") fail(line, `\`${key}\` entry ${cidr}`);
      // A multicast address is never a packet's source; 0.0.0.0/0 (every source) is fine.
      if (key === "sources" && isMulticastPrefix(cidr)) {
        fail(
          line,
          `\`sources\` entry ${JSON.stringify(text)} is a multicast prefix; sources are unicast addresses`,
        );
      }
      if (key === "groups" && !isMulticastPrefix(cidr)) {
        fail(
          line,
          `\`groups\` entry ${JSON.stringify(text)} is not a multicast prefix (must lie within 224.0.0.0/4 or ff00::/8)`,
        );
      }
    });
  };
  const upstreamItems = Array.isArray(raw.upstream) ? raw.upstream : [raw.upstream];
  const upstreamLines = new Map<string, number>();
  const upstreamPaths: DataPath[] = [];
  const upstreams = upstreamItems.map((item, i): InterfaceConfig => {
    const itemPath: DataPath = Array.isArray(raw.upstream) ? ["upstream", i] : ["upstream"];
    const obj: RawUpstream = typeof item === "string" ? { name: item } : item;
    const line = loc.line(typeof item === "string" || itemPath.length === 1 ? itemPath : [...itemPath, "name"]);
    const first = upstreamLines.get(obj.name);
    if (first !== undefined) fail(line, `duplicate upstream "${obj.name}" (first on line ${first})`);
    upstreamLines.set(obj.name, line);
    upstreamPaths.push(itemPath);
    checkUpstreamPrefixes(obj.groups as string[] | undefined, "groups", itemPath);
    checkUpstreamPrefixes(obj.sources as string[] | undefined, "sources", itemPath);
    return {
      name: obj.name,
      role: "upstream",
      igmp: protocolSettings("igmp", globalLayers("igmp"), false),
      mld: protocolSettings("mld", globalLayers("mld"), false),
      ...interfaceDefaults(),
      ...(interfaceValues(UPSTREAM_SETTINGS, obj) as Pick<InterfaceConfig, "ttlThreshold" | "groups" | "sources">),
      line,
    };
  });
  // First match wins: an upstream (or a `groups` entry) whose groups earlier upstreams serve is never used.
  for (const shadow of shadowedUpstreams(upstreams, PROTOCOLS.filter((p) => enabled[p]))) {
    const path = upstreamPaths[shadow.upstream]!;
    warn(
      shadow.entry === null ? upstreams[shadow.upstream]!.line : loc.line([...path, "groups", shadow.entry]),
      shadow.message,
    );
  }

  /** The line of `entry` in the most specific layer its static groups come from. */
  const staticEntryLine = (layers: Layer[], protocol: Protocol, entry: StaticGroup): number => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const { raw: r, path } = layers[i]!;
      const list = r[STATIC_GROUPS] as RawStaticEntry[] | undefined;
      if (list === undefined || layerValue(STATIC_ROW, list, protocol, path.at(-1) === protocol) === undefined) continue;
      const at = list.findIndex((x) => {
        const p = parseStaticEntry(x);
        return typeof p !== "string" && p.entry.group === entry.group && p.entry.source === entry.source;
      });
      return loc.line(at < 0 ? [...path, STATIC_GROUPS] : [...path, STATIC_GROUPS, at]);
    }
    return loc.line(layers[layers.length - 1]?.path ?? []);
  };

  /** A downstream (or the default-downstream template, name "*") from its object in the file. */
  const downstreamOf = (
    obj: RawDownstreamSettings,
    name: string,
    itemPath: DataPath,
    line: number,
  ): InterfaceConfig => {
    const perProtocol = (protocol: Protocol): ProtocolSettings | null => {
      const block = obj[protocol];
      if (block) checkBlock(protocol, block, [...itemPath, protocol]);
      if (!enabled[protocol]) {
        if (block?.enabled === true) {
          fail(
            loc.line([...itemPath, protocol, "enabled"]),
            `${protocol} is disabled globally (line ${loc.line([protocol, "enabled"])}); it cannot be enabled on "${name}" alone`,
          );
        }
        if (block && block.enabled !== false) {
          warn(
            loc.line([...itemPath, protocol]),
            `${protocol} settings of "${name}" are unused: ${protocol} is disabled`,
          );
        }
        return null;
      }
      if (block?.enabled === false) return null;
      const layers: Layer[] = [...globalLayers(protocol), { raw: obj, path: itemPath }];
      if (block) layers.push({ raw: block, path: [...itemPath, protocol] });
      const settings = resolve(protocol, layers);
      const bad = staticGroupsProblem(settings, protocol);
      if (bad !== null) {
        fail(
          staticEntryLine(layers, protocol, bad.entry),
          `static group ${showStaticEntry(bad.entry)} of "${name}" ${bad.reason}`,
        );
      }
      return settings;
    };
    checkStaticEntries(obj[STATIC_GROUPS] as RawStaticEntry[] | undefined, [...itemPath, STATIC_GROUPS]);
    const igmp = perProtocol("igmp");
    const mld = perProtocol("mld");
    if (igmp === null && mld === null) warn(line, `downstream "${name}" has both IGMP and MLD disabled`);
    return {
      name,
      role: "downstream",
      igmp,
      mld,
      ...interfaceDefaults(),
      ...(interfaceValues(DOWNSTREAM_SETTINGS, obj) as Pick<
        InterfaceConfig,
        "downToUp" | "forwardWhenNotQuerier" | "ttlThreshold"
      >),
      line,
    };
  };

  const seen = new Map<string, number>();
  const downstreams = (raw.downstream ?? []).map((item, i): InterfaceConfig => {
    const itemPath: DataPath = ["downstream", i];
    const obj: RawDownstream = typeof item === "string" ? { name: item } : item;
    const line = loc.line(typeof item === "string" ? itemPath : [...itemPath, "name"]);
    const up = upstreamLines.get(obj.name);
    if (up !== undefined) fail(line, `downstream "${obj.name}" is an upstream interface (line ${up})`);
    const first = seen.get(obj.name);
    if (first !== undefined) fail(line, `duplicate downstream "${obj.name}" (first on line ${first})`);
    seen.set(obj.name, line);
    return downstreamOf(obj, obj.name, itemPath, line);
  });

  const dd = raw["default-downstream"];
  const defaultDownstream =
    dd === undefined || dd === false
      ? null
      : downstreamOf(
          dd === true ? {} : dd,
          DEFAULT_DOWNSTREAM_NAME,
          ["default-downstream"],
          loc.line(["default-downstream"]),
        );
  if (downstreams.length === 0 && defaultDownstream === null) {
    fail(
      loc.lastLine,
      "missing `downstream` (the downstream interfaces must be given, or `default-downstream: true`)",
    );
  }

  const disabled = raw.disabled ?? [];
  disabled.forEach((name, i) => {
    const line = loc.line(["disabled", i]);
    const up = upstreamLines.get(name);
    if (up !== undefined) fail(line, `disabled interface "${name}" is an upstream interface (line ${up})`);
    const down = seen.get(name);
    if (down !== undefined) fail(line, `disabled interface "${name}" is a downstream (line ${down})`);
    const twice = disabled.indexOf(name);
    if (twice < i)
      fail(line, `duplicate disabled interface "${name}" (first on line ${loc.line(["disabled", twice])})`);
  });

  checkVifLimit(upstreams, downstreams, fail);
  const maxUpstreamGroups =
    (raw["max-upstream-groups"] as number | undefined) ?? defaultOf<number>("maxUpstreamGroups");
  const overUpstream = staticUpstreamProblem(upstreams, downstreams, maxUpstreamGroups);
  if (overUpstream !== null) fail(overUpstream.line, overUpstream.reason);

  const globals = globalDefaults();
  for (const row of GLOBAL_SETTINGS) {
    if (raw[row.yaml] !== undefined) (globals as Record<string, unknown>)[row.key] = raw[row.yaml];
  }
  if (!globals.controlSocket.startsWith("/")) {
    fail(
      loc.line(["control-socket"]),
      `\`control-socket\` must be an absolute path, got ${JSON.stringify(globals.controlSocket)}`,
    );
  }

  const metrics = metricsListen(raw.metrics as string | boolean | undefined, loc.line(["metrics"]), fail);
  return {
    config: {
      file,
      format: "yaml",
      ...globals,
      metricsListen: metrics,
      http: httpSettings(raw.http as RawHttp | string | false | undefined, metrics, loc, fail),
      upstreams,
      downstreams,
      defaultDownstream,
      disabled: [...disabled],
      igmpEnabled: enabled.igmp,
      mldEnabled: enabled.mld,
    },
    warnings,
  };
}

/** `metrics`: "off" / false / absent -> null; true -> the default; else "HOST:PORT". */
function metricsListen(
  value: string | boolean | undefined,
  line: number,
  fail: (line: number, reason: string) => never,
): string | null {
  if (value === undefined || value === false || value === "off") return defaultOf<null>("metricsListen");
  if (value === true) return METRICS_LISTEN_WHEN_TRUE;
  if (listenHost(value) === null) {
    fail(
      line,
      `\`metrics\` must be "off" or "ADDRESS:PORT" (e.g. "127.0.0.1:9464", "[::1]:9464"), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The host of an "ADDRESS:PORT" / "[IPV6]:PORT" text (port 1 to 65535), or null when it is not one. */
function listenHost(value: string): string | null {
  const m = /^(\[([^\]]+)\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  const host = m?.[2] ?? m?.[1];
  const port = Number(m?.[3]);
  const hostOk =
    host !== undefined &&
    (m?.[2] !== undefined
      ? isIPv6(host)
      : isIPv4(host) || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host));
  return m && hostOk && port >= 1 && port <= 65535 ? host : null;
}

/** Loopback only: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIPv4(host) && host.startsWith("127."));
}

interface RawHttp {
  listen: string;
  "token-file"?: string;
}

/**
 * `http` (the web view): "off" / false / absent -> null; else where it listens, with its
 * token file. Not on loopback (its own address, or the metrics endpoint's) it needs a token.
 */
function httpSettings(
  value: RawHttp | string | false | undefined,
  metrics: string | null,
  loc: YamlLocator,
  fail: (line: number, reason: string) => never,
): HttpSettings | null {
  if (value === undefined || value === false || typeof value === "string") return defaultOf<null>("http");
  const listenLine = loc.line(["http", "listen"]);
  const tokenFile = value["token-file"] ?? null;
  if (tokenFile !== null && !tokenFile.startsWith("/")) {
    fail(
      loc.line(["http", "token-file"]),
      `\`http.token-file\` must be an absolute path, got ${JSON.stringify(tokenFile)}`,
    );
  }
  let address = value.listen;
  if (value.listen === HTTP_ON_METRICS) {
    if (metrics === null) {
      fail(listenLine, "`http.listen: metrics` serves the web view on the metrics endpoint, but `metrics` is off");
    }
    address = metrics;
  }
  const host = listenHost(address);
  if (host === null) {
    fail(
      listenLine,
      `\`http.listen\` must be "ADDRESS:PORT" (e.g. "127.0.0.1:9465", "[::1]:9465") or "metrics", got ${JSON.stringify(value.listen)}`,
    );
  }
  if (tokenFile === null && !isLoopbackHost(host)) {
    fail(
      listenLine,
      `the web view would listen on ${address}, which is not a loopback address, without a token: set \`http.token-file\` (a file holding the access token) or listen on 127.0.0.1 / [::1]`,
    );
  }
  return { listen: value.listen, tokenFile };
}
