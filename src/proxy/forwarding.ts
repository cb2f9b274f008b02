/**
 * Forwarding decisions of one family (RFC 4605 §4.2): the outgoing link set of every
 * known (S,G), computed from the membership database.
 *
 * - (S,G) entries become known from the kernel's NOCACHE upcalls (the first packet of a
 *   flow); every known entry is installed, even with no outgoing link, so the kernel stops
 *   queueing and re-asking, and so a later join only has to update the entry: the stream
 *   reaches a new receiver with the next packet (no waiting for a new upcall, the C
 *   IMProxy's 10 s join delay).
 * - Traffic arriving on a link goes to every other downstream link whose state wants S
 *   (and where the proxy is the querier, RFC 4605 §4.2, unless configured otherwise, and
 *   whose source policy admits S for G), and to G's upstream link when it came from a
 *   downstream configured with down-to-up.
 * - A group has one upstream (RFC 4605 §4; with several, the first whose groups hold it):
 *   data for G arriving on another upstream goes nowhere (its entry is installed with no
 *   outgoing link), so the entry that forwards G from upstream has G's upstream as its
 *   incoming link.
 * - Data from the upstream whose source the upstream does not accept (its `sources`,
 *   igmpproxy's `altnet`) goes nowhere: its entry is installed with no outgoing link, so the
 *   kernel drops it without asking again.
 * - The incoming link is never in the outgoing set (RPF: it is the kernel's parent VIF).
 * - A membership change of G recomputes every known (S,G) of G at once.
 * - Bounded (max-forwarding-entries): beyond `maxEntries` a new (S,G) is not learnt
 *   (counted in `refused`), except that an entry with receivers may take the place of the
 *   oldest entry without any outgoing link ("unwanted": it only stops repeated upcalls).
 *   Unwanted entries also expire sooner: `expireUnwanted()` (run at every idle check)
 *   removes those that were already unwanted at the previous run, traffic or not; the next
 *   packet of such a flow is learnt again.
 */
import { sameItems } from "../util/arrays.js";
import { sgKey } from "../wire/address.js";
import type { Address } from "../wire/types.js";
import { type MembershipDatabase, wantsSource } from "./membership.js";

export interface ForwardingEntry {
  source: Address;
  group: Address;
  /** Incoming link (name). */
  iif: string;
  /** Outgoing links (names), sorted. */
  oifs: string[];
}

export type ForwardingEffect =
  | { type: "mfc-set"; entry: ForwardingEntry }
  | { type: "mfc-del"; source: Address; group: Address };

export interface ForwardingLinks {
  /** Whether `link` is an upstream link. */
  isUpstream(link: string): boolean;
  /**
   * The upstream link that serves `group` (RFC 4605 §4: one upstream per group; with several
   * upstreams the first whose groups hold it), or null when none does.
   */
  upstreamOf(group: Address): string | null;
  /** Whether `link` is a downstream that may receive traffic now (attached; querier unless configured otherwise). */
  canForwardTo(link: string): boolean;
  /** Whether senders on downstream `link` are forwarded upstream (down-to-up). */
  downToUp(link: string): boolean;
  /** Whether `group` may be forwarded at all (false for link-local scope and ignored groups). */
  forwardable(group: Address): boolean;
  /**
   * Whether downstream `link`'s source policy admits traffic from `source` to `group`
   * (allow-sources, deny-sources): the one place prefix rules hold for a link in EXCLUDE
   * mode, whose state cannot list a prefix.
   */
  sourceAllowed(link: string, source: Address, group: Address): boolean;
  /**
   * Whether data from `source` arriving on `iif` may be forwarded at all (false for upstream
   * data from a source outside the upstream's accepted sources). Default: always.
   */
  acceptsSource?(source: Address, iif: string): boolean;
}

export interface ForwardingLimits {
  /** Most entries (max-forwarding-entries); read at every learn. Default: unbounded. */
  maxEntries?: () => number;
}

export class ForwardingPlanner {
  private readonly entries = new Map<string, ForwardingEntry>();
  /** group -> keys of its known (S,G). */
  private readonly byGroup = new Map<Address, Set<string>>();
  /** Keys of entries without outgoing link, oldest first. */
  private readonly unwanted = new Set<string>();
  /** Unwanted keys seen by the previous `expireUnwanted()`. */
  private marked = new Set<string>();
  /** New (S,G) not learnt because the table was full (mfc-limit). */
  refused = 0;
  /** Unwanted entries evicted for wanted ones. */
  evicted = 0;

  constructor(
    private readonly db: MembershipDatabase,
    private readonly links: ForwardingLinks,
    private readonly limits: ForwardingLimits = {},
  ) {}

  /**
   * Whether data for `group` arriving on `iif` comes from an upstream that does not serve the
   * group (RFC 4605 §4: a group has one upstream; the proxy is a member of it there only).
   */
  wrongUpstream(group: Address, iif: string): boolean {
    return this.links.isUpstream(iif) && this.links.upstreamOf(group) !== iif;
  }

