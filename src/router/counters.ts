/**
 * Counters of one link router. Keys are stable strings (docs/operations.md "Statistic names"):
 * - received and sent messages: PROTOCOL "v" VERSION "-" TYPE ({@link messageKey}), the
 *   protocol's own name and version of the message: IGMP "igmpv1-query".."igmpv3-query",
 *   "igmpv1-report".."igmpv3-report", "igmpv2-leave" (RFC 9776 §4, RFC 2236 §2); MLD
 *   "mldv1-query", "mldv2-query", "mldv1-report", "mldv2-report", "mldv1-done" (RFC 9777
 *   §5, RFC 2710 §3); sent queries "igmpv3-general-query", "mldv2-group-query",
 *   "igmpv3-group-source-query", ... The metrics labels are the same words: type is
 *   TYPE, version is VERSION (src/control/metrics.ts).
 * - received: also "group-record", the IGMPv3 / MLDv2 group records processed.
 * - drops: see {@link DropReason}.
 * - refusals: "max-groups", "max-sources" (per group), "max-group-sources" (per link, all
 *   groups), "max-groups-per-host" (groups held for one reporting host), "max-tracked-hosts"
 *   (explicit tracking full: the host is not tracked, its group loses fast leave for a
 *   while): state not created because of a configured limit; "max-adopted-robustness", "max-adopted-query-interval":
 *   a query whose QRV / QQIC was above the configured bound, adopted clamped (RFC 9776
 *   §4.1.6, §4.1.7; counted per query, so a rate over time is a persistent misconfiguration
 *   or a spoofer).
 */
import type { IpFamily } from "../wire/types.js";

/** What a message is called in IGMP or MLD: IGMP's leave is MLD's done (RFC 2710 §3: Multicast Listener Done). */
export type MessageType = "query" | "report" | "leave" | "general-query" | "group-query" | "group-source-query";

/** The counter key of a message: "igmpv3-report", "mldv1-done", "mldv2-general-query". */
export function messageKey(family: IpFamily, version: number, type: MessageType): string {
  const protocol = family === "ipv4" ? "igmp" : "mld";
  return `${protocol}v${version}-${type === "leave" && family === "ipv6" ? "done" : type}`;
}

/** Configured limits that refuse state or clamp an adopted value, as counted in `refusals`. */
export type RefusalReason =
  | "max-groups"
  | "max-sources"
  | "max-group-sources"
  | "max-groups-per-host"
  | "max-tracked-hosts"
  | "max-adopted-robustness"
  | "max-adopted-query-interval";

/** Why a message or record was not acted upon. */
export type DropReason =
  | "family-mismatch"
  | "bad-ttl" // IGMP with IP TTL != 1 (RFC 9776 §4, §9)
  | "bad-hop-limit" // MLD with hop limit != 1 (RFC 9777 §5)
  | "no-router-alert" // MLD without Hop-by-Hop Router Alert (RFC 9777 §5)
  | "non-link-local-source" // MLD from a non-link-local source (RFC 9777 §5)
  | "source-not-on-link" // IGMP from a source outside the link's subnets (RFC 9776 §9)
  | "own-message" // looped back from this router
  | "unicast-destination" // report/leave not sent to a multicast address
  | "invalid-group" // not a multicast address
  | "link-local-group" // 224.0.0.0/24, ff0x::/16 with scope <= 2: never managed
  | "ignored-group" // configured ignoreGroups
  | "group-denied" // configured denyGroups of the interface
  | "group-not-allowed" // outside the configured allowGroups of the interface
  // A source asked for in an IS_IN, ALLOW or TO_IN record (one count per source) that the
  // interface's source policy refuses: in its denySources / outside its allowSources for
  // the group (source-policy.ts).
  | "source-denied"
  | "source-not-allowed"
  | "ssm-exclude-record" // IS_EX/TO_EX for an SSM group (RFC 4604 §2.2.1)
  | "ssm-older-version" // IGMPv1/v2/MLDv1 report or leave for an SSM group (RFC 4604 §2.2.2)
  | "unknown-record-type" // record type outside 1..6: skipped, the rest is processed
  | "leave-in-v1-mode" // IGMPv1 host present: leaves and TO_IN ignored (RFC 9776 §7.3.2)
  | "block-in-compat-mode" // BLOCK ignored in older-version compatibility (RFC 9776 §7.3.2)
  | "query-unspecified-source" // query from 0.0.0.0/:: (snooping switch): no election
  // Query from an address no querier can have (RFC 9776 §6.6.2, RFC 9777 §7.6.2 elect by
  // source address): an IPv4 subnet's network or broadcast address, the Subnet-Router
  // anycast address of fe80::/64 (RFC 4291 §2.6.1). Ignored entirely.
  | "query-bad-source"
  // Report or leave record over the link's or the host's report rate: dropped, not queued.
  | "rate-limit";

export class RouterCounters {
  readonly received: Record<string, number> = {};
  readonly sent: Record<string, number> = {};
  readonly drops: Partial<Record<DropReason, number>> = {};
  readonly refusals: Record<string, number> = {};
  /** Older-version queries heard (RFC 9776 §7.3.1: a configuration mismatch worth a warning). */
  olderVersionQueries = 0;

  receive(key: string): void {
    this.received[key] = (this.received[key] ?? 0) + 1;
  }
  send(key: string): void {
    this.sent[key] = (this.sent[key] ?? 0) + 1;
  }
  drop(reason: DropReason, n = 1): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + n;
  }
  refuse(reason: RefusalReason): void {
    this.refusals[reason] = (this.refusals[reason] ?? 0) + 1;
  }
}
