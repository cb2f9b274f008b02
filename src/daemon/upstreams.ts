/**
 * The upstream side of one family with one or several upstream links (docs/protocol.md
 * "Proxy merge"): one UpstreamHost per upstream (its own membership sockets, queue, rate and
 * group limit), and each group's merged state sent to the upstream that serves it, the first
 * whose `groups` hold it (RFC 4605 §4: one upstream per group; src/config/upstream-choice.ts).
 *
 * - A group no upstream serves is not joined upstream: counted once while it is wanted
 *   (`onUnserved`), logged at most once per interval.
 * - An upstream that attaches gets the groups it serves; one that detaches drops its own
 *   memberships (its sockets); the other upstreams are not touched.
 * - A new configuration adds and removes hosts and moves only the groups whose upstream
 *   changed (left on the old one, joined on the new one).
 */
import type { Scheduler } from "../clock/index.js";
import type { ImproxyConfig } from "../config/types.js";
import { UpstreamChoice } from "../config/upstream-choice.js";
import type { SourceFilterSocketsOptions } from "../kernel/source-filters.js";
import { isNoMembership, NO_MEMBERSHIP, type SourceFilterState } from "../proxy/membership.js";
import type { Logger } from "../util/log.js";
import { Throttle } from "../util/throttle.js";
import type { Address, IpFamily } from "../wire/types.js";
import type { UpstreamGroupsSnapshot } from "./snapshot.js";
import { UpstreamHost } from "./upstream.js";

/** The merged memberships (the family's MembershipDatabase). */
export interface MergedMemberships {
  groupsWithMembership(): Address[];
  mergedState(group: Address): SourceFilterState;
}

export interface UpstreamsOptions {
  family: IpFamily;
  log: Logger;
  scheduler: Scheduler;
  /** The running configuration: its limits are read at every batch (per upstream). */
  config: () => ImproxyConfig;
  merged: MergedMemberships;
  /** A join had to wait for max-upstream-groups (upstream-limit). */
  onLimit: () => void;
  /** A wanted group that no upstream serves (no-upstream), once while it is wanted. */
  onUnserved: () => void;
  /** Membership sockets' limits and syscalls (tests); default: sysctls and the addon. */
  sockets?: SourceFilterSocketsOptions;
  /** Continues a long batch after pending I/O (the daemon: setImmediate). */
  yieldTo?: (fn: () => void) => void;
}

export class Upstreams {
  private readonly hosts = new Map<string, UpstreamHost>();
  private choice: UpstreamChoice;
  /** Groups with a merged membership that no upstream serves. */
  private readonly unserved = new Set<Address>();
  private readonly unservedWarnings: Throttle;

  constructor(private readonly opts: UpstreamsOptions) {
    this.unservedWarnings = new Throttle(() => opts.scheduler.now());
    const { upstreams } = opts.config();
    this.choice = new UpstreamChoice(upstreams);
    for (const u of upstreams) this.hosts.set(u.name, this.newHost(u.name));
  }

  /** The upstream that serves `group`, or null. */
  of(group: Address): string | null {
    return this.choice.of(group);
  }

  /**
   * Queues the merged state of `group` on the upstream that serves it (INCLUDE {} leaves);
   * `origin` is the downstream link whose change caused it (fair first joins).
   */
  set(group: Address, state: SourceFilterState, origin?: string): void {
    const name = this.choice.of(group);
    if (name !== null) {
      this.hosts.get(name)?.setFilter(group, state, origin);
      return;
    }
    if (isNoMembership(state)) {
      this.unserved.delete(group);
      return;
    }
    if (this.unserved.has(group)) return;
    this.unserved.add(group);
    this.opts.onUnserved();
    const others = this.unservedWarnings.pass();
    if (others === null) return;
    this.opts.log.warn(
      { group, ...(others > 0 ? { otherGroupsSinceLastLine: others } : {}) },
      "no upstream serves the group (their `groups`): not joined upstream",
    );
  }

  /** Upstream `name` attached on `ifindex`: new membership sockets, joined to the groups it serves. */
  attach(name: string, ifindex: number): void {
    const host = this.hosts.get(name);
    if (!host) return;
    host.attach(ifindex);
    const { merged } = this.opts;
    for (const group of merged.groupsWithMembership()) {
      if (this.choice.of(group) === name) host.setFilter(group, merged.mergedState(group));
    }
  }

  /** Upstream `name` detached: its memberships go with its sockets. */
  detach(name: string): void {
    this.hosts.get(name)?.detach();
  }

  /**
   * A new configuration (reload): a host for each added upstream (joined once its link
   * attaches), none left for a removed one; a group whose upstream changed leaves the old
   * one and is joined on the new one; the other groups are not touched. Limits may have
   * changed: every host drains what may go now.
   */
  reconfigure(config: ImproxyConfig): void {
    const names = new Set(config.upstreams.map((u) => u.name));
    for (const [name, host] of [...this.hosts]) {
      if (names.has(name)) continue;
      host.close();
      this.hosts.delete(name);
    }
    for (const name of names) if (!this.hosts.has(name)) this.hosts.set(name, this.newHost(name));
    const before = this.choice;
    this.choice = new UpstreamChoice(config.upstreams);
    const { merged } = this.opts;
    for (const group of merged.groupsWithMembership()) {
      const was = before.of(group);
      if (was === this.choice.of(group)) continue;
      if (was !== null) this.hosts.get(was)?.setFilter(group, NO_MEMBERSHIP);
      this.unserved.delete(group);
      this.set(group, merged.mergedState(group));
    }
    for (const host of this.hosts.values()) host.kick();
  }

  close(): void {
    for (const host of this.hosts.values()) host.close();
  }

  /** Filter changes applied and refused, all upstreams together. */
  get changes(): number {
    return [...this.hosts.values()].reduce((n, h) => n + h.changes, 0);
  }

  get errors(): number {
    return [...this.hosts.values()].reduce((n, h) => n + h.errors, 0);
  }

  /** Each upstream's queue, in the configuration's order. */
  stats(): UpstreamGroupsSnapshot[] {
    return [...this.hosts].map(([name, h]) => ({ interface: name, ...h.stats() }));
  }

  private newHost(name: string): UpstreamHost {
    const { opts } = this;
    return new UpstreamHost({
      family: opts.family,
      log: opts.log.child({ interface: name }),
      scheduler: opts.scheduler,
      // Read at every batch: a reload applies from the next one.
      limits: () => ({
        maxGroups: opts.config().maxUpstreamGroups,
        changesPerSecond: opts.config().upstreamChangesPerSecond,
      }),
      onLimit: opts.onLimit,
      ...(opts.sockets ? { sockets: opts.sockets } : {}),
      ...(opts.yieldTo ? { yieldTo: opts.yieldTo } : {}),
    });
  }
}
