/**
 * The kernel's forwarding plane of one family, on the mroute socket: the VIF (IPv4) / MIF
 * (IPv6) table and the multicast forwarding cache (MFC). Callers speak in link names; the
 * link-name-to-VIF translation lives here and nowhere else. Kernel facts: docs/kernel.md
 * "Multicast routing socket (IPv4)" and "Multicast routing socket (IPv6)".
 *
 * Decisions:
 *  - `addVif(name, ifindex)` is idempotent for the same name and ifindex and takes the
 *    lowest free index otherwise. The kernel would accept a second VIF for the same
 *    interface (VIFF_USE_IFINDEX); that is never wanted, so another name for an ifindex
 *    that has a VIF (or another ifindex for a name that has one) is refused.
 *  - No shadow copy of the MFC is kept. MRT_ADD_MFC / MRT6_ADD_MFC replace the entry of
 *    (S,G) whatever its previous parent, and MRT_DEL_MFC / MRT6_DEL_MFC delete it whatever
 *    its parent: on the setsockopt path the kernel looks entries up with parent -1 ("any")
 *    and ignores the `mfcc_parent` / `mf6cc_parent` passed. The forwarding planner
 *    (src/proxy) is the one record of what is wanted; the kernel's own view is
 *    /proc/net/ip_mr_cache and /proc/net/ip6_mr_cache.
 *  - Each VIF / MIF has a TTL threshold (default 1, igmpproxy's `threshold`), given to the
 *    kernel in vifctl / mif6ctl. Linux records the VIF's but forwards by the TTLs of the MFC
 *    entry (ip_mr_forward: a packet leaves VIF v when its TTL exceeds mfcc_ttls[v]), so IPv4
 *    entries carry each outgoing VIF's threshold there, as igmpproxy does; IPv6 entries
 *    have no TTLs (mf6cctl holds an interface set). The parent is never listed as an
 *    outgoing interface.
 *  - Closing the mroute socket (MRT_DONE) makes the kernel remove the VIFs and MFC entries
 *    the socket added; `clear()` removes the VIFs explicitly first (shutdown).
 */
import type { Address } from "../wire/types.js";
import { KernelError, kernelCall } from "./errors.js";
import { type MrouteFd, openFd } from "./mroute-socket.js";
import {
  IPPROTO_IP,
  IPPROTO_IPV6,
  MAXVIFS,
  MRT_ADD_MFC,
  MRT_ADD_VIF,
  MRT_DEL_MFC,
  MRT_DEL_VIF,
  MRT6_ADD_MFC,
  MRT6_ADD_MIF,
  MRT6_DEL_MFC,
  MRT6_DEL_MIF,
  packMf6cctl,
  packMfcctl,
  packMif6ctl,
  packMifi,
  packSiocSgReq,
  packSiocSgReq6,
  packSiocVifReq,
  packVifctl,
  parseSiocSgReq,
  parseSiocSgReq6,
  parseSiocVifReq,
  type SgCounters,
  SIOC_SG_REQ_SIZE,
  SIOC_SG_REQ6_SIZE,
  SIOC_VIF_REQ_SIZE,
  SIOCGETSGCNT,
  SIOCGETVIFCNT,
  type VifCounters,
} from "./structs/mroute.js";

export interface VifEntry {
  /** Link (interface) name the VIF / MIF was added for. */
  name: string;
  vif: number;
  ifindex: number;
  /** TTL threshold (1..255): packets leave through it only with a greater TTL (IPv4). */
  threshold: number;
}

export class MrouteTable {
  private readonly byName = new Map<string, VifEntry>();

  constructor(private readonly sock: MrouteFd) {}

  private get v4(): boolean {
    return this.sock.family === "ipv4";
  }

  private get vifWord(): string {
    return this.v4 ? "VIF" : "MIF";
  }

  // ------------------------------------------------------------ VIFs / MIFs

