/**
 * The C IMProxy's line-oriented config format (docs/improxy-compat.md "Config file"), parsed strictly:
 * every problem is a ConfigError naming the file and the 1-based line.
 *
 *   igmp enable [version 1|2|3] | igmp disable     (no igmp line: IGMP disabled)
 *   mld enable [version 1|2]    | mld disable      (no mld line: MLD disabled)
 *   upstream IF                                    (exactly one)
 *   downstream IF                                  (one or more)
 *   quickleave enable|disable                      (fast-leave on every downstream)
 *   down_to_up enable|disable                      (down-to-up on every downstream)
 *
 * Tokens are split on spaces and tabs; keywords are case-sensitive; a token starting with
 * `#` starts a comment running to the end of the line (so `# ...` lines are comments);
 * blank lines are ignored. Everything else takes the defaults of the settings table.
 *
 * Whole-file problems (no upstream, no downstream, both families disabled) are reported at
 * the last line of the file (1 for an empty file), where the reader noticed them.
 */
import { globalDefaults, interfaceDefaults, type Protocol, resolveSettings } from "./defaults.js";
import { checkInterfaceName } from "./interface-name.js";
import { forProtocol, setting } from "./settings.js";
import { ConfigError, type ImproxyConfig, type InterfaceConfig } from "./types.js";
import { checkVifLimit } from "./vif-limit.js";

const KEYWORDS = ["igmp", "mld", "upstream", "downstream", "quickleave", "down_to_up"] as const;
type Keyword = (typeof KEYWORDS)[number];

interface FamilyLine {
  enabled: boolean;
  version: number | undefined;
  line: number;
}