  /** Outgoing set for (S,G) arriving on `iif`, from the current membership. */
  outgoing(source: Address, group: Address, iif: string): string[] {
    const out: string[] = [];
    if (!this.links.forwardable(group) || this.wrongUpstream(group, iif)) return out;
    if (this.links.acceptsSource && !this.links.acceptsSource(source, iif)) return out;
    for (const [link, state] of this.db.linksOf(group)) {
      if (link === iif || this.links.isUpstream(link)) continue;
      if (!this.links.canForwardTo(link)) continue;
      if (wantsSource(state, source) && this.links.sourceAllowed(link, source, group)) out.push(link);
    }
    const up = this.links.upstreamOf(group);
    if (up !== null && !this.links.isUpstream(iif) && this.links.downToUp(iif)) out.push(up);
    return out.sort();
  }

  /**
   * A packet of (S,G) arrived on `iif` with no kernel entry (NOCACHE upcall), or on the
   * wrong link (WRONGVIF: the source moved). Installs or re-installs the entry.
   */
  learn(source: Address, group: Address, iif: string): ForwardingEffect[] {
    const k = sgKey(source, group);
    const prev = this.entries.get(k);
    const oifs = this.outgoing(source, group, iif);
    if (prev && prev.iif === iif && sameItems(prev.oifs, oifs)) {
      // The kernel lost it (e.g. it was flushed): install again.
      return [{ type: "mfc-set", entry: prev }];
    }
    const effects: ForwardingEffect[] = [];
    if (!prev && this.entries.size >= (this.limits.maxEntries?.() ?? Number.POSITIVE_INFINITY)) {
      const victim = oifs.length > 0 ? this.unwanted.values().next().value : undefined;
      const e = victim === undefined ? undefined : this.entries.get(victim);
      if (e === undefined) {
        this.refused++;
        return [];
      }
      this.evicted++;
      effects.push(...this.forget(e.source, e.group));
    }
    const entry: ForwardingEntry = { source, group, iif, oifs };
    this.put(k, entry);
    let keys = this.byGroup.get(group);
    if (!keys) {
      keys = new Set();
      this.byGroup.set(group, keys);
    }
    keys.add(k);
    effects.push({ type: "mfc-set", entry });
    return effects;
  }

  /** Stores an entry and keeps the unwanted set in step. */
  private put(k: string, entry: ForwardingEntry): void {
    this.entries.set(k, entry);
    if (entry.oifs.length > 0) {
      this.unwanted.delete(k);
      this.marked.delete(k);
    } else this.unwanted.add(k);
  }

  /**
   * Removes the entries without outgoing link that already had none at the previous call
   * (so an unwanted entry lives one to two calls, whatever its traffic).
   */
  expireUnwanted(): ForwardingEffect[] {
    const effects: ForwardingEffect[] = [];
    for (const k of this.marked) {
      const e = this.unwanted.has(k) ? this.entries.get(k) : undefined;
      if (e) effects.push(...this.forget(e.source, e.group));
    }
    this.marked = new Set(this.unwanted);
    return effects;
  }

  /** Entries without outgoing link. */
  get unwantedCount(): number {
    return this.unwanted.size;
  }

  /** Recomputes every known (S,G) of `group` after a membership change. */
  refreshGroup(group: Address): ForwardingEffect[] {
    const effects: ForwardingEffect[] = [];
    for (const k of this.byGroup.get(group) ?? []) {
      const e = this.entries.get(k)!;
      const oifs = this.outgoing(e.source, e.group, e.iif);
      if (sameItems(e.oifs, oifs)) continue;
      const next = { ...e, oifs };
      this.put(k, next);
      effects.push({ type: "mfc-set", entry: next });
    }
    return effects;
  }

  /** Recomputes every known entry (a link came or went, querier status changed). */
  refreshAll(): ForwardingEffect[] {
    const effects: ForwardingEffect[] = [];
    for (const group of this.byGroup.keys()) effects.push(...this.refreshGroup(group));
    return effects;
  }

  /** Forgets entries whose incoming link is `link` (the link is gone). */
  dropIncoming(link: string): ForwardingEffect[] {
    const effects: ForwardingEffect[] = [];
    for (const e of [...this.entries.values()]) {
      if (e.iif === link) effects.push(...this.forget(e.source, e.group));
    }
    return effects;
  }

  /** Forgets one entry (idle: its packet counter did not move). */
  forget(source: Address, group: Address): ForwardingEffect[] {
    const k = sgKey(source, group);
    if (!this.entries.delete(k)) return [];
    this.unwanted.delete(k);
    this.marked.delete(k);
    const keys = this.byGroup.get(group);
    keys?.delete(k);
    if (keys && keys.size === 0) this.byGroup.delete(group);
    return [{ type: "mfc-del", source, group }];
  }

  get(source: Address, group: Address): ForwardingEntry | undefined {
    return this.entries.get(sgKey(source, group));
  }

  all(): ForwardingEntry[] {
    return [...this.entries.values()];
  }

  get size(): number {
    return this.entries.size;
  }
}
