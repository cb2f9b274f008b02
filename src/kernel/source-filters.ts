/**
 * Upstream membership: the host part of an IGMP/MLD proxy (RFC 4605 §4.1); the kernel facts
 * are in docs/kernel.md "Upstream subscription".
 *
 * The proxy merges every downstream link's state itself and hands ONE source filter per
 * group to this module, which applies it to the upstream interface through the RFC 3678
 * socket API (MCAST_JOIN_GROUP, MCAST_JOIN_SOURCE_GROUP, MCAST_MSFILTER). The kernel's host
 * stack then sends the IGMPv3/MLDv2 reports upstream (RFC 3376 §5, RFC 3810 §6), answers
 * the upstream querier and falls back to IGMPv1/v2 / MLDv1 by itself.
 *
 * Per-socket kernel limits:
 * - `net.ipv4.igmp_max_memberships` (default 20) groups per IPv4 socket; IPv6 has no
 *   count limit but the kernel walks a socket's list linearly on every join, so IPv6
 *   sockets also get a bounded list (default 64 groups);
 * - `net.ipv4.igmp_max_msf` (10) / `net.ipv6.mld_max_msf` (64) sources per filter;
 * - `net.core.optmem_max` bytes of socket option memory (ENOMEM).
 * Groups are therefore spread over as many unbound SOCK_DGRAM sockets as needed ("slots"),
 * filling existing sockets first and reusing emptied ones.
 *
 * A group's filter is split into "pieces", one per socket, and the kernel merges the
 * sockets' filters per interface (RFC 3376 §3.2):
 * - INCLUDE with more sources than a socket may hold: the sources are split over several
 *   sockets. The merge of INCLUDE filters is their union, so this is exact.
 * - EXCLUDE with more sources than the limit cannot be represented exactly (the merge of
 *   EXCLUDE filters is the intersection of their source lists). Only the first N sources
 *   (lowest addresses) are excluded and `setFilter` returns a `FilterWarning` naming the
 *   limit: the upstream traffic is then a superset of what is wanted, never a subset.
 */
import { isSyscallError } from "./addon.js";
import { KernelError } from "./errors.js";
import {
  groupFilterSize,
  levelFor,
  MCAST_JOIN_GROUP,
  MCAST_JOIN_SOURCE_GROUP,
  MCAST_LEAVE_GROUP,
  MCAST_MSFILTER,
  packGroupFilter,
  packGroupFilterQuery,
  packGroupReq,
  packGroupSourceReq,
  unpackGroupFilter,
} from "./structs/membership.js";
import { afOf } from "./structs/sockaddr.js";
import { readLimit } from "./sysctl.js";
import { realSyscalls, type Syscalls } from "./syscalls.js";
import { compareAddresses } from "../wire/address.js";
import type { Address, IpFamily } from "../wire/types.js";

/** RFC 3376 §3.1 / RFC 3810 §4.1 filter: INCLUDE {} means "not a member". */
export interface SourceFilter {
  mode: "include" | "exclude";
  sources: Address[];
}

/** Returned by `setFilter` when a filter could not be applied exactly. */
export interface FilterWarning {
  group: Address;
  /** The sysctl that bounds the filter, e.g. "net.ipv4.igmp_max_msf". */
  limit: string;
  /** The limit's value in effect. */
  value: number;
  /** Sources asked for and sources actually excluded. */
  requested: number;
  applied: number;
  message: string;
}

/** The syscalls this module needs; the native addon by default, a fake in unit tests. */
export type MembershipSyscalls = Pick<Syscalls, "socket" | "close" | "setsockopt" | "getsockopt">;

export interface SourceFilterSocketsOptions {
  /** Groups per socket. Default: `net.ipv4.igmp_max_memberships` (IPv4), 64 (IPv6). */
  maxGroupsPerSocket?: number;
  /** Sources per socket filter. Default: `net.ipv4.igmp_max_msf` / `net.ipv6.mld_max_msf`. */
  maxSourcesPerFilter?: number;
  /** Syscall surface (tests). */
  syscalls?: MembershipSyscalls;
}

const SOCK_DGRAM = 2;
/** Default group count per IPv6 socket: no kernel limit, but a short list per socket. */
const DEFAULT_IPV6_GROUPS_PER_SOCKET = 64;