/** Parses IMProxy-format text. `file` is used in errors and stored in the result as given. */
export function parseImproxyConfig(text: string, file: string): ImproxyConfig {
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const lastLine = Math.max(1, lines.length);
  const fail: (line: number, reason: string) => never = (line, reason) => {
    throw new ConfigError(file, line, reason);
  };

  const protocols: Partial<Record<Protocol, FamilyLine>> = {};
  const switches: Partial<Record<"quickleave" | "down_to_up", { value: boolean; line: number }>> = {};
  let upstream: { name: string; line: number } | undefined;
  const downstreams: { name: string; line: number }[] = [];

  lines.forEach((raw, index) => {
    const line = index + 1;
    const all = raw
      .replace(/\r$/, "")
      .split(/[ \t]+/)
      .filter((t) => t.length > 0);
    const hash = all.findIndex((t) => t.startsWith("#"));
    const tokens = hash < 0 ? all : all.slice(0, hash);
    const [keyword, ...args] = tokens;
    if (keyword === undefined) return;
    if (!(KEYWORDS as readonly string[]).includes(keyword)) {
      fail(line, `unknown keyword "${keyword}" (expected one of: ${KEYWORDS.join(", ")})`);
    }
    const extra = (n: number, what: string) => {
      if (args.length > n) fail(line, `unexpected "${args[n]}" after ${what}`);
    };
    switch (keyword as Keyword) {
      case "igmp":
      case "mld": {
        const protocol = keyword as Protocol;
        const prev = protocols[protocol];
        if (prev) fail(line, `second "${protocol}" line (first on line ${prev.line})`);
        const allowed = (forProtocol(setting("version").range ?? {}, protocol).enum ?? []).map(String);
        const versions = `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`;
        const usage = `"${protocol} enable [version ${versions.replace(/, | or /g, "|")}]" or "${protocol} disable"`;
        const [action, vWord, vValue] = args;
        if (action === "disable") {
          extra(1, `"${protocol} disable"`);
          protocols[protocol] = { enabled: false, version: undefined, line };
        } else if (action === "enable") {
          let version: number | undefined;
          if (vWord !== undefined) {
            if (vWord !== "version") fail(line, `bad value "${vWord}" for ${protocol}: expected ${usage}`);
            if (vValue === undefined)
              fail(line, `missing value after "${protocol} enable version" (allowed: ${versions})`);
            if (!allowed.includes(vValue!)) {
              fail(line, `bad value "${vValue}" for ${protocol} version (allowed: ${versions})`);
            }
            version = Number(vValue);
            extra(3, `"${protocol} enable version ${vValue}"`);
          }
          protocols[protocol] = { enabled: true, version, line };
        } else if (action === undefined) {
          fail(line, `missing value for ${protocol}: expected ${usage}`);
        } else {
          fail(line, `bad value "${action}" for ${protocol}: expected ${usage}`);
        }
        break;
      }
      case "upstream":
      case "downstream": {
        const [name] = args;
        if (name === undefined) fail(line, `missing interface name after "${keyword}"`);
        extra(1, `the ${keyword} interface name`);
        const bad = checkInterfaceName(name!);
        if (bad) fail(line, bad);
        if (keyword === "upstream") {
          if (upstream)
            fail(
              line,
              `second upstream "${name}" (upstream "${upstream.name}" already set on line ${upstream.line}; exactly one allowed)`,
            );
          const asDown = downstreams.find((d) => d.name === name);
          if (asDown) fail(line, `upstream "${name}" is also a downstream (line ${asDown.line})`);
          upstream = { name: name!, line };
        } else {
          if (upstream?.name === name)
            fail(line, `downstream "${name}" is the upstream interface (line ${upstream!.line})`);
          const dup = downstreams.find((d) => d.name === name);
          if (dup) fail(line, `duplicate downstream "${name}" (first on line ${dup.line})`);
          downstreams.push({ name: name!, line });
        }
        break;
      }
      case "quickleave":
      case "down_to_up": {
        const k = keyword as "quickleave" | "down_to_up";
        const prev = switches[k];
        if (prev) fail(line, `second "${k}" line (first on line ${prev.line})`);
        const [value] = args;
        if (value !== "enable" && value !== "disable") {
          fail(
            line,
            value === undefined
              ? `missing value for ${k}: expected enable or disable`
              : `bad value "${value}" for ${k}: expected enable or disable`,
          );
        }
        extra(1, `"${k} ${value}"`);
        switches[k] = { value: value === "enable", line };
        break;
      }
    }
  });

  if (!upstream) fail(lastLine, 'no "upstream" line: exactly one upstream interface is required');
  if (downstreams.length === 0)
    fail(lastLine, 'no "downstream" line: at least one downstream interface is required');
  const igmpEnabled = protocols.igmp?.enabled ?? false;
  const mldEnabled = protocols.mld?.enabled ?? false;
  if (!igmpEnabled && !mldEnabled) {
    const at = Math.max(protocols.igmp?.line ?? 0, protocols.mld?.line ?? 0) || lastLine;
    fail(at, 'both IGMP and MLD are disabled, nothing to proxy (add "igmp enable" and/or "mld enable")');
  }
  const fastLeave = switches.quickleave?.value ?? false;
  const downToUp = switches.down_to_up?.value ?? false;
  const settings = (protocol: Protocol, enabled: boolean, withFastLeave: boolean) => {
    const version = protocols[protocol]?.version;
    return enabled ? resolveSettings(protocol, [{ version, fastLeave: withFastLeave }]) : null;
  };
  const iface = (name: string, line: number, role: InterfaceConfig["role"]): InterfaceConfig => {
    const down = role === "downstream";
    return {
      name,
      role,
      igmp: settings("igmp", igmpEnabled, down && fastLeave),
      mld: settings("mld", mldEnabled, down && fastLeave),
      ...interfaceDefaults(),
      downToUp: down && downToUp,
      line,
    };
  };
  const up = iface(upstream!.name, upstream!.line, "upstream");
  const downs = downstreams.map((d) => iface(d.name, d.line, "downstream"));
  checkVifLimit([up], downs, fail);
  return {
    file,
    format: "improxy",
    ...globalDefaults(),
    upstreams: [up],
    downstreams: downs,
    defaultDownstream: null,
    disabled: [],
    igmpEnabled,
    mldEnabled,
  };
}
