/**
 * One descriptor per IP family for the proxy end-to-end scenarios, so that a scenario is
 * written once and declared for both families:
 *
 *   for (const fam of FAMILIES) it(`${fam.name}: leave stops forwarding after the LMQT`, () =>
 *     stage(fam, async (s) => { ... }));
 *
 * A descriptor holds the family's addresses and groups (scenario.ts `plan`), its protocol
 * versions and message types, the /proc files of its kernel state, and the readers of
 * scenario.ts (MFC, memberships, source filters, captured packets and reports, the daemon's
 * log) bound to the family.
 */
import type { Netns } from "../../src/lab/netns.js";
import type { Address, IpFamily } from "../../src/wire/types.js";
import { tsharkFields } from "./capture.js";
import type { DaemonRun, LogLine } from "./daemon.js";
import {
  type CapturedRecord,
  dataPackets,
  type FamilyPlan,
  hex6,
  isMember,
  lastUpstreamLine,
  linesOf,
  type MfcEntry,
  memberships,
  mfc,
  mfcEntry,
  plan,
  procSource,
  reportRecords,
  upstreamSourceRows,
  type WirePacket,
  waitLinkState,
  waitUpstream,
} from "./scenario.js";

/** One upstream source-filter row of a group in mcfilter form (see `Fam.filterOf`). */
export interface FilterRow {
  source: string;
  include: number;
  exclude: number;
}

type Mode = "include" | "exclude";
/** A group's state a log line must show, then the wait's timeout and the earliest log time. */
type StateArgs = [group: Address, mode: Mode, sources: Address[], timeoutMs?: number, since?: number];

export interface Fam extends FamilyPlan {
  /** "ipv4" / "ipv6": what test names say. */
  readonly name: IpFamily;
  readonly v4: boolean;
  /** "IPv4" / "IPv6": how the CLI and older test names spell the family. */
  readonly label: string;
  /** The current protocol version the daemon runs by default: IGMPv3 = 3, MLDv2 = 2. */
  readonly version: 2 | 3;
  /** The older protocol version a host can be forced to: "IGMPv2" / "MLDv1". */
  readonly older: string;
  /** The value of force_igmp_version / force_mld_version that forces `older`. */
  readonly olderForce: number;
  /** ICMP/IGMP message types: query, older-version report and leave/done, current report. */
  readonly type: { query: number; oldReport: number; oldLeave: number; report: number };
  /** The kernel's multicast routing state in /proc. */
  readonly proc: { vif: string; cache: string; mcfilter: string; mcForwarding: string };
  /** The sysctl that forces a host's protocol version on `ifname`. */
  forceVersionSysctl(ifname: string): string;
  /** `address` as a host prefix (/32, /128). */
  hostPrefix(address: Address): string;
  /** `address` in the form /proc/net/igmp(6) and mcfilter(6) print. */
  procAddress(address: Address): string;

  mfc(ns: Netns): Promise<MfcEntry[]>;
  mfcEntry(ns: Netns, source: Address, group: Address): Promise<MfcEntry | undefined>;
  /** Outgoing interfaces of the (S,G) entry, undefined without an entry. */
  oifs(ns: Netns, source: Address, group: Address): Promise<string[] | undefined>;
  memberships(ns: Netns): Promise<Map<string, Address[]>>;
  isMember(ns: Netns, ifname: string, group: Address): Promise<boolean>;
  /** The kernel's source filter of `group` on `ifname` (mcfilter rows), sorted by source. */
  filterOf(ns: Netns, ifname: string, group: Address): Promise<FilterRow[]>;
  /** The rows `filterOf` shows for one socket's `mode` filter of `sources`. */
  filter(mode: Mode, sources: Address[]): FilterRow[];

  dataPackets(file: string, port: number): Promise<WirePacket[]>;
  reportRecords(file: string): Promise<CapturedRecord[]>;
  /** The last report record for `group` in a capture. */
  lastRecord(file: string, group: Address): Promise<CapturedRecord | undefined>;
  /** Group-specific queries for `group` in a capture: time (ms) and sender. */
  groupQueries(file: string, group: Address): Promise<Array<{ at: number; from: string }>>;
  /**
   * Types of the messages about `group` a host sent (IPv4: from `host`; IPv6: every
   * report and done, which carry the host's link-local address).
   */
  hostMessageTypes(file: string, group: Address, host: Address): Promise<number[]>;

