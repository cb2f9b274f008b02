/**
 * The effective config as text (for `improxy check-config`) and as JSON (`--json`). The
 * text prints every row of the settings table (settings.ts) under its YAML name.
 */
import { PROTOCOL_SETTINGS, PROTOCOLS, SETTINGS, type Setting, type Value } from "./settings.js";
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "./types.js";

/** A value as check-config prints it: lists joined, seconds with "s". */
export function showValue(row: Setting, v: Value): string {
  if (row.show) return row.show(v);
  if (Array.isArray(v)) return v.length === 0 ? "(none)" : v.join(", ");
  return `${String(v)}${row.unit ?? ""}`;
}

const GLOBAL_ROWS = SETTINGS.filter((r) => r.kind === "global");
const DOWNSTREAM_ROWS = SETTINGS.filter((r) => r.kind === "downstream" || r.kind === "interface");
const UPSTREAM_ROWS = SETTINGS.filter((r) => r.kind === "interface" || r.kind === "upstream");

function familyLines(label: string, s: ProtocolSettings | null): string[] {
  if (s === null) return [`    ${label}: disabled`];
  return [
    `    ${label}:`,
    ...PROTOCOL_SETTINGS.map((row) => `      ${row.yaml.padEnd(27)} ${showValue(row, s[row.key])}`),
  ];
}

function interfaceLines(i: InterfaceConfig, title = `${i.role} ${i.name}`): string[] {
  const own = i as unknown as Record<string, Value>;
  return [
    `  ${title}  (line ${i.line})`,
    ...(i.role === "downstream" ? DOWNSTREAM_ROWS : UPSTREAM_ROWS).map(
      (row) => `    ${row.yaml}: ${showValue(row, own[row.key]!)}`,
    ),
    ...familyLines("igmp", i.igmp),
    ...familyLines("mld", i.mld),
  ];
}

/** Every resolved value, one per line, grouped by interface. */
export function formatConfig(cfg: ImproxyConfig): string {
  const global = cfg as unknown as Record<string, Value>;
  return [
    `config ${cfg.file} (${cfg.format} format)`,
    // The family switches (the `enabled` row).
    ...PROTOCOLS.map((p) => `  ${p}: ${global[`${p}Enabled`] ? "enabled" : "disabled"}`),
    ...GLOBAL_ROWS.map((row) => `  ${row.yaml}: ${showValue(row, global[row.key]!)}`),
    `  disabled: ${cfg.disabled.length === 0 ? "(none)" : cfg.disabled.join(", ")}`,
    ...cfg.upstreams.flatMap((u) => interfaceLines(u)),
    ...cfg.downstreams.flatMap((d) => interfaceLines(d)),
    ...(cfg.defaultDownstream
      ? interfaceLines(cfg.defaultDownstream, "default-downstream (every other interface)")
      : ["  default-downstream: off"]),
    "",
  ].join("\n");
}

/** The config as pretty JSON (the ImproxyConfig object itself). */
export function configToJson(cfg: ImproxyConfig): string {
  return `${JSON.stringify(cfg, null, 2)}\n`;
}
