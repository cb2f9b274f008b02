/**
 * Per-group router state (RFC 9776 §6.2.1, RFC 9777 §7.2): filter mode, group timer,
 * source records with source timers, Older Host Present timers (RFC 9776 §7.3.2) and the
 * retransmission state of group-specific queries (§6.6.3). Timers are deadlines in
 * scheduler milliseconds kept in the state (0 = not running); the link router arms one
 * scheduler timer per group for the earliest of them.
 */
import type { TimerId } from "../clock/scheduler.js";
import type { Address } from "../wire/types.js";
import type { HostRecord } from "./tracking.js";
import type { FilterMode } from "./types.js";

export interface SourceRecord {
  /** Source timer deadline; 0 = not running (EXCLUDE mode "Y" list: not forwarded). */
  timer: number;
  /** Remaining Q(G,S) transmissions for this source (RFC 9776 §6.6.3.2). */
  retransmit: number;
}

export class GroupState {
  filterMode: FilterMode = "include";
  /** Group timer deadline, running in EXCLUDE mode only (0 otherwise). */
  groupTimer = 0;
  readonly sources = new Map<Address, SourceRecord>();
  /** IGMPv1 / IGMPv2-MLDv1 Host Present timer deadlines (RFC 9776 §7.3.2), 0 = not running. */
  olderV1Until = 0;
  olderV2Until = 0;
  /** Remaining Q(G) retransmissions and when the next one goes out (0 = none). */
  groupQueryRetransmit = 0;
  nextGroupQueryAt = 0;
  /** When the next Q(G,S) round goes out (0 = none). */
  nextSourceQueryAt = 0;
  /** The one scheduler timer of this group and its deadline. */
  timerId: TimerId | null = null;
  armedAt = 0;
  /** Forwarding state last emitted (null = nothing, i.e. include []): mode and sorted sources. */
  lastForwardingMode: FilterMode | null = null;
  lastForwardingSources: Address[] | null = null;
  /** Set when mode, source set or a source's forwarded/blocked status may have changed. */
  forwardingDirty = false;
  /** Explicit tracking (RFC 9776 §6.x, FRR-style): reporter -> what it wants. */
  readonly hosts = new Map<Address, HostRecord>();
  lastReporter: Address;

  constructor(
    readonly group: Address,
    readonly createdAt: number,
    reporter: Address,
  ) {
    this.lastReporter = reporter;
  }

  /** Sources being forwarded: all in INCLUDE; in EXCLUDE the ones with a running timer ("X"). */
  forwardedSources(): Address[] {
    const out: Address[] = [];
    for (const [s, r] of this.sources) if (r.timer > 0) out.push(s);
    return out;
  }

  /** EXCLUDE mode "Y" list: sources with timer 0, blocked. */
  blockedSources(): Address[] {
    const out: Address[] = [];
    for (const [s, r] of this.sources) if (r.timer === 0) out.push(s);
    return out;
  }

  /** Earliest running deadline of this group (Infinity when none). */
  earliestDeadline(): number {
    let d = Number.POSITIVE_INFINITY;
    if (this.groupTimer > 0) d = this.groupTimer;
    if (this.olderV1Until > 0 && this.olderV1Until < d) d = this.olderV1Until;
    if (this.olderV2Until > 0 && this.olderV2Until < d) d = this.olderV2Until;
    if (this.nextGroupQueryAt > 0 && this.nextGroupQueryAt < d) d = this.nextGroupQueryAt;
    if (this.nextSourceQueryAt > 0 && this.nextSourceQueryAt < d) d = this.nextSourceQueryAt;
    for (const r of this.sources.values()) if (r.timer > 0 && r.timer < d) d = r.timer;
    for (const h of this.hosts.values()) if (h.expires < d) d = h.expires;
    return d;
  }
}