/** One membership socket and the groups it carries. */
interface Slot {
  fd: number;
  groups: Set<Address>;
  /** Groups this socket may carry (lowered when the kernel refuses a join). */
  capacity: number;
  /** Creation order: the oldest socket with room is filled first. */
  seq: number;
}

/** The part of a group's filter held by one socket. */
interface Piece {
  slot: Slot;
  mode: "include" | "exclude";
  sources: Address[];
}

interface GroupState {
  /** The filter asked for (sources deduplicated, in address order). */
  filter: SourceFilter;
  pieces: Piece[];
  warning: FilterWarning | null;
  /** A failed change left the kernel between two filters: the next setFilter re-applies. */
  dirty: boolean;
}

export class SourceFilterSockets {
  readonly family: IpFamily;
  private ifindex: number;
  private readonly maxGroups: number;
  private readonly maxSources: number;
  private readonly sys: MembershipSyscalls;
  private readonly level: number;
  private readonly slots: Slot[] = [];
  /** Sockets that may have room (checked when picked): no walk over every socket per join. */
  private readonly roomy = new Set<Slot>();
  private nextSeq = 0;
  private readonly state = new Map<Address, GroupState>();
  private closed = false;

  constructor(family: IpFamily, ifindex: number, opts: SourceFilterSocketsOptions = {}) {
    this.family = family;
    this.ifindex = ifindex;
    this.level = levelFor(family);
    this.sys = opts.syscalls ?? realSyscalls;
    this.maxGroups = Math.max(
      1,
      opts.maxGroupsPerSocket ??
        (family === "ipv4" ? readLimit("net.ipv4.igmp_max_memberships") : DEFAULT_IPV6_GROUPS_PER_SOCKET),
    );
    this.maxSources = Math.max(
      1,
      opts.maxSourcesPerFilter ??
        (family === "ipv4" ? readLimit("net.ipv4.igmp_max_msf") : readLimit("net.ipv6.mld_max_msf")),
    );
  }

  /** The upstream interface index in use. */
  get interfaceIndex(): number {
    return this.ifindex;
  }

  /**
   * Applies `filter` for `group` on the upstream interface. INCLUDE {} leaves the group.
   * Idempotent: an unchanged filter makes no syscall. Returns a warning when the filter
   * had to be approximated (EXCLUDE beyond the per-socket source limit), else null.
   * Throws a KernelError when the kernel refuses; the group's previous state is then
   * kept as far as the kernel allows.
   */
  setFilter(group: Address, filter: SourceFilter): FilterWarning | null {
    this.assertOpen();
    const wanted = normalize(filter);
    const current = this.state.get(group);
    if (current && !current.dirty && sameFilter(current.filter, wanted)) return current.warning;
    if (!current && wanted.mode === "include" && wanted.sources.length === 0) return null;
    return this.apply(group, wanted, current?.pieces ?? []);
  }

  /**
   * The filter the kernel holds for `group` on the upstream interface, read back with
   * getsockopt(MCAST_MSFILTER) from every socket that carries a part of it (INCLUDE
   * parts united). Null when this instance holds no membership for the group.
   */
  getFilter(group: Address): SourceFilter | null {
    this.assertOpen();
    const st = this.state.get(group);
    if (!st || st.pieces.length === 0) return null;
    let mode: SourceFilter["mode"] = "include";
    const sources: Address[] = [];
    for (const piece of st.pieces) {
      const got = this.readFilter(piece.slot, group, piece.sources.length);
      if (got.mode === "exclude") mode = "exclude";
      sources.push(...got.sources);
    }
    return { mode, sources: dedupeSorted(sources) };
  }

  /** Groups with a membership (any filter but INCLUDE {}). */
  groups(): Address[] {
    return [...this.state.keys()];
  }

  /** Whether this instance holds a membership for `group`. */
  has(group: Address): boolean {
    return this.state.has(group);
  }

  /** Groups with a membership. */
  groupCount(): number {
    return this.state.size;
  }

  /** Membership sockets currently open. */
  socketCount(): number {
    return this.slots.length;
  }

  /** Limits in effect (for status output and tests). */
  limits(): { maxGroupsPerSocket: number; maxSourcesPerFilter: number } {
    return { maxGroupsPerSocket: this.maxGroups, maxSourcesPerFilter: this.maxSources };
  }

