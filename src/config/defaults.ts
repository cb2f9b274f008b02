/**
 * Defaults and layering, read from the settings table (settings.ts): a family's settings
 * resolved from the layers a config states, and the defaults of the global settings.
 */
import {
  forProtocol,
  type GlobalSettingKey,
  type InterfaceSettingKey,
  isDerived,
  PROTOCOL_SETTINGS,
  type Protocol,
  SETTINGS,
  type SettingKey,
  setting,
  type Value,
} from "./settings.js";
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "./types.js";

export type { Protocol } from "./settings.js";

/** Settings a config may state; anything left undefined takes the default. */
export type PartialSettings = { -readonly [K in keyof ProtocolSettings]?: ProtocolSettings[K] };

/** Copies lists so a resolved config never shares an array with the table. */
function copy<T extends Value>(v: T): T {
  return (Array.isArray(v) ? [...v] : v) as T;
}

/** `stated` added to the default list `base` (a row with addsToDefault): base first, no repeats. */
function withDefault(base: Value, stated: Value): Value {
  const out = [...(base as readonly string[])];
  for (const v of stated as readonly string[]) if (!out.includes(v)) out.push(v);
  return out;
}

/**
 * Resolves a family's settings from layers, lowest precedence first: the most specific
 * stated value wins, else the table's default; for a row whose default is always part of
 * the value (addsToDefault: ignore-groups), the most specific stated list is added to the
 * default. A derived default (startup-query-interval = query-interval / 4,
 * startup-query-count = robustness-variable; RFC 9776 §8.6/§8.7) is computed from the
 * resolved values, not from the defaults.
 */
export function resolveSettings(protocol: Protocol, layers: readonly PartialSettings[]): ProtocolSettings {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v;
  }
  const resolved: Record<string, unknown> = {};
  for (const row of PROTOCOL_SETTINGS) {
    const stated = merged[row.key];
    resolved[row.key] =
      stated !== undefined
        ? row.addsToDefault && !isDerived(row.default)
          ? withDefault(forProtocol(row.default, protocol), stated as Value)
          : copy(stated as Value)
        : isDerived(row.default)
          ? row.default.derive(resolved as unknown as ProtocolSettings)
          : copy(forProtocol(row.default, protocol));
  }
  return resolved as unknown as ProtocolSettings;
}

/** The default of a setting that is the same for both families (global and downstream ones). */
export function defaultOf<T extends Value>(key: SettingKey): T {
  const d = setting(key).default;
  if (isDerived(d)) throw new Error(`${key} has a derived default`);
  return forProtocol(d, "igmp") as T;
}

/** The control socket path when the config names none (also used by the CLI). */
export const DEFAULT_CONTROL_SOCKET = defaultOf<string>("controlSocket");

/** Every global setting (rows of kind "global") at its default, by field. */
export function globalDefaults(): Pick<ImproxyConfig, GlobalSettingKey> {
  const out: Record<string, Value> = {};
  for (const row of SETTINGS) if (row.kind === "global") out[row.key] = copy(defaultOf(row.key));
  return out as unknown as Pick<ImproxyConfig, GlobalSettingKey>;
}

/** Every interface setting (kinds "downstream", "interface", "upstream") at its default. */
export function interfaceDefaults(): Pick<InterfaceConfig, InterfaceSettingKey> {
  const out: Record<string, Value> = {};
  for (const row of SETTINGS) {
    if (row.kind === "downstream" || row.kind === "interface" || row.kind === "upstream")
      out[row.key] = copy(defaultOf(row.key));
  }
  return out as unknown as Pick<InterfaceConfig, InterfaceSettingKey>;
}

/** The name the default-downstream template carries (never a valid interface name to match). */
export const DEFAULT_DOWNSTREAM_NAME = "*";
