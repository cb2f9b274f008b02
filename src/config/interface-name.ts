/**
 * Linux interface name rules (net/core/dev.c dev_valid_name): 1..15 bytes (IFNAMSIZ 16
 * including the NUL), not "." or "..", no '/', ':' or whitespace. We also require printable
 * ASCII, which every real-world name (eth0.1, br-lan, pppoe-wan, wlan0@phy) satisfies.
 */
export const IFNAME_MAX = 15;

/** Returns null when `name` is a valid interface name, else a one-line reason. */
export function checkInterfaceName(name: string): string | null {
  if (name.length === 0) return "interface name is empty";
  if (name.length > IFNAME_MAX) {
    return `interface name "${name}" is ${name.length} characters long, at most ${IFNAME_MAX} allowed`;
  }
  if (name === "." || name === "..") return `interface name "${name}" is not allowed`;
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c <= 0x20 || c >= 0x7f || ch === "/" || ch === ":") {
      return `interface name ${JSON.stringify(name)} contains an invalid character ${JSON.stringify(ch)}`;
    }
  }
  return null;
}
