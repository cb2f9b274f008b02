/**
 * Interface selection for node:dgram: IPv4 wants one of the interface's addresses
 * (IP_MULTICAST_IF / ip_mreq), IPv6 wants the interface index, which libuv takes as the
 * scope of "::%ifname".
 */
import type { NetworkInterfaceInfo } from "node:os";

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Returns the dgram interface argument for `ifname`, or a reason why there is none. */
export function interfaceArgument(
  table: InterfaceTable,
  ifname: string,
  family: 4 | 6,
): { ok: true; value: string } | { ok: false; reason: string } {
  const addrs = table[ifname];
  if (!addrs) return { ok: false, reason: `no interface named "${ifname}"` };
  if (family === 6) return { ok: true, value: `::%${ifname}` };
  const v4 = addrs.find((a) => a.family === "IPv4");
  if (!v4) return { ok: false, reason: `interface "${ifname}" has no IPv4 address` };
  return { ok: true, value: v4.address };
}
