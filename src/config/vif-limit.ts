/**
 * The kernel's limit on interfaces per family: a multicast routing table holds at most
 * MAXVIFS = 32 VIFs (IPv4) and MAXMIFS = 32 MIFs (IPv6), the upstreams' included
 * (docs/kernel.md "Multicast routing socket (IPv4)", MRT_ADD_VIF). A config that needs more can never run in
 * full, so every format rejects it at the first interface too many. The kernel layer has
 * its own copy of the number (it refuses a 33rd VIF); config does not import kernel.
 */
import type { Protocol } from "./defaults.js";
import type { InterfaceConfig } from "./types.js";

/** VIFs (MIFs) per multicast routing table and family, the upstreams' included. */
export const MAX_VIFS_PER_FAMILY = 32;

/**
 * Fails at the line of the first interface that would need VIF number 33 of a family
 * (the upstreams first, then the downstreams; only interfaces on which the family is
 * enabled count).
 */
export function checkVifLimit(
  upstreams: readonly InterfaceConfig[],
  downstreams: readonly InterfaceConfig[],
  fail: (line: number, reason: string) => never,
): void {
  for (const protocol of ["igmp", "mld"] as const satisfies readonly Protocol[]) {
    const name = protocol === "igmp" ? "IGMP" : "MLD";
    const vif = protocol === "igmp" ? "VIFs (MAXVIFS)" : "MIFs (MAXMIFS)";
    const limit = `the kernel allows ${MAX_VIFS_PER_FAMILY} ${vif} per multicast routing table`;
    const ups = upstreams.filter((u) => u[protocol] !== null);
    const over = ups[MAX_VIFS_PER_FAMILY];
    if (over !== undefined) fail(over.line, `too many ${name} upstreams: "${over.name}" is the ${ordinal(MAX_VIFS_PER_FAMILY + 1)}; ${limit}`);
    let used = ups.length;
    let downs = 0;
    for (const d of downstreams) {
      if (d[protocol] === null) continue;
      used++;
      downs++;
      if (used > MAX_VIFS_PER_FAMILY) {
        const most = MAX_VIFS_PER_FAMILY - ups.length;
        const upstreamsIncluded = ups.length === 1 ? "the upstream included" : `the ${ups.length} upstreams included`;
        fail(
          d.line,
          `too many ${name} interfaces: downstream "${d.name}" is the ${ordinal(downs)}; ` +
            `${limit}, ${upstreamsIncluded}, so at most ${most} downstreams`,
        );
      }
    }
  }
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}
