/**
 * The daemon's view of the host's interfaces, kept current from rtnetlink (a dump at start,
 * then NEWLINK/DELLINK/NEWADDR/DELADDR events). Tracks every link, not only configured ones:
 * the addresses of all of them are "own addresses" (packets from them are our own).
 */
import type { AddrInfo, LinkEvent, LinkInfo } from "../kernel/rtnetlink.js";
import { IFF_LOOPBACK, IFF_MULTICAST } from "../kernel/structs/netlink.js";
import type { Address, IpFamily } from "../wire/types.js";

export interface InterfaceState {
  ifindex: number;
  name: string;
  up: boolean;
  /** The link's IFF_* flags (rtnetlink ifinfomsg.ifi_flags). */
  flags: number;
  addresses: AddrInfo[];
}

/** The flags whose change matters to the proxy (which interfaces default downstreams may be). */
const WATCHED_FLAGS = IFF_LOOPBACK | IFF_MULTICAST;

export class InterfaceTable {
  private readonly byIndex = new Map<number, InterfaceState>();

  /** Loads a full dump (replaces everything). */
  load(links: LinkInfo[], addresses: AddrInfo[]): void {
    this.byIndex.clear();
    for (const l of links)
      this.byIndex.set(l.ifindex, { ifindex: l.ifindex, name: l.name, up: l.up, flags: l.flags, addresses: [] });
    for (const a of addresses) this.byIndex.get(a.ifindex)?.addresses.push(a);
  }

  /**
   * Applies one event; returns the names whose state changed (a renamed link yields both
   * the old and the new name).
   */
  apply(ev: LinkEvent): string[] {
    switch (ev.type) {
      case "newlink": {
        const prev = this.byIndex.get(ev.link.ifindex);
        const next: InterfaceState = {
          ifindex: ev.link.ifindex,
          name: ev.link.name,
          up: ev.link.up,
          flags: ev.link.flags,
          addresses: prev?.addresses ?? [],
        };
        this.byIndex.set(ev.link.ifindex, next);
        if (!prev) return [next.name];
        if (prev.name !== next.name) return [prev.name, next.name];
        return prev.up !== next.up || (prev.flags & WATCHED_FLAGS) !== (next.flags & WATCHED_FLAGS) ? [next.name] : [];
      }
      case "dellink": {
        const prev = this.byIndex.get(ev.link.ifindex);
        this.byIndex.delete(ev.link.ifindex);
        return prev ? [prev.name] : [];
      }
      case "newaddr": {
        const st = this.byIndex.get(ev.addr.ifindex);
        if (!st) return [];
        const i = st.addresses.findIndex((a) => a.family === ev.addr.family && a.address === ev.addr.address);
        if (i >= 0) {
          const old = st.addresses[i]!;
          st.addresses[i] = ev.addr;
          return old.prefixLen !== ev.addr.prefixLen || old.tentative !== ev.addr.tentative ? [st.name] : [];
        }
        st.addresses.push(ev.addr);
        return [st.name];
      }
      case "deladdr": {
        const st = this.byIndex.get(ev.addr.ifindex);
        if (!st) return [];
        const before = st.addresses.length;
        st.addresses = st.addresses.filter((a) => !(a.family === ev.addr.family && a.address === ev.addr.address));
        return st.addresses.length !== before ? [st.name] : [];
      }
    }
  }

  get(name: string): InterfaceState | undefined {
    for (const st of this.byIndex.values()) if (st.name === name) return st;
    return undefined;
  }

  nameOf(ifindex: number): string | undefined {
    return this.byIndex.get(ifindex)?.name;
  }

  /** Names of every interface the host has. */
  names(): string[] {
    return [...this.byIndex.values()].map((st) => st.name);
  }

  /** Every address of every interface of a family: packets from these are our own. */
  ownAddresses(family: IpFamily): Set<Address> {
    const out = new Set<Address>();
    for (const st of this.byIndex.values()) for (const a of st.addresses) if (a.family === family) out.add(a.address);
    return out;
  }
}

/**
 * The address a family uses on an interface: IPv4 the first (primary) address; IPv6 the
 * link-local address (RFC 9777 §5: MLD messages are sent from link-local sources), not
 * while tentative (DAD).
 */
export function protocolAddress(st: InterfaceState | undefined, family: IpFamily): Address | null {
  if (!st) return null;
  for (const a of st.addresses) {
    if (a.family !== family || a.tentative) continue;
    if (family === "ipv4" || a.scope === "link") return a.address;
  }
  return null;
}

/** On-link prefixes of a family on an interface, as CIDR strings. */
export function subnets(st: InterfaceState | undefined, family: IpFamily): string[] {
  if (!st) return [];
  return st.addresses.filter((a) => a.family === family).map((a) => `${a.address}/${a.prefixLen}`);
}

/**
 * Whether an interface may be a default downstream (igmpproxy `defaultdown`: its
 * configureVifs takes every interface with an address that is not loopback): it can do
 * multicast and is not loopback. Its address is checked per family when it is attached.
 */
export function canBeDefaultDownstream(st: InterfaceState): boolean {
  return (st.flags & IFF_LOOPBACK) === 0 && (st.flags & IFF_MULTICAST) !== 0;
}
