/**
 * The upstream side of one family: the merged membership applied to the upstream
 * interface through the kernel's host stack (RFC 4605 §4.1), which then sends the
 * IGMPv3/MLDv2 reports and answers the upstream querier. While the upstream interface is
 * absent nothing is applied; the caller re-applies the whole database on attach.
 */
import { SourceFilterSockets } from "../kernel/source-filters.js";
import type { SourceFilterState } from "../proxy/membership.js";
import type { Logger } from "../util/log.js";
import type { Address, IpFamily } from "../wire/types.js";

export class UpstreamHost {
  private membership: SourceFilterSockets | null = null;
  /** Filter changes that the kernel refused (counted for status/metrics). */
  errors = 0;
  /** Filter changes applied. */
  changes = 0;

  constructor(
    private readonly family: IpFamily,
    private readonly log: Logger,
  ) {}

  attach(ifindex: number): void {
    this.detach();
    this.membership = new SourceFilterSockets(this.family, ifindex);
  }

  detach(): void {
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
      this.membership.setFilter(group, { mode: state.filterMode, sources: state.sources });
      this.changes++;
    } catch (err) {
      this.errors++;
      this.log.error({ group, err: (err as Error).message }, "cannot apply the upstream membership");
    }
  }

  /** The filter the kernel holds for `group`, read back. */
  kernelFilter(group: Address) {
    return this.membership?.getFilter(group) ?? null;
  }

  close(): void {
    this.detach();
  }
}
