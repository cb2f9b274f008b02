/**
 * Reading kernel sysctls through /proc/sys (docs/kernel.md "Upstream subscription").
 *
 * Used for the per-socket multicast limits that decide how the upstream membership is
 * spread over sockets (source-filters.ts): `net.ipv4.igmp_max_memberships`,
 * `net.ipv4.igmp_max_msf`, `net.ipv6.mld_max_msf`, `net.core.optmem_max`. Values are read
 * in the caller's network namespace (each namespace has its own copies).
 */
import { readFileSync } from "node:fs";

/** The sysctls the kernel layer cares about, with the kernel's defaults (Linux 6.x). */
export const SYSCTL_DEFAULTS = {
  "net.ipv4.igmp_max_memberships": 20,
  "net.ipv4.igmp_max_msf": 10,
  "net.ipv6.mld_max_msf": 64,
  "net.core.optmem_max": 131072,
} as const;

export type KnownSysctl = keyof typeof SYSCTL_DEFAULTS;

/** `net.ipv4.igmp_max_msf` -> `/proc/sys/net/ipv4/igmp_max_msf`. Dots inside names are not supported. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, "/")}`;
}

/** Reads a sysctl as text (trimmed), or null when it does not exist or cannot be read. */
export function readSysctl(key: string): string | null {
  return readTrimmed(sysctlPath(key));
}

/**
 * Reads an integer sysctl. Falls back to `fallback` (for the known limits: the kernel
 * default) when the file is missing or does not hold a non-negative integer.
 */
export function readSysctlInt(key: string, fallback: number): number {
  return integerOf(readSysctl(key)) ?? fallback;
}

/** Reads one of the known multicast limits, with the kernel default as fallback. */
export function readLimit(key: KnownSysctl): number {
  return readSysctlInt(key, SYSCTL_DEFAULTS[key]);
}

/**
 * Reads a per-interface integer sysctl (`net.ipv4.conf.IF.KEY`, `net.ipv6.conf.IF.KEY`),
 * or null. Built as a path, since interface names may hold dots (VLANs: eth0.100).
 */
export function readInterfaceSysctlInt(family: "ipv4" | "ipv6", ifname: string, key: string): number | null {
  if (ifname.includes("/") || ifname === "." || ifname === "..") return null;
  return integerOf(readTrimmed(`/proc/sys/net/${family}/conf/${ifname}/${key}`));
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

/** A non-negative integer's value, else null. */
function integerOf(text: string | null): number | null {
  return text !== null && /^\d+$/.test(text) ? Number.parseInt(text, 10) : null;
}
