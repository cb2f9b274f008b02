/**
 * Which forwarding entries have gone stale, judged by the kernel's per-(S,G) counters
 * (docs/kernel.md "Multicast routing socket (IPv4)": SIOCGETSGCNT) read at every check.
 * Pure: counters come from a callback, time from the injected scheduler.
 *
 * Between two checks an entry is
 * - idle when its packet counter did not move: no traffic, the entry is removed (the next
 *   packet of the flow re-creates it through a NOCACHE upcall);
 * - moved when every packet since the previous check arrived on a link other than its
 *   incoming one (wrong-interface count grew by as much as the packet count): the source
 *   now reaches the router elsewhere; the entry is removed so the next packet is learned
 *   with its new incoming link. (IPv4 also reports a source that moved onto an outgoing
 *   link at once, with a WRONGVIF upcall; this check catches every other case.)
 * An entry seen for the first time is only sampled. An entry the kernel no longer has
 * (counters null) counts as packets = -1: it is idle at the next check unless it comes back.
 */
import type { Scheduler, TimerId } from "../clock/index.js";
import { sgKey } from "../wire/address.js";
import type { Address } from "../wire/types.js";

/** Kernel counters of one (S,G) at one check. */
export interface SgSample {
  packets: bigint;
  wrongIf: bigint;
}

export type StaleReason = "idle" | "moved";

/** The verdict for one entry from its previous and current sample. */
export function staleReason(previous: SgSample | undefined, current: SgSample): StaleReason | null {
  if (previous === undefined) return null;
  if (previous.packets === current.packets) return "idle";
  if (current.wrongIf - previous.wrongIf === current.packets - previous.packets) return "moved";
  return null;
}

export interface IdleEntry {
  source: Address;
  group: Address;
}

export interface IdleMonitorOptions<E extends IdleEntry> {
  scheduler: Scheduler;
  /** Milliseconds between checks; read at every arming, so a reload applies from the next check. */
  intervalMs: () => number;
  /** The entries to check (the forwarding planner's). */
  entries: () => Iterable<E>;
  /** The kernel's counters of (S,G); null when it has no such entry. */
  counters: (source: Address, group: Address) => SgSample | null;
  /** Called for each stale entry; the caller removes it (and calls `forget`). */
  onStale: (entry: E, reason: StaleReason) => void;
  /** Runs before each periodic check (the planner's expiry of unwanted entries). */
  beforeCheck?: () => void;
}

/** Runs the stale check periodically on the scheduler. */
export class IdleMonitor<E extends IdleEntry> {
  private readonly last = new Map<string, SgSample>();
  private timer: TimerId | null = null;

  constructor(private readonly opts: IdleMonitorOptions<E>) {}

  /** Arms the first check one interval from now. */
  start(): void {
    this.arm();
  }

  stop(): void {
    if (this.timer !== null) this.opts.scheduler.cancel(this.timer);
    this.timer = null;
  }

  /** Drops the sample of a removed entry (a later entry for the same (S,G) starts afresh). */
  forget(source: Address, group: Address): void {
    this.last.delete(sgKey(source, group));
  }

  /** One check now (also what the timer runs). */
  check(): void {
    const stale: Array<[E, StaleReason]> = [];
    for (const e of this.opts.entries()) {
      const k = sgKey(e.source, e.group);
      const c = this.opts.counters(e.source, e.group);
      const now: SgSample = { packets: c?.packets ?? -1n, wrongIf: c?.wrongIf ?? 0n };
      const reason = staleReason(this.last.get(k), now);
      this.last.set(k, now);
      if (reason !== null) stale.push([e, reason]);
    }
    // Reported after the walk: the callback removes entries from the collection walked.
    for (const [e, reason] of stale) this.opts.onStale(e, reason);
  }

  private arm(): void {
    const { scheduler } = this.opts;
    this.timer = scheduler.at(scheduler.now() + this.opts.intervalMs(), () => {
      this.timer = null;
      this.opts.beforeCheck?.();
      this.check();
      this.arm();
    });
  }
}