  /**
   * Adds a VIF (IPv4) / MIF (IPv6) for link `name` on `ifindex` with TTL `threshold` and
   * returns its index (0..31), the lowest free one. The same name, ifindex and threshold
   * again return the existing index.
   */
  addVif(name: string, ifindex: number, threshold = 1): number {
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255)
      throw new RangeError(`TTL threshold out of range: ${threshold}`);
    const existing = this.byName.get(name);
    if (existing !== undefined && existing.ifindex === ifindex && existing.threshold === threshold)
      return existing.vif;
    const operation = `adding a multicast ${this.vifWord} for ${name} (ifindex ${ifindex})`;
    if (existing !== undefined) {
      throw new KernelError(
        `${operation}: ${name} already has ${this.vifWord} ${existing.vif} on ifindex ${existing.ifindex}`,
        { code: "EEXIST", operation },
      );
    }
    const holder = [...this.byName.values()].find((e) => e.ifindex === ifindex);
    if (holder !== undefined) {
      throw new KernelError(
        `${operation}: ifindex ${ifindex} already has ${this.vifWord} ${holder.vif} for ${holder.name}`,
        { code: "EEXIST", operation },
      );
    }
    const fd = openFd(this.sock, operation);
    const used = new Set([...this.byName.values()].map((e) => e.vif));
    let vif = 0;
    while (used.has(vif)) vif++;
    if (vif >= MAXVIFS) {
      throw new KernelError(
        `${operation}: the kernel allows at most ${MAXVIFS} ${this.vifWord}s per multicast routing table, all in use`,
        { code: "ENFILE", operation },
      );
    }
    if (!this.v4 && ifindex > 0xffff) {
      throw new KernelError(`${operation}: the kernel's mif6ctl holds ifindexes up to 65535 only`, {
        code: "ERANGE",
        operation,
      });
    }
    const explain = (code: string): string | undefined => {
      if (code === "ENFILE") {
        return `${operation}: the kernel allows at most ${MAXVIFS} ${this.vifWord}s per multicast routing table (ENFILE)`;
      }
      if (code === "EADDRNOTAVAIL" || code === "ENODEV") {
        return `${operation}: no such interface, or it cannot do multicast (${code})`;
      }
      if (code === "EADDRINUSE")
        return `${operation}: ${this.vifWord} ${vif} is already in use in the kernel (EADDRINUSE)`;
      return undefined;
    };
    const sys = this.sock.syscalls;
    if (this.v4) {
      kernelCall(
        operation,
        () => sys.setsockopt(fd, IPPROTO_IP, MRT_ADD_VIF, packVifctl(vif, ifindex, threshold)),
        explain,
      );
    } else {
      kernelCall(
        operation,
        () => sys.setsockopt(fd, IPPROTO_IPV6, MRT6_ADD_MIF, packMif6ctl(vif, ifindex, threshold)),
        explain,
      );
    }
    this.byName.set(name, { name, vif, ifindex, threshold });
    return vif;
  }

  /**
   * Deletes the VIF/MIF of link `name` (no-op if there is none). A VIF the kernel already
   * removed because its link vanished (EADDRNOTAVAIL) is tolerated. MFC entries that used
   * it keep their other VIFs; callers re-plan their forwarding.
   */
  delVif(name: string): void {
    const entry = this.byName.get(name);
    if (entry === undefined) return;
    const { vif, ifindex } = entry;
    const operation = `removing multicast ${this.vifWord} ${vif} of ${name} (ifindex ${ifindex})`;
    const fd = openFd(this.sock, operation);
    this.byName.delete(name);
    const sys = this.sock.syscalls;
    try {
      if (this.v4) sys.setsockopt(fd, IPPROTO_IP, MRT_DEL_VIF, packVifctl(vif, ifindex));
      else sys.setsockopt(fd, IPPROTO_IPV6, MRT6_DEL_MIF, packMifi(vif));
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code !== "EADDRNOTAVAIL" && e.code !== "ENODEV") throw e;
    }
  }

  /** The VIF / MIF of link `name`, or null. */
  vifOf(name: string): number | null {
    return this.byName.get(name)?.vif ?? null;
  }

  /** The link a VIF / MIF index belongs to (upcalls name VIFs), or null. */
  linkOfVif(vif: number): string | null {
    for (const e of this.byName.values()) if (e.vif === vif) return e.name;
    return null;
  }

  /** Every VIF / MIF this table added, by index. */
  vifs(): VifEntry[] {
    return [...this.byName.values()].map((e) => ({ ...e })).sort((a, b) => a.vif - b.vif);
  }

  /**
   * Deletes every VIF / MIF this table added (shutdown, before the socket's MRT_DONE).
   * Every one is attempted; the first error is thrown afterwards.
   */
  clear(): void {
    let first: unknown;
    for (const { name } of this.vifs()) {
      try {
        this.delVif(name);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  // -------------------------------------------------------------------- MFC

  /**
   * Adds or replaces the MFC entry (S,G): traffic from `source` to `group` arriving on link
   * `iif` is forwarded to the links `oifs`. Links without a VIF are skipped, and so is the
   * incoming link. An empty outgoing set installs a "drop" entry, which also stops further
   * NOCACHE upcalls. Returns false, installing nothing, when `iif` has no VIF.
   */
  setRoute(source: Address, group: Address, iif: string, oifs: Iterable<string>): boolean {
    const parent = this.vifOf(iif);
    if (parent === null) return false;
    const operation = `setting forwarding entry (${source}, ${group})`;
    const fd = openFd(this.sock, operation);
    const out = new Set<number>();
    for (const name of oifs) {
      const vif = this.vifOf(name);
      if (vif !== null && vif !== parent) out.add(vif);
    }
    const outVifs = [...out].sort((a, b) => a - b);
    const explain = (code: string): string | undefined =>
      code === "ENFILE" || code === "EINVAL"
        ? `${operation}: the kernel rejected it (${code}); is ${this.vifWord} ${parent} (parent) or one of ${outVifs.join(",")} not configured?`
        : undefined;
    const sys = this.sock.syscalls;
    if (this.v4) {
      const thresholds = new Map([...this.byName.values()].map((e) => [e.vif, e.threshold]));
      const req = packMfcctl(source, group, parent, outVifs, (vif) => thresholds.get(vif) ?? 1);
      kernelCall(operation, () => sys.setsockopt(fd, IPPROTO_IP, MRT_ADD_MFC, req), explain);
    } else {
      const req = packMf6cctl(source, group, parent, outVifs);
      kernelCall(operation, () => sys.setsockopt(fd, IPPROTO_IPV6, MRT6_ADD_MFC, req), explain);
    }
    return true;
  }

  /**
   * Deletes the MFC entry (S,G), whatever its parent (module comment: the parent 0 passed is
   * ignored); an entry the kernel does not have (ENOENT) is tolerated.
   */
  delRoute(source: Address, group: Address): void {
    const operation = `deleting forwarding entry (${source}, ${group})`;
    const fd = openFd(this.sock, operation);
    const sys = this.sock.syscalls;
    try {
      if (this.v4) sys.setsockopt(fd, IPPROTO_IP, MRT_DEL_MFC, packMfcctl(source, group, 0, []));
      else sys.setsockopt(fd, IPPROTO_IPV6, MRT6_DEL_MFC, packMf6cctl(source, group, 0, []));
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code !== "ENOENT") throw e;
    }
  }

  // -------------------------------------------------------------- counters

  /** Packet/byte/wrong-interface counters of (S,G) (SIOCGETSGCNT); null if no such entry. */
  routeCounters(source: Address, group: Address): SgCounters | null {
    const operation = `reading counters of (${source}, ${group})`;
    const fd = openFd(this.sock, operation);
    const req = this.v4 ? packSiocSgReq(source, group) : packSiocSgReq6(source, group);
    try {
      this.sock.syscalls.ioctl(fd, SIOCGETSGCNT, req, this.v4 ? SIOC_SG_REQ_SIZE : SIOC_SG_REQ6_SIZE);
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code === "EADDRNOTAVAIL" || e.code === "ENOENT") return null;
      throw e;
    }
    return this.v4 ? parseSiocSgReq(req) : parseSiocSgReq6(req);
  }

  /**
   * Packet/byte counters of link `name`'s VIF / MIF (SIOCGETVIFCNT; SIOCGETMIFCNT_IN6 has
   * the same number and layout); null if the link has no VIF or the kernel has none.
   */
  vifCounters(name: string): VifCounters | null {
    const entry = this.byName.get(name);
    if (entry === undefined) return null;
    const operation = `reading counters of ${this.vifWord} ${entry.vif} (${name})`;
    const fd = openFd(this.sock, operation);
    const req = packSiocVifReq(entry.vif);
    try {
      this.sock.syscalls.ioctl(fd, SIOCGETVIFCNT, req, SIOC_VIF_REQ_SIZE);
    } catch (err) {
      const e = KernelError.from(err, operation);
      if (e.code === "EADDRNOTAVAIL" || e.code === "ENOENT" || e.code === "EINVAL") return null;
      throw e;
    }
    return parseSiocVifReq(req);
  }
}
