/**
 * A validated config written back as an equivalent, commented YAML file (`improxy
 * check-config --to yaml FILE`): parsing the output gives the same effective configuration
 * (every resolved value, every interface; only the file, format and line numbers differ).
 * Only what differs from what the YAML format would take anyway is written:
 *
 * - a family block (`igmp:` / `mld:`) holds the settings of the upstream's family (the
 *   top-level ones in YAML), and `fast-leave` when every downstream agrees on it;
 * - each downstream (and `default-downstream`) holds what differs from that block;
 * - interface settings (`down-to-up`, `ttl-threshold`, ...) go to the top level when every
 *   interface they apply to agrees, else to the interfaces;
 * - the conversion's warnings and the original lines are comments, and keys that came from
 *   an igmpproxy or IMProxy directive name it.
 */
import { isDeepStrictEqual } from "node:util";
import { parse as parseYaml } from "yaml";
import { defaultOf, type PartialSettings, resolveSettings } from "./defaults.js";
import {
  PROTOCOL_SETTINGS,
  PROTOCOLS,
  type Protocol,
  SETTINGS,
  type Setting,
  type Value,
} from "./settings.js";
import type { HttpSettings, ImproxyConfig, InterfaceConfig, ParsedConfig, ProtocolSettings } from "./types.js";

/** The directive each YAML key stands for, per source format (for comments). */
const ORIGIN: Record<ImproxyConfig["format"], Record<string, string>> = {
  igmpproxy: {
    sources: "altnet",
    groups: "whitelist / blacklist",
    "allow-groups": "whitelist",
    "deny-groups": "blacklist",
    "fast-leave": "quickleave",
    "ttl-threshold": "threshold",
    "default-downstream": "defaultdown",
    disabled: "phyint ... disabled",
    user: "user",
  },
  improxy: { "fast-leave": "quickleave", "down-to-up": "down_to_up" },
  yaml: {},
};

/** A key and its value, with an optional comment, in the order written. */
interface Entry {
  key: string;
  value: Value | Block;
  comment?: string;
}
type Block = Entry[];

const GLOBAL_ROWS = SETTINGS.filter((r) => r.kind === "global");
const DOWNSTREAM_ROWS = SETTINGS.filter((r) => r.kind === "downstream");
const INTERFACE_ROWS = SETTINGS.filter((r) => r.kind === "interface");
const UPSTREAM_ROWS = SETTINGS.filter((r) => r.kind === "upstream");

/** The YAML text of `parsed.config` (warnings become comments). */
export function configToYaml(parsed: ParsedConfig): string {
  const { config: c, warnings } = parsed;
  const origin = ORIGIN[c.format];
  const note = (key: string) => (origin[key] ? `${c.format} ${origin[key]}` : undefined);
  const top: Block = [];

  for (const row of GLOBAL_ROWS) {
    const v = (c as unknown as Record<string, Value>)[row.key]!;
    if (isDeepStrictEqual(v, defaultOf(row.key))) continue;
    const comment = note(row.yaml);
    top.push({ key: row.yaml, value: row.type === "http" ? httpBlock(v as HttpSettings) : v, ...(comment ? { comment } : {}) });
  }

  // Interface settings: at the top when every interface they apply to agrees.
  const downs = [...c.downstreams, ...(c.defaultDownstream ? [c.defaultDownstream] : [])];
  const topIface: Record<string, Value> = {};
  for (const row of [...DOWNSTREAM_ROWS, ...INTERFACE_ROWS]) {
    const holders = row.kind === "interface" ? [...c.upstreams, ...downs] : downs;
    const values = holders.map((i) => (i as unknown as Record<string, Value>)[row.key]!);
    const shared =
      values.length > 0 && values.every((v) => isDeepStrictEqual(v, values[0])) ? values[0]! : undefined;
    topIface[row.key] = shared ?? defaultOf(row.key);
    if (shared !== undefined && !isDeepStrictEqual(shared, defaultOf(row.key))) {
      const comment = note(row.yaml);
      top.push({ key: row.yaml, value: shared, ...(comment ? { comment } : {}) });
    }
  }

  // Family blocks: the upstream's settings (fast-leave: the downstreams', when they agree).
  const familyLayer: Partial<Record<Protocol, PartialSettings>> = {};
  for (const p of PROTOCOLS) {
    if (!c[`${p}Enabled`]) {
      const off: Entry = { key: "enabled", value: false };
      if (c.format === "igmpproxy") off.comment = "igmpproxy is IPv4-only";
      top.push({ key: p, value: [off] });
      continue;
    }
    // Every upstream has the top-level settings of the family (it is a host there).
    const target = { ...c.upstreams[0]![p]! };
    const fast = downs.map((d) => d[p]?.fastLeave).filter((v): v is boolean => v !== undefined);
    if (fast.length > 0 && fast.every((v) => v === fast[0])) target.fastLeave = fast[0]!;
    const { partial, block } = overrides(p, [], target, note);
    familyLayer[p] = partial;
    if (block.length > 0) top.push({ key: p, value: block });
  }

  /** The own settings of a downstream (or the default-downstream template). */
  const downstreamBlock = (d: InterfaceConfig): Block => {
    const out: Block = [];
    for (const row of [...DOWNSTREAM_ROWS, ...INTERFACE_ROWS]) {
      const v = (d as unknown as Record<string, Value>)[row.key]!;
      if (!isDeepStrictEqual(v, topIface[row.key])) out.push(entry(row, v, note));
    }
    for (const p of PROTOCOLS) {
      if (!c[`${p}Enabled`]) continue;
      const s = d[p];
      if (s === null) {
        out.push({ key: p, value: [{ key: "enabled", value: false }] });
        continue;
      }
      const { block } = overrides(p, [familyLayer[p]!], s, note);
      if (block.length > 0) out.push({ key: p, value: block });
    }
    return out;
  };

  /** The own settings of an upstream. */
  const upstreamBlock = (u: InterfaceConfig): Block => {
    const out: Block = [];
    for (const row of [...INTERFACE_ROWS, ...UPSTREAM_ROWS]) {
      const v = (u as unknown as Record<string, Value>)[row.key]!;
      const inherited = row.places.includes("global") ? topIface[row.key] : defaultOf(row.key);
      if (!isDeepStrictEqual(v, inherited)) out.push(entry(row, v, note));
    }
    return out;
  };
  const from = (i: InterfaceConfig) => `line ${i.line}`;
  /** An interface as a list item (`key` "-") or a value of `key`: its name, or a mapping with its settings. */
  const item = (key: string, i: InterfaceConfig, own: Block): Entry =>
    own.length === 0
      ? { key, value: i.name, comment: from(i) }
      : { key, value: [{ key: "name", value: i.name, comment: from(i) }, ...own] };
  const [first, ...more] = c.upstreams;
  top.push(
    more.length === 0
      ? item("upstream", first!, upstreamBlock(first!))
      : { key: "upstream", value: c.upstreams.map((u) => item("-", u, upstreamBlock(u))) },
  );
  if (c.downstreams.length > 0) {
    top.push({ key: "downstream", value: c.downstreams.map((d) => item("-", d, downstreamBlock(d))) });
  }
  if (c.defaultDownstream) {
    const own = downstreamBlock(c.defaultDownstream);
    const comment = [note("default-downstream"), from(c.defaultDownstream)].filter(Boolean).join(", ");
    top.push({ key: "default-downstream", value: own.length === 0 ? true : own, comment });
  }
  if (c.disabled.length > 0) {
    const comment = note("disabled");
    top.push({ key: "disabled", value: c.disabled, ...(comment ? { comment } : {}) });
  }

  const header = [
    "# improxy YAML config, converted by `improxy check-config --to yaml`",
    `# from ${c.file} (${c.format} format); "line N" comments name the original's lines.`,
    ...(warnings.length > 0
      ? ["# Notes from the conversion:", ...warnings.map((w) => `#   line ${w.line}: ${w.message}`)]
      : []),
    "",
  ];
  return `${[...header, ...render(top, 0)].join("\n")}\n`;
}

