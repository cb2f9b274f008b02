/**
 * The upstream side of one family: the merged membership applied to the upstream
 * interface through the kernel's host stack (RFC 4605 §4.1), which then sends the
 * IGMPv3/MLDv2 reports and answers the upstream querier. While the upstream interface is
 * absent nothing is applied; the caller re-applies the whole database on attach.
 *
 * Kernel refusals are logged and counted (the group keeps what the kernel holds; the next
 * change re-applies it). A filter the kernel can only approximate (an EXCLUDE list longer
 * than the per-socket source limit: docs/kernel.md "Upstream subscription") is applied as a
 * superset and logged as a warning once per group and limit, naming the sysctl to raise.
 */
import { type SourceFilterSocketsOptions, SourceFilterSockets } from "../kernel/source-filters.js";
import type { SourceFilterState } from "../proxy/membership.js";
import type { Logger } from "../util/log.js";
import type { Address, IpFamily } from "../wire/types.js";

export class UpstreamHost {
  private membership: SourceFilterSockets | null = null;
  /** Groups whose filter is approximated, with the limit named in the warning logged. */
  private readonly approximated = new Map<Address, string>();
  /** Filter changes that the kernel refused (counted for status/metrics). */
  errors = 0;
  /** Filter changes applied. */
  changes = 0;

  constructor(
    private readonly family: IpFamily,
    private readonly log: Logger,
    /** Kernel limits and syscalls (tests); defaults read the sysctls and use the addon. */
    private readonly socketOptions: SourceFilterSocketsOptions = {},
  ) {}

  attach(ifindex: number): void {
    this.detach();
    this.membership = new SourceFilterSockets(this.family, ifindex, this.socketOptions);
  }

  detach(): void {
    this.approximated.clear();
    if (!this.membership) return;
    try {
      this.membership.close();
    } catch (err) {
      // The interface is gone: the kernel dropped its memberships with it.
      this.log.debug({ err: (err as Error).message }, "upstream memberships already gone");
    }
    this.membership = null;
  }

  setFilter(group: Address, state: SourceFilterState): void {
    if (!this.membership) return;
    try {
      const warning = this.membership.setFilter(group, { mode: state.filterMode, sources: state.sources });
      this.changes++;
      if (warning === null) {
        this.approximated.delete(group);
      } else if (this.approximated.get(group) !== warning.limit) {
        this.approximated.set(group, warning.limit);
        this.log.warn(
          { group, limit: warning.limit, value: warning.value, requested: warning.requested, applied: warning.applied },
          warning.message,
        );
      }
    } catch (err) {
      this.errors++;
      this.log.error({ group, err: (err as Error).message }, "cannot apply the upstream membership");
    }
  }

  close(): void {
    this.detach();
  }
}
