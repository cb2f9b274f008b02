/**
 * The one validated, typed configuration object both formats (IMProxy's line format and
 * YAML) are turned into. Names follow the IETF YANG models (RFC 8652 ietf-igmp-mld,
 * RFC 9398 ietf-igmp-mld-proxy) where they exist. Every value here is resolved: defaults
 * applied, global settings inherited by interfaces.
 */

/** Protocol settings of one family on one downstream interface (RFC 8652 names). */
export interface ProtocolSettings {
  /** IGMP 1|2|3 (default 3); MLD 1|2 (default 2). */
  version: number;
  /** robustness-variable, default 2. */
  robustnessVariable: number;
  /** query-interval in seconds, default 125. */
  queryInterval: number;
  /** query-max-response-time in seconds, default 10. */
  queryMaxResponseTime: number;
  /** last-member-query-interval in seconds (may be fractional), default 1. */
  lastMemberQueryInterval: number;
  /** startup-query-interval in seconds, default query-interval / 4. */
  startupQueryInterval: number;
  /** startup-query-count, default robustness-variable. */
  startupQueryCount: number;
  /** fast-leave (IMProxy `quickleave`): explicit tracking, stop at once when the last host leaves. */
  fastLeave: boolean;
  /** max-groups on this link (refusals are counted), default 65536. */
  maxGroups: number;
  /** max-sources-per-group on this link, default 1024. */
  maxSourcesPerGroup: number;
  /** Source-specific ranges (RFC 4604), CIDR; default 232.0.0.0/8, ff3x::/32 expanded to ff30::/32..ff3f::/32. */
  ssmRanges: string[];
  /**
   * Groups never managed nor forwarded, CIDR, besides link-local scope which is always
   * ignored. Default 239.255.0.0/16 for IGMP (as IMProxy did), none for MLD.
   */
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
   * elected querier there. Default false: RFC 4605 §4.2, only the querier forwards.
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
  /** Control socket path (issue 5); default /run/improxy/improxy.sock. */
  controlSocket: string;
  /**
   * forwarding-idle-check, seconds (default 60): how often forwarding entries are checked
   * for traffic; an (S,G) whose kernel packet counter did not move since the previous check
   * is removed (a new packet re-creates it through the kernel's upcall).
   */
  forwardingIdleCheck: number;
  /** Prometheus endpoint, off (null) by default; "127.0.0.1:9464" style when on. */
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