/**
 * The settings of `target` that resolving `layers` (plus what is written) would not give,
 * in table order: each derived default is compared after the settings it is derived from.
 */
function overrides(
  p: Protocol,
  layers: PartialSettings[],
  target: ProtocolSettings,
  note: (key: string) => string | undefined,
): { partial: PartialSettings; block: Block } {
  const partial: Record<string, unknown> = {};
  const block: Block = [];
  for (const row of PROTOCOL_SETTINGS) {
    const resolved = resolveSettings(p, [...layers, partial as PartialSettings]);
    const want = target[row.key];
    if (isDeepStrictEqual(resolved[row.key], want)) continue;
    partial[row.key] = want;
    block.push(entry(row, want as Value, note));
  }
  return { partial: partial as PartialSettings, block };
}

/** `http:` as a mapping: listen, and token-file when set. */
function httpBlock(h: HttpSettings): Block {
  return [
    { key: "listen", value: h.listen },
    ...(h.tokenFile === null ? [] : [{ key: "token-file", value: h.tokenFile }]),
  ];
}

function entry(row: Setting, value: Value, note: (key: string) => string | undefined): Entry {
  const comment = note(row.yaml);
  return { key: row.yaml, value, ...(comment ? { comment } : {}) };
}

/** A scalar as YAML: plain when it reads back as itself, else double-quoted (JSON). */
export function yamlScalar(v: Exclude<Value, readonly string[]>): string {
  if (v === null) return "null";
  if (typeof v !== "string") return String(v);
  if (/^[A-Za-z0-9_./-][A-Za-z0-9_./:@-]*$/.test(v)) {
    try {
      if (parseYaml(`k: ${v}`)?.k === v && parseYaml(`k: [${v}]`)?.k?.[0] === v) return v;
    } catch {
      /* not plain */
    }
  }
  return JSON.stringify(v);
}

function render(block: Block, depth: number): string[] {
  const pad = "  ".repeat(depth);
  const out: string[] = [];
  for (const e of block) {
    const tail = e.comment ? `  # ${e.comment}` : "";
    const head = e.key === "-" ? `${pad}- ` : `${pad}${e.key}:`;
    if (Array.isArray(e.value) && e.value.every((x) => typeof x === "string")) {
      // A list of names or prefixes: one flow line.
      out.push(
        `${head}${e.key === "-" ? "" : " "}[${(e.value as string[]).map(yamlScalar).join(", ")}]${tail}`,
      );
    } else if (Array.isArray(e.value)) {
      const inner = e.value as Block;
      if (e.key === "downstream" || (e.key === "upstream" && inner.every((x) => x.key === "-"))) {
        out.push(`${head}${tail}`);
        for (const item of inner) {
          if (Array.isArray(item.value)) {
            const lines = render(item.value as Block, depth + 2);
            out.push(`${pad}  - ${lines[0]!.trimStart()}`, ...lines.slice(1));
          } else
            out.push(
              `${pad}  - ${yamlScalar(item.value as string)}${item.comment ? `  # ${item.comment}` : ""}`,
            );
        }
      } else {
        out.push(`${head}${tail}`, ...render(inner, depth + 1));
      }
    } else {
      out.push(`${head} ${yamlScalar(e.value as Exclude<Value, readonly string[]>)}${tail}`);
    }
  }
  return out;
}
