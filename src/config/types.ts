/**
 * The one validated, typed configuration object every format (IMProxy's line format,
 * igmpproxy's format and YAML) is turned into. Names follow the IETF YANG models (RFC 8652 ietf-igmp-mld,
 * RFC 9398 ietf-igmp-mld-proxy) where they exist. Every value here is resolved: defaults
 * applied, global settings inherited by interfaces. Defaults, ranges and units of every
 * setting are in the settings table (settings.ts).
 */

import type { HttpSettings, ProtocolSettings } from "./settings.js";

export type { HttpSettings, ProtocolSettings } from "./settings.js";

export interface InterfaceConfig {
  /** Interface name (IFNAMSIZ - 1 = 15 characters at most). */
  name: string;
  role: "upstream" | "downstream";
  /** IGMP settings, or null when IGMP is disabled (globally or on this interface). */
  igmp: ProtocolSettings | null;
  /** MLD settings, or null when MLD is disabled. */
  mld: ProtocolSettings | null;
  /** down-to-up (IMProxy `down_to_up`): forward this downstream's senders upstream too. */
  downToUp: boolean;
  /**
   * forward-when-not-querier: forward onto this downstream even while another router is the
   * elected querier there (RFC 4605 §4.2 has only the querier forward).
   */
  forwardWhenNotQuerier: boolean;
  /**
   * ttl-threshold (igmpproxy `threshold`): the VIF's TTL threshold; IPv4 packets are
   * forwarded out of this interface only with a TTL above it.
   */
  ttlThreshold: number;
  /**
   * groups (igmpproxy `whitelist` on an upstream), upstream only: group prefixes (either
   * family) this upstream serves; a group goes to the first upstream whose prefixes hold it
   * (upstream-choice.ts); empty: every group. Downstreams hold [].
   */
  groups: string[];
  /**
   * sources (igmpproxy `altnet`), upstream only: source prefixes (either family) whose data
   * is forwarded from the upstream; empty: every source. Downstreams hold [].
   */
  sources: string[];
  /** 1-based line of the config file where the interface was declared. */
  line: number;
}

export interface ImproxyConfig {
  /** Absolute path of the file this came from. */
  file: string;
  format: "improxy" | "igmpproxy" | "yaml";
  /** Kernel multicast routing table id (MRT_TABLE / MRT6_TABLE); null = the kernel's default table. */
  mrouteTable: number | null;
  /**
   * The upstream interfaces, in the file's order (at least one): each group is served by the
   * first whose `groups` hold it (upstream-choice.ts; RFC 4605 §4: one upstream per group).
   */
  upstreams: InterfaceConfig[];
  downstreams: InterfaceConfig[];
  /**
   * default-downstream (igmpproxy `defaultdown`): every other interface that can do
   * multicast and has an address of the family (not loopback, not the upstream, not listed
   * in `disabled`) is a downstream with these settings (`name` is "*"), including
   * interfaces that appear later. Null: only the listed downstreams.
   */
  defaultDownstream: InterfaceConfig | null;
  /** Interfaces never used (igmpproxy `phyint NAME disabled`): no VIF, not a default downstream. */
  disabled: string[];
  /** Protocol switches (IMProxy: a missing `igmp` / `mld` line disables the family). */
  igmpEnabled: boolean;
  mldEnabled: boolean;
  /** Control socket path. */
  controlSocket: string;
  /**
   * forwarding-idle-check, seconds: how often forwarding entries are checked
   * for traffic; an (S,G) whose kernel packet counter did not move since the previous check
   * is removed (a new packet re-creates it through the kernel's upcall).
   */
  forwardingIdleCheck: number;
  /** Most groups joined upstream per family (max-upstream-groups). */
  maxUpstreamGroups: number;
  /** Upstream membership changes per second and family (upstream-changes-per-second). */
  upstreamChangesPerSecond: number;
  /** Most MFC entries per family (max-forwarding-entries). */
  maxForwardingEntries: number;
  /** Prometheus endpoint, "127.0.0.1:9464" style; null when off. */
  metricsListen: string | null;
  /** The live web view (`http:`); null when off. */
  http: HttpSettings | null;
  /** user (igmpproxy `user`): the user to run as once the kernel sockets are open; null: stay. */
  user: string | null;
}

/** A configuration problem: always names the file and the 1-based line. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "ConfigError";
  }
}

/** A problem that does not stop the daemon (e.g. robustness-variable 1, an ignored directive). */
export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
}

/** A validated config with the warnings found on the way. */
export interface ParsedConfig {
  config: ImproxyConfig;
  warnings: ConfigWarning[];
}
