/**
 * The one validated, typed configuration object both formats (IMProxy's line format and
 * YAML) are turned into. Names follow the IETF YANG models (RFC 8652 ietf-igmp-mld,
 * RFC 9398 ietf-igmp-mld-proxy) where they exist. Every value here is resolved: defaults
 * applied, global settings inherited by interfaces. Defaults, ranges and units of every
 * setting are in the settings table (settings.ts).
 */

/**
 * Protocol settings of one family on one downstream interface (RFC 8652 names). Each field
 * is a row of the settings table (settings.ts), which holds its default, range and unit.
 */
export interface ProtocolSettings {
  /** IGMP 1|2|3; MLD 1|2. */
  version: number;
  /** robustness-variable. */
  robustnessVariable: number;
  /** query-interval in seconds. */
  queryInterval: number;
  /** query-max-response-time in seconds. */
  queryMaxResponseTime: number;
  /** last-member-query-interval in seconds (may be fractional). */
  lastMemberQueryInterval: number;
  /** startup-query-interval in seconds. */
  startupQueryInterval: number;
  /** startup-query-count. */
  startupQueryCount: number;
  /** fast-leave (IMProxy `quickleave`): explicit tracking, stop at once when the last host leaves. */
  fastLeave: boolean;
  /** max-groups on this link (refusals are counted). */
  maxGroups: number;
  /** max-sources-per-group on this link. */
  maxSourcesPerGroup: number;
  /** max-group-sources: (group, source) entries on this link, all groups together. */
  maxGroupSources: number;
  /** Source-specific ranges (RFC 4604), CIDR. */
  ssmRanges: string[];
  /** Groups never managed nor forwarded, CIDR, besides link-local scope which is always ignored. */
  ignoreGroups: string[];
}

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
  /** 1-based line of the config file where the interface was declared. */
  line: number;
}

export interface ImproxyConfig {
  /** Absolute path of the file this came from. */
  file: string;
  format: "improxy" | "yaml";
  /** Kernel multicast routing table id (MRT_TABLE / MRT6_TABLE); null = the kernel's default table. */
  mrouteTable: number | null;
  upstream: InterfaceConfig;
  downstreams: InterfaceConfig[];
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
  /** Prometheus endpoint, "127.0.0.1:9464" style; null when off. */
  metricsListen: string | null;
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