  lines(d: DaemonRun, msg?: string): LogLine[];
  lastUpstream(d: DaemonRun, group: Address): LogLine | undefined;
  /** Waits for the daemon's "upstream membership" line (scenario.ts `waitUpstream`). */
  waitUpstream(d: DaemonRun, ...state: StateArgs): Promise<LogLine>;
  /** Waits for the daemon's "link state" line of `ifname` (scenario.ts `waitLinkState`). */
  waitLinkState(d: DaemonRun, ifname: string, ...state: StateArgs): Promise<LogLine>;
}

function describeFamily(family: IpFamily): Fam {
  const v4 = family === "ipv4";
  const filter = (mode: Mode, sources: Address[]): FilterRow[] =>
    sources
      .map((s) => ({ source: procSource(family, s), include: mode === "include" ? 1 : 0, exclude: mode === "exclude" ? 1 : 0 }))
      .sort((a, b) => a.source.localeCompare(b.source));
  const fam: Fam = {
    ...plan(family),
    name: family,
    v4,
    older: v4 ? "IGMPv2" : "MLDv1",
    olderForce: v4 ? 2 : 1,
    label: v4 ? "IPv4" : "IPv6",
    version: v4 ? 3 : 2,
    type: v4
      ? { query: 0x11, oldReport: 0x16, oldLeave: 0x17, report: 0x22 }
      : { query: 130, oldReport: 131, oldLeave: 132, report: 143 },
    proc: {
      vif: `/proc/net/${v4 ? "ip" : "ip6"}_mr_vif`,
      cache: `/proc/net/${v4 ? "ip" : "ip6"}_mr_cache`,
      mcfilter: v4 ? "/proc/net/mcfilter" : "/proc/net/mcfilter6",
      mcForwarding: `/proc/sys/net/${family}/conf/all/mc_forwarding`,
    },
    forceVersionSysctl: (ifname) =>
      v4 ? `net.ipv4.conf.${ifname}.force_igmp_version` : `net.ipv6.conf.${ifname}.force_mld_version`,
    hostPrefix: (a) => (v4 ? `${a}/32` : `${a}/128`),
    procAddress: (a) => (v4 ? a : hex6(a)),

    mfc: (ns) => mfc(ns, family),
    mfcEntry: (ns, s, g) => mfcEntry(ns, family, s, g),
    oifs: async (ns, s, g) => (await mfcEntry(ns, family, s, g))?.oifs,
    memberships: (ns) => memberships(ns, family),
    isMember: (ns, ifname, g) => isMember(ns, family, ifname, g),
    filterOf: async (ns, ifname, g) =>
      (await upstreamSourceRows(ns, family, ifname, g))
        .map((r) => ({ source: r.source, include: r.include, exclude: r.exclude }))
        .sort((a, b) => a.source.localeCompare(b.source)),
    filter,

    dataPackets: (file, port) => dataPackets(file, family, port),
    reportRecords: (file) => reportRecords(file, family),
    lastRecord: async (file, g) => (await reportRecords(file, family)).filter((r) => r.group === g).at(-1),
    groupQueries: async (file, g) => {
      const rows = await tsharkFields(
        file,
        v4 ? `igmp.type == 0x11 && igmp.maddr == ${g}` : `icmpv6.type == 130 && icmpv6.mld.multicast_address == ${g}`,
        ["frame.time_epoch", v4 ? "ip.src" : "ipv6.src"],
      );
      return rows.map(([t, from]) => ({ at: Number(t) * 1000, from: from ?? "" }));
    },
    hostMessageTypes: async (file, g, host) => {
      const rows = v4
        ? await tsharkFields(file, `igmp && ip.src == ${host}`, ["igmp.type", "igmp.maddr"])
        : await tsharkFields(file, "icmpv6.type == 131 || icmpv6.type == 132 || icmpv6.type == 143", [
            "icmpv6.type",
            "icmpv6.mld.multicast_address",
            "icmpv6.mldr.mar.multicast_address",
          ]);
      return rows
        .filter((m) => m[1] === g || (!v4 && (m[2] ?? "").split(",").includes(g)))
        .map((m) => Number(m[0]));
    },

    lines: (d, msg) => linesOf(d, family, msg),
    lastUpstream: (d, g) => lastUpstreamLine(d, family, g),
    waitUpstream: (d, ...state) => waitUpstream(d, family, ...state),
    waitLinkState: (d, ifname, ...state) => waitLinkState(d, family, ifname, ...state),
  };
  return fam;
}

export const IPV4: Fam = describeFamily("ipv4");
export const IPV6: Fam = describeFamily("ipv6");
/** Both families, IPv4 first: declare a scenario once per entry. */
export const FAMILIES: readonly Fam[] = [IPV4, IPV6];
