/** The effective config as text (for `improxy check-config`) and as JSON (`--json`). */
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "./types.js";

const SETTING_LABELS: [keyof ProtocolSettings, string, string][] = [
  ["version", "version", ""],
  ["robustnessVariable", "robustness-variable", ""],
  ["queryInterval", "query-interval", "s"],
  ["queryMaxResponseTime", "query-max-response-time", "s"],
  ["lastMemberQueryInterval", "last-member-query-interval", "s"],
  ["startupQueryInterval", "startup-query-interval", "s"],
  ["startupQueryCount", "startup-query-count", ""],
  ["fastLeave", "fast-leave", ""],
  ["maxGroups", "max-groups", ""],
  ["maxSourcesPerGroup", "max-sources-per-group", ""],
  ["ssmRanges", "ssm-ranges", ""],
  ["ignoreGroups", "ignore-groups", ""],
];

function value(v: ProtocolSettings[keyof ProtocolSettings], unit: string): string {
  if (Array.isArray(v)) return v.length === 0 ? "(none)" : v.join(", ");
  return `${String(v)}${unit}`;
}

function familyLines(label: string, s: ProtocolSettings | null): string[] {
  if (s === null) return [`    ${label}: disabled`];
  return [
    `    ${label}:`,
    ...SETTING_LABELS.map(([k, name, unit]) => `      ${name.padEnd(27)} ${value(s[k], unit)}`),
  ];
}

function interfaceLines(i: InterfaceConfig): string[] {
  return [
    `  ${i.role} ${i.name}  (line ${i.line})`,
    ...(i.role === "downstream"
      ? [`    down-to-up: ${i.downToUp}`, `    forward-when-not-querier: ${i.forwardWhenNotQuerier}`]
      : []),
    ...familyLines("igmp", i.igmp),
    ...familyLines("mld", i.mld),
  ];
}

/** Every resolved value, one per line, grouped by interface. */
export function formatConfig(cfg: ImproxyConfig): string {
  return [
    `config ${cfg.file} (${cfg.format} format)`,
    `  igmp: ${cfg.igmpEnabled ? "enabled" : "disabled"}`,
    `  mld: ${cfg.mldEnabled ? "enabled" : "disabled"}`,
    `  mroute-table: ${cfg.mrouteTable === null ? "kernel default" : cfg.mrouteTable}`,
    `  control-socket: ${cfg.controlSocket}`,
    `  metrics: ${cfg.metricsListen ?? "off"}`,
    `  forwarding-idle-check: ${cfg.forwardingIdleCheck}s`,
    ...interfaceLines(cfg.upstream),
    ...cfg.downstreams.flatMap(interfaceLines),
    "",
  ].join("\n");
}

/** The config as pretty JSON (the ImproxyConfig object itself). */
export function configToJson(cfg: ImproxyConfig): string {
  return `${JSON.stringify(cfg, null, 2)}\n`;
}
