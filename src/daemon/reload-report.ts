/**
 * What a reload changes (SIGHUP, `improxy reload`): a pure diff of the running and the new
 * configuration, in the terms the family proxies apply them (FamilyProxy.applyConfig): the
 * links of each family with their roles (router-config.ts familyLinks), the resolved
 * protocol settings of each link and family, the interface settings (down-to-up,
 * forward-when-not-querier, ttl-threshold, groups, sources), the default-downstream
 * template, and the global settings; plus the warnings: the file's own and the settings
 * that change only with a restart. Values are shown as check-config prints them.
 * docs/operations.md "Reload report".
 */
import { showValue } from "../config/format.js";
import { PROTOCOL_SETTINGS, SETTINGS, type Setting, type Value } from "../config/settings.js";
import type { ConfigWarning, ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../config/types.js";
import type { IpFamily } from "../wire/types.js";
import { type FamilyLinkConfig, familyLinks } from "./router-config.js";

/** A link a family gained or lost (a role change is both). */
export interface InterfaceChange {
  change: "added" | "removed";
  family: IpFamily;
  interface: string;
  role: "upstream" | "downstream";
}

/** One setting whose effective value changed; `interface` null: a global setting. */
export interface SettingChange {
  /** The interface, "default-downstream" for the template of default downstreams, null: global. */
  interface: string | null;
  /** The family of a protocol setting; null: the setting is not per family. */
  family: IpFamily | null;
  /** The YAML name. */
  setting: string;
  old: string;
  new: string;
}

export interface ReloadReport {
  file: string;
  interfaces: InterfaceChange[];
  settings: SettingChange[];
  /** The file's warnings (FILE:LINE: message) and the settings that change only with a restart. */
  warnings: string[];
}

/**
 * Global settings a running daemon cannot change, kept at their running value with a
 * warning: the multicast routing table is fixed at MRT_INIT (docs/kernel.md "Multicast
 * routing socket (IPv4)"), the control socket and metrics endpoint are open, the user taken.
 */
export const RESTART_ONLY = [
  "mrouteTable",
  "controlSocket",
  "metricsListen",
  "http",
  "user",
] as const satisfies readonly (keyof ImproxyConfig)[];

const FAMILIES: readonly IpFamily[] = ["ipv4", "ipv6"];
const PROTOCOL_OF = { ipv4: "igmp", ipv6: "mld" } as const;
/** The template's name in reports (its `name` in the config is "*"). */
export const DEFAULT_DOWNSTREAM = "default-downstream";

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const rowsOf = (...kinds: Setting["kind"][]) => SETTINGS.filter((r) => kinds.includes(r.kind));
const GLOBAL_ROWS = rowsOf("global").filter((r) => !(RESTART_ONLY as readonly string[]).includes(r.key));
const ROLE_ROWS = {
  upstream: rowsOf("interface", "upstream"),
  downstream: rowsOf("downstream", "interface"),
};

function rowChanges(
  rows: readonly Setting[],
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  where: Pick<SettingChange, "interface" | "family">,
): SettingChange[] {
  const out: SettingChange[] = [];
  for (const row of rows) {
    const x = a[row.key] as Value;
    const y = b[row.key] as Value;
    if (!same(x, y))
      out.push({ ...where, setting: row.yaml, old: showValue(row, x), new: showValue(row, y) });
  }
  return out;
}

/** The changes of one interface present in both configurations with the same role. */
function interfaceChanges(name: string, a: InterfaceConfig, b: InterfaceConfig): SettingChange[] {
  const own = (i: InterfaceConfig) => i as unknown as Record<string, unknown>;
  const out = rowChanges(ROLE_ROWS[a.role], own(a), own(b), { interface: name, family: null });
  for (const family of FAMILIES) {
    const x = a[PROTOCOL_OF[family]];
    const y = b[PROTOCOL_OF[family]];
    if (x === null || y === null) continue; // the family's link is added or removed instead
    const settings = (s: ProtocolSettings) => s as unknown as Record<string, unknown>;
    out.push(...rowChanges(PROTOCOL_SETTINGS, settings(x), settings(y), { interface: name, family }));
  }
  return out;
}

function linkChanges(family: IpFamily, a: Map<string, FamilyLinkConfig>, b: Map<string, FamilyLinkConfig>) {
  const out: InterfaceChange[] = [];
  const change = (c: InterfaceChange["change"], name: string, l: FamilyLinkConfig) =>
    out.push({ change: c, family, interface: name, role: l.cfg.role });
  for (const [name, l] of a) if (b.get(name)?.cfg.role !== l.cfg.role) change("removed", name, l);
  for (const [name, l] of b) if (a.get(name)?.cfg.role !== l.cfg.role) change("added", name, l);
  return out;
}

/** The report of replacing `running` with `next` (the file's `warnings` included). */
export function reloadReport(
  running: ImproxyConfig,
  next: ImproxyConfig,
  warnings: readonly ConfigWarning[] = [],
): ReloadReport {
  const interfaces = FAMILIES.flatMap((f) => linkChanges(f, familyLinks(running, f), familyLinks(next, f)));
  const global = (setting: string, old: string, now: string): SettingChange[] =>
    old === now ? [] : [{ interface: null, family: null, setting, old, new: now }];
  const onOff = (on: boolean) => (on ? "enabled" : "disabled");
  const settings: SettingChange[] = [
    ...global("igmp", onOff(running.igmpEnabled), onOff(next.igmpEnabled)),
    ...global("mld", onOff(running.mldEnabled), onOff(next.mldEnabled)),
    ...rowChanges(
      GLOBAL_ROWS,
      running as unknown as Record<string, unknown>,
      next as unknown as Record<string, unknown>,
      { interface: null, family: null },
    ),
    ...global("disabled", running.disabled.join(", ") || "(none)", next.disabled.join(", ") || "(none)"),
    ...global(
      "default-downstream",
      running.defaultDownstream ? "on" : "off",
      next.defaultDownstream ? "on" : "off",
    ),
  ];
  const all = (c: ImproxyConfig) => new Map([...c.upstreams, ...c.downstreams].map((i) => [i.name, i]));
  const after = all(next);
  for (const [name, a] of all(running)) {
    const b = after.get(name);
    if (b && b.role === a.role) settings.push(...interfaceChanges(name, a, b));
  }
  if (running.defaultDownstream && next.defaultDownstream) {
    settings.push(...interfaceChanges(DEFAULT_DOWNSTREAM, running.defaultDownstream, next.defaultDownstream));
  }
  const restart = RESTART_ONLY.flatMap((key) => {
    if (same(running[key], next[key])) return [];
    const row = SETTINGS.find((r) => r.key === key)!;
    const [a, b] = [showValue(row, running[key]), showValue(row, next[key])];
    return [`${row.yaml} changes only with a restart: running ${a}, file ${b}`];
  });
  return {
    file: next.file,
    interfaces,
    settings,
    warnings: [...warnings.map((w) => `${w.file}:${w.line}: ${w.message}`), ...restart],
  };
}

/** The report as lines: one per change and per warning; "no changes" when nothing changed. */
export function reloadReportLines(r: ReloadReport): string[] {
  const out = r.interfaces.map((i) => `${i.change} ${i.family} ${i.role} ${i.interface}`);
  for (const s of r.settings) {
    const what = s.family === null ? s.setting : `${PROTOCOL_OF[s.family]} ${s.setting}`;
    out.push(`${s.interface === null ? "" : `${s.interface}: `}${what} ${s.old} -> ${s.new}`);
  }
  if (out.length === 0) out.push("no changes");
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out;
}
