/**
 * Interface selection for node:dgram: IPv4 wants one of the interface's addresses
 * (IP_MULTICAST_IF / ip_mreq), IPv6 wants the interface index, which libuv takes as the
 * scope of "::%ifname".
 */
import type { NetworkInterfaceInfo } from "node:os";
import { tryCanonicalAddress } from "../../wire/address.js";

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

/**
 * The interface that has address `address` (mcast_test.py's `-l`), compared in canonical
 * form, or a reason why there is none.
 */
export function interfaceWithAddress(
  table: InterfaceTable,
  address: string,
  family: 4 | 6,
): { ok: true; value: string } | { ok: false; reason: string } {
  const fam = family === 4 ? "ipv4" : "ipv6";
  const want = tryCanonicalAddress(address, fam);
  for (const [name, addrs] of Object.entries(table)) {
    for (const a of addrs ?? []) {
      if (a.family !== (family === 4 ? "IPv4" : "IPv6") || want === null) continue;
      if (tryCanonicalAddress(a.address, fam) === want) return { ok: true, value: name };
    }
  }
  return { ok: false, reason: `no local interface has the address ${address}` };
}

/** What `improxy mcast` joins on / sends from: the interface's name and its dgram argument. */
export interface ChosenInterface {
  name: string;
  /** IPv4: an address of the interface (-l's own when given); IPv6: "::%name". */
  arg: string;
}

/**
 * The interface of `--interface IF` and `-l ADDR`: IF, or the interface that has ADDR (both
 * given: ADDR must be IF's). Undefined when neither is given (the kernel's routing picks).
 */
export function chooseInterface(
  table: InterfaceTable,
  o: { family: 4 | 6; interface: string | undefined; local: string | undefined },
): { ok: true; value: ChosenInterface | undefined } | { ok: false; reason: string } {
  let name = o.interface;
  if (o.local !== undefined) {
    const owner = interfaceWithAddress(table, o.local, o.family);
    if (!owner.ok) return owner;
    if (name !== undefined && name !== owner.value) {
      return { ok: false, reason: `-l ${o.local} is an address of ${owner.value}, not of ${name}` };
    }
    name = owner.value;
  }
  if (name === undefined) return { ok: true, value: undefined };
  if (o.family === 4 && o.local !== undefined) return { ok: true, value: { name, arg: o.local } };
  const r = interfaceArgument(table, name, o.family);
  return r.ok ? { ok: true, value: { name, arg: r.value } } : r;
}
