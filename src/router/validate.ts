/**
 * Checks on received messages, before any state is touched (docs/protocol.md "Input
 * validation"): the message-level rules of RFC 9776 §9 (IGMP) and RFC 9777 §5 (MLD), the
 * group address rules shared by every message kind, and the refusals of RFC 4604 §2.2
 * for source-specific groups. Pure functions: each returns the drop reason, or null to
 * accept.
 */
import {
  CidrSet,
  isLinkLocalGroup,
  isLinkLocalUnicast6,
  isMulticast,
  parseIpv4,
  parseIpv6Words,
} from "../wire/address.js";
import type { Address, GroupRecord, IpFamily, Message } from "../wire/types.js";
import { RecordType } from "../wire/types.js";
import type { DropReason } from "./counters.js";
import type { ReceiveMeta } from "./types.js";

/** What message-level validation knows of the link. */
export interface LinkAddressing {
  family: IpFamily;
  /** "0.0.0.0" / "::". */
  unspecified: Address;
  /** On-link CIDRs (the IGMP source check). */
  subnets: CidrSet;
  ownAddress: Address | null;
}

/** Which groups the link manages, from the configuration. */
export interface GroupRanges {
  family: IpFamily;
  /** Source-specific ranges (RFC 4604). */
  ssm: CidrSet;
  /** Configured ignoreGroups. */
  ignored: CidrSet;
  /** Configured allowGroups; null: every group. */
  allowed: CidrSet | null;
  /** Configured denyGroups. */
  denied: CidrSet;
}

/** The group ranges of a router config. */
export function groupRanges(
  family: IpFamily,
  config: { ssmRanges: string[]; ignoreGroups: string[]; allowGroups: string[]; denyGroups: string[] },
): GroupRanges {
  return {
    family,
    ssm: new CidrSet(config.ssmRanges),
    ignored: new CidrSet(config.ignoreGroups),
    allowed: config.allowGroups.length > 0 ? new CidrSet(config.allowGroups) : null,
    denied: new CidrSet(config.denyGroups),
  };
}

/** Message-level checks: IP header fields, source and destination of the message. */
export function validateMessage(link: LinkAddressing, msg: Message, meta: ReceiveMeta): DropReason | null {
  const unspecified = meta.source === link.unspecified;
  if (link.family === "ipv4") {
    // RFC 9776 §4 / RFC 2236 §2: all IGMP messages are sent with TTL 1.
    if (meta.ttl !== 1) return "bad-ttl";
    // RFC 9776 §9 (and §4.2.13: 0.0.0.0 is a valid report source).
    if (!unspecified && !link.subnets.has(meta.source)) return "source-not-on-link";
  } else {
    // RFC 9777 §5: hop limit 1, Router Alert, link-local source (:: allowed for
    // reports sent before the host has a link-local address, RFC 9777 §5.2.13).
    if (meta.ttl !== 1) return "bad-hop-limit";
    if (!meta.routerAlert) return "no-router-alert";
    if (!isLinkLocalUnicast6(meta.source) && !(unspecified && msg.type !== "query"))
      return "non-link-local-source";
  }
  if (link.ownAddress !== null && meta.source === link.ownAddress) return "own-message";
  if (msg.type === "query") {
    const bad = querySourceRefusal(link, meta.source);
    if (bad !== null) return bad;
  }
  // Reports and leaves go to a multicast address (RFC 9776 §4.2.14 accepts any the
  // router listens to: 224.0.0.22, all-systems, the group); unicast ones are dropped.
  if (msg.type !== "query" && !isMulticast(meta.destination, link.family)) return "unicast-destination";
  return null;
}

/**
 * Addresses that pass `validateMessage` but cannot be a querier's (RFC 9776 §6.6.2, RFC
 * 9777 §7.6.2: the election compares source addresses, so a forged low one would win it):
 * - IGMP: the network or broadcast address of one of the link's subnets (prefixes up to
 *   /30; /31 and /32 have neither, RFC 3021). Sources outside the subnets are already
 *   `source-not-on-link`, 0.0.0.0 is `query-unspecified-source` (kept: it still lowers
 *   timers).
 * - MLD: a link-local address with an all-zero interface identifier, fe80:: (the
 *   Subnet-Router anycast address, RFC 4291 §2.6.1), the lowest possible address; other
 *   non-link-local sources are already `non-link-local-source`.
 * `source` is a valid address of the link's family (validateMessage accepted it).
 */
export function querySourceRefusal(link: LinkAddressing, source: Address): DropReason | null {
  if (source === link.unspecified) return null;
  if (link.family === "ipv4") {
    const v = parseIpv4(source);
    if (v === null) return "query-bad-source";
    for (const c of link.subnets.cidrs) {
      if (c.family !== "ipv4" || c.prefixLength > 30) continue;
      const net = c.words[0]!;
      const mask = c.masks[0]!;
      if ((v & mask) >>> 0 !== net) continue;
      if (v === net || v === (net | ~mask) >>> 0) return "query-bad-source";
    }
    return null;
  }
  const words = IPV6_SCRATCH;
  if (!parseIpv6Words(source, words)) return "query-bad-source";
  return words[4] === 0 && words[5] === 0 && words[6] === 0 && words[7] === 0 ? "query-bad-source" : null;
}
const IPV6_SCRATCH = new Uint16Array(8);

/** Group address checks shared by every message kind; null = manage it. */
export function checkGroup(ranges: GroupRanges, group: Address): DropReason | null {
  if (!isMulticast(group, ranges.family)) return "invalid-group";
  if (isLinkLocalGroup(group, ranges.family)) return "link-local-group";
  if (ranges.ignored.has(group)) return "ignored-group";
  // The interface's group policy (allow-groups, deny-groups): deny wins.
  if (ranges.denied.has(group)) return "group-denied";
  if (ranges.allowed !== null && !ranges.allowed.has(group)) return "group-not-allowed";
  return null;
}

/**
 * Why an IGMPv1/v2 or MLDv1 report or leave about `group` is not processed: the group
 * checks, then RFC 4604 §2.2.2 (no older-version membership in SSM ranges); or null.
 */
export function olderMessageRefusal(ranges: GroupRanges, group: Address): DropReason | null {
  return checkGroup(ranges, group) ?? (ranges.ssm.has(group) ? "ssm-older-version" : null);
}

/**
 * Why an IGMPv3 / MLDv2 group record is skipped before the compatibility rules: an
 * unknown record type, the group checks, or an EXCLUDE-mode record for an SSM group
 * (RFC 4604 §2.2.1); or null.
 */
export function recordRefusal(ranges: GroupRanges, rec: GroupRecord): DropReason | null {
  const type = rec.recordType;
  if (type < RecordType.MODE_IS_INCLUDE || type > RecordType.BLOCK_OLD_SOURCES) return "unknown-record-type";
  const bad = checkGroup(ranges, rec.group);
  if (bad !== null) return bad;
  if (
    (type === RecordType.MODE_IS_EXCLUDE || type === RecordType.CHANGE_TO_EXCLUDE_MODE) &&
    ranges.ssm.has(rec.group)
  )
    return "ssm-exclude-record";
  return null;
}