  /**
   * The upstream interface was re-created (PPPoE reconnect) or replaced: drops every
   * membership and applies all filters again on `ifindex`. Returns the warnings of the
   * re-applied filters. Throws the first KernelError after trying every group.
   */
  setInterface(ifindex: number): FilterWarning[] {
    this.assertOpen();
    const filters = [...this.state].map(([g, st]) => [g, st.filter] as const);
    this.dropAll();
    this.ifindex = ifindex;
    const warnings: FilterWarning[] = [];
    let firstError: unknown = null;
    for (const [group, filter] of filters) {
      try {
        const w = this.apply(group, filter, []);
        if (w) warnings.push(w);
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== null) throw firstError;
    return warnings;
  }

  /**
   * Leaves everything: closing a socket makes the kernel drop its memberships (and send
   * the state-change reports), which also works when the interface is already gone.
   */
  close(): void {
    if (this.closed) return;
    this.dropAll();
    this.closed = true;
  }

  // --- internals -------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) {
      throw new KernelError("upstream membership is closed", { code: "EBADF", operation: "upstream membership" });
    }
  }

  private dropAll(): void {
    this.roomy.clear();
    for (const slot of this.slots.splice(0)) {
      try {
        this.sys.close(slot.fd);
      } catch {
        /* already closed */
      }
    }
    this.state.clear();
  }

  /** Moves `group` from its `old` pieces to the pieces `wanted` implies. */
  private apply(group: Address, wanted: SourceFilter, old: Piece[]): FilterWarning | null {
    const { chunks, warning } = this.split(group, wanted);
    const next: Piece[] = [];
    const leaving = old.slice(chunks.length);
    try {
      // Joins and updates first, leaves last: the merged filter never loses a wanted source
      // on the way (RFC 3376 §3.2 union of INCLUDE parts).
      for (let i = 0; i < chunks.length; i++) {
        const chunk = chunks[i] as SourceFilter;
        const prev = old[i];
        if (prev) {
          if (prev.mode !== chunk.mode || !sameSources(prev.sources, chunk.sources)) {
            this.msfilter(prev.slot, group, chunk);
            prev.mode = chunk.mode;
            prev.sources = chunk.sources;
          }
          next.push(prev);
        } else {
          next.push(this.joinOnNewSlot(group, chunk, [...old, ...next]));
        }
      }
    } catch (err) {
      // Keep what the kernel holds: the old pieces (possibly updated) plus any new ones.
      this.record(group, [...new Set([...old, ...next])], wanted, null, true);
      throw err;
    }
    for (const piece of leaving) this.leave(piece.slot, group);
    this.record(group, next, wanted, warning, false);
    if (this.state.size === 0) this.closeEmpty();
    return warning;
  }

  private record(
    group: Address,
    pieces: Piece[],
    filter: SourceFilter,
    warning: FilterWarning | null,
    dirty: boolean,
  ): void {
    if (pieces.length === 0) this.state.delete(group);
    else this.state.set(group, { filter, pieces, warning, dirty });
  }

  /** Splits a filter into per-socket chunks within the source limit. */
  private split(group: Address, f: SourceFilter): { chunks: SourceFilter[]; warning: FilterWarning | null } {
    const n = this.maxSources;
    if (f.mode === "include") {
      const chunks: SourceFilter[] = [];
      for (let i = 0; i < f.sources.length; i += n) {
        chunks.push({ mode: "include", sources: f.sources.slice(i, i + n) });
      }
      return { chunks, warning: null };
    }
    if (f.sources.length <= n) return { chunks: [f], warning: null };
    const limit = this.sourceLimitName();
    const warning: FilterWarning = {
      group,
      limit,
      value: n,
      requested: f.sources.length,
      applied: n,
      message:
        `upstream EXCLUDE filter for ${group} has ${f.sources.length} sources but ${limit} = ${n}: ` +
        `only the first ${n} are excluded, so more traffic than wanted may arrive (raise ${limit})`,
    };
    return { chunks: [{ mode: "exclude", sources: f.sources.slice(0, n) }], warning };
  }

  /** Joins `group` with `chunk` on a socket that does not carry it yet. */
  private joinOnNewSlot(group: Address, chunk: SourceFilter, taken: Piece[]): Piece {
    const busy = new Set(taken.map((p) => p.slot));
    let slot = this.pickSlot(group, busy);
    try {
      this.join(slot, group, chunk);
    } catch (err) {
      // The kernel's group count limit may be lower than we believed (sysctl changed at
      // run time): this socket is full. Try once more on a fresh socket.
      if (err instanceof KernelError || !isLimitError(err) || slot.groups.size === 0) {
        this.releaseIfEmpty(slot);
        throw this.explain(err, "join", group, chunk);
      }
      slot.capacity = slot.groups.size;
      slot = this.newSlot();
      try {
        this.join(slot, group, chunk);
      } catch (err2) {
        this.releaseIfEmpty(slot);
        throw this.explain(err2, "join", group, chunk);
      }
    }
    slot.groups.add(group);
    return { slot, mode: chunk.mode, sources: chunk.sources };
  }

  /** Oldest socket with room that does not carry `group` (and is not in `busy`); else a new one. */
  private pickSlot(group: Address, busy: Set<Slot>): Slot {
    let best: Slot | null = null;
    for (const slot of this.roomy) {
      if (slot.groups.size >= slot.capacity) {
        this.roomy.delete(slot);
        continue;
      }
      if (!slot.groups.has(group) && !busy.has(slot) && (best === null || slot.seq < best.seq)) best = slot;
    }
    if (best !== null) return best;
    return this.newSlot();
  }

  private newSlot(): Slot {
    let fd: number;
    try {
      fd = this.sys.socket(afOf(this.family), SOCK_DGRAM, 0);
    } catch (err) {
      throw KernelError.from(err, `opening an upstream ${this.family} membership socket`, (code) =>
        code === "EMFILE" || code === "ENFILE"
          ? `opening an upstream ${this.family} membership socket: out of file descriptors (${code}); ` +
            `${this.slots.length} membership sockets are open, ${this.maxGroups} groups each: raise the open-files limit ` +
            `(ulimit -n / LimitNOFILE=) or net.ipv4.igmp_max_memberships`
          : undefined,
      );
    }
    const slot: Slot = { fd, groups: new Set(), capacity: this.maxGroups, seq: this.nextSeq++ };
    this.slots.push(slot);
    this.roomy.add(slot);
    return slot;
  }

  /** No group left: closes the empty socket kept for reuse too (no descriptor held idle). */
  private closeEmpty(): void {
    for (const slot of this.slots.filter((s) => s.groups.size === 0)) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      this.roomy.delete(slot);
      try {
        this.sys.close(slot.fd);
      } catch {
        /* already closed */
      }
    }
  }

  /** Closes a socket that carries nothing, keeping at most one empty socket for reuse. */
  private releaseIfEmpty(slot: Slot): void {
    if (slot.groups.size > 0) return;
    if (!this.slots.some((s) => s !== slot && s.groups.size === 0)) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    this.roomy.delete(slot);
    try {
      this.sys.close(slot.fd);
    } catch {
      /* already closed */
    }
  }

  /**
   * RFC 3678 §5.1/§5.2: an INCLUDE filter starts with a source-specific join (never a
   * transient EXCLUDE {} that would pull all sources), an EXCLUDE one with an any-source
   * join; MCAST_MSFILTER then sets the full list (it needs a prior join, else EINVAL).
   */
  private join(slot: Slot, group: Address, chunk: SourceFilter): void {
    const first = chunk.sources[0];
    if (chunk.mode === "include" && first !== undefined) {
      this.sys.setsockopt(
        slot.fd,
        this.level,
        MCAST_JOIN_SOURCE_GROUP,
        packGroupSourceReq(this.ifindex, this.family, group, first),
      );
      if (chunk.sources.length === 1) return;
    } else {
      this.sys.setsockopt(slot.fd, this.level, MCAST_JOIN_GROUP, packGroupReq(this.ifindex, this.family, group));
      if (chunk.sources.length === 0) return;
    }
    try {
      this.msfilter(slot, group, chunk);
    } catch (err) {
      this.leaveQuietly(slot, group);
      throw err;
    }
  }

  private msfilter(slot: Slot, group: Address, chunk: SourceFilter): void {
    try {
      this.sys.setsockopt(
        slot.fd,
        this.level,
        MCAST_MSFILTER,
        packGroupFilter(this.ifindex, this.family, group, chunk.mode, chunk.sources),
      );
    } catch (err) {
      throw this.explain(err, "filter", group, chunk);
    }
  }

  /** MCAST_LEAVE_GROUP drops the socket's membership whatever its mode. */
  private leave(slot: Slot, group: Address): void {
    this.leaveQuietly(slot, group);
    slot.groups.delete(group);
    this.roomy.add(slot);
    this.releaseIfEmpty(slot);
  }

  private leaveQuietly(slot: Slot, group: Address): void {
    try {
      this.sys.setsockopt(slot.fd, this.level, MCAST_LEAVE_GROUP, packGroupReq(this.ifindex, this.family, group));
    } catch {
      // EADDRNOTAVAIL / ENODEV: the membership or the interface is already gone.
    }
  }

  private readFilter(slot: Slot, group: Address, expected: number): SourceFilter {
    let capacity = Math.max(expected, 1);
    for (let attempt = 0; attempt < 3; attempt++) {
      const buf = packGroupFilterQuery(this.ifindex, this.family, group, capacity);
      let len: number;
      try {
        len = this.sys.getsockopt(slot.fd, this.level, MCAST_MSFILTER, buf);
      } catch (err) {
        throw KernelError.from(err, `reading the upstream filter of ${group} (ifindex ${this.ifindex})`);
      }
      const gf = unpackGroupFilter(buf, Math.min(len, groupFilterSize(capacity)));
      if (gf === null) break;
      if (gf.numsrc <= capacity) return { mode: gf.mode, sources: gf.sources };
      capacity = gf.numsrc;
    }
    throw new KernelError(`reading the upstream filter of ${group}: unexpected answer from the kernel`, {
      code: "EINTERNAL",
      operation: "getsockopt(MCAST_MSFILTER)",
    });
  }

  private sourceLimitName(): string {
    return this.family === "ipv4" ? "net.ipv4.igmp_max_msf" : "net.ipv6.mld_max_msf";
  }

  /** A KernelError that names the limit behind ENOBUFS / ENOMEM. */
  private explain(err: unknown, what: "join" | "filter", group: Address, chunk: SourceFilter): KernelError {
    const operation =
      what === "join"
        ? `joining ${group} (${chunk.mode} ${chunk.sources.length} sources) on upstream ifindex ${this.ifindex}`
        : `setting the ${chunk.mode} filter of ${group} (${chunk.sources.length} sources) on upstream ifindex ${this.ifindex}`;
    return KernelError.from(err, operation, (code) => {
      if (code === "ENOBUFS") {
        if (what === "join" && this.family === "ipv4") {
          const v = readLimit("net.ipv4.igmp_max_memberships");
          const s = readLimit("net.ipv4.igmp_max_msf");
          return `${operation}: the kernel refused (ENOBUFS): per-socket limit net.ipv4.igmp_max_memberships = ${v} groups or net.ipv4.igmp_max_msf = ${s} sources reached`;
        }
        const name = this.sourceLimitName();
        const v = readLimit(this.family === "ipv4" ? "net.ipv4.igmp_max_msf" : "net.ipv6.mld_max_msf");
        return `${operation}: the kernel refused (ENOBUFS): per-socket source filter limit ${name} = ${v} (or net.core.optmem_max = ${readLimit("net.core.optmem_max")} bytes) reached`;
      }
      if (code === "ENOMEM") {
        return `${operation}: the kernel refused (ENOMEM): socket option memory limit net.core.optmem_max = ${readLimit("net.core.optmem_max")} bytes reached`;
      }
      if (code === "ENODEV" || code === "EADDRNOTAVAIL") {
        return `${operation}: the upstream interface (ifindex ${this.ifindex}) is gone or has no address (${code})`;
      }
      return undefined;
    });
  }
}

function isLimitError(err: unknown): boolean {
  return isSyscallError(err) && (err.code === "ENOBUFS" || err.code === "ENOMEM");
}

function dedupeSorted(sources: readonly Address[]): Address[] {
  return [...new Set(sources)].sort(compareAddresses);
}

function normalize(f: SourceFilter): SourceFilter {
  return { mode: f.mode, sources: dedupeSorted(f.sources) };
}

function sameSources(a: readonly Address[], b: readonly Address[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function sameFilter(a: SourceFilter, b: SourceFilter): boolean {
  return a.mode === b.mode && sameSources(a.sources, b.sources);
}
