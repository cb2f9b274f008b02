/**
 * One address family of the proxy (IPv4 with IGMP, or IPv6 with MLD), wired together:
 *
 *   report socket per link --packets--> router engine per downstream link --forwarding effects-->
 *   membership database --merged state--> membership sockets of the group's upstream (kernel host part)
 *                       \--> forwarding planner --> kernel MFC
 *   mroute socket --upcalls--> forwarding planner --> kernel MFC
 *   (IPv4: the mroute socket also delivers the few IGMP packets only it receives)
 *
 * The two families never share state. Links are attached (VIF + router engine) when their
 * interface exists, is up and has an address of the family, and detached when that stops
 * being true: interfaces may appear late, vanish and come back (PPPoE, DHCP). With
 * `default-downstream` (igmpproxy `defaultdown`) every other interface that can do
 * multicast and has an address of the family becomes a downstream link while it does
 * ("default" links, created and dropped as interfaces come and go).
 */
import type { Scheduler } from "../clock/index.js";
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../config/types.js";
import { KernelError } from "../kernel/errors.js";
import type { MrouteSocket, ReceivedPacket, Upcall } from "../kernel/mroute-socket.js";
import type { MrouteTable } from "../kernel/mroute-table.js";
import type { OpenReportSocket, ReportSocket } from "../kernel/report-socket.js";
import type { SourceFilterSocketsOptions } from "../kernel/source-filters.js";
import type { SgCounters } from "../kernel/structs/mroute.js";
import {
  type ForwardingEffect,
  type ForwardingEntry,
  type ForwardingLinks,
  ForwardingPlanner,
} from "../proxy/forwarding.js";
import { IdleMonitor } from "../proxy/idle.js";
import { MembershipDatabase, type SourceFilterState } from "../proxy/membership.js";
import { type StaticEntry, staticLinkStates } from "../proxy/static-groups.js";
import { LinkRouter, type RouterEffect } from "../router/index.js";
import type { Logger } from "../util/log.js";
import { Throttle } from "../util/throttle.js";
import { CidrSet, compareAddresses, isLinkLocalGroup, sgKey } from "../wire/address.js";
import { serialize } from "../wire/index.js";
import type { Address, IpFamily } from "../wire/types.js";
import { classifyIngress, type IngressContext, type IngressLink, UPSTREAM_PACKET_TYPES } from "./ingress.js";
import { canBeDefaultDownstream, type InterfaceTable, protocolAddress, subnets } from "./interfaces.js";
import { acceptedSources, defaultLink, familyLinks, ignoredGroups, routerConfig } from "./router-config.js";
import {
  type FamilyCounters,
  type FamilySnapshot,
  type ForwardingSnapshot,
  MROUTE_SOCKET_NAME,
  type SnapshotOptions,
} from "./snapshot.js";
import { UpstreamQueriers } from "./upstream-queriers.js";
import { Upstreams } from "./upstreams.js";

export type { FamilyCounters } from "./snapshot.js";

interface LinkRuntime extends IngressLink {
  cfg: InterfaceConfig;
  settings: ProtocolSettings;
  /** Set while attached (the VIF is the table's: `table.vifOf(name)`). */
  ifindex: number | null;
  /** The link's report socket, while attached (null if it could not be opened). */
  socket: ReportSocket | null;
  router: LinkRouter | null;
  querier: boolean;
  address: Address | null;
  subnets: string[];
  /** When the link was attached (scheduler ms): its up-time in status. */
  attachedAt?: number | undefined;
  /** "Beyond the adoption bounds" warnings of this link, at most one per interval. */
  clampWarnings: Throttle;
  /** Static groups held on the link and since when (scheduler ms): their up-time in status. */
  staticSince: Map<Address, number>;
  /** A default downstream (default-downstream): exists while its interface qualifies. */
  isDefault: boolean;
  /** Its last attach found no free VIF (counted once as vif-limit until it attaches). */
  noVif: boolean;
}

function newLinkRuntime(
  cfg: InterfaceConfig,
  settings: ProtocolSettings,
  now: () => number,
  isDefault = false,
): LinkRuntime {
  return {
    name: cfg.name,
    role: cfg.role,
    cfg,
    settings,
    ifindex: null,
    socket: null,
    router: null,
    querier: false,
    address: null,
    subnets: [],
    clampWarnings: new Throttle(now),
    staticSince: new Map(),
    isDefault,
    noVif: false,
  };
}

export interface FamilyDeps {
  family: IpFamily;
  config: ImproxyConfig;
  log: Logger;
  scheduler: Scheduler;
  interfaces: InterfaceTable;
  /** The family's mroute socket (upcalls, queries; IPv4: the packets only it receives). */
  socket: MrouteSocket;
  /** VIFs and MFC on that socket, by link name. */
  table: MrouteTable;
  /** Opens an attached link's report socket (packets; report-group joins downstream). */
  openReportSocket: OpenReportSocket;
  /** Upstream membership sockets' limits and syscalls (tests); default: sysctls and the addon. */
  upstreamSockets?: SourceFilterSocketsOptions;
  /** Continues a long upstream batch after pending I/O (the daemon: setImmediate). */
  yieldTo?: (fn: () => void) => void;
  /** An upstream interface's force_igmp_version / force_mld_version (tests); default: the sysctl. */
  forcedVersion?: (ifname: string) => number | null;
}

/** Why an IPv6 link waits right after its interface came up (RFC 4862 §5.4). */
const DAD_WAIT = "has its IPv6 link-local address in duplicate address detection";

/** RFC 4605 §4.2: the proxy forwards onto a downstream link only where it is the querier (unless configured otherwise). */
function isForwarded(l: LinkRuntime): boolean {
  return l.ifindex !== null && l.cfg.role === "downstream" && (l.querier || l.cfg.forwardWhenNotQuerier);
}

export class FamilyProxy {
  readonly family: IpFamily;
  private readonly log: Logger;
  private readonly links = new Map<string, LinkRuntime>();
  private readonly db = new MembershipDatabase();
  private readonly fwd: ForwardingPlanner;
  /** The host part on each upstream link; each group goes to the upstream that serves it. */
  private readonly upstreams: Upstreams;
  /** The querier heard on each upstream link (the version the kernel reports in there). */
  private readonly upstreamQueriers: UpstreamQueriers;
  private ignored: CidrSet;
  /** Sources accepted from each upstream (its `sources` of this family); null: every source. */
  private accepted: Map<string, CidrSet | null>;
  private ownCache: Set<Address> | null = null;
  private config: ImproxyConfig;
  private readonly idle: IdleMonitor<ForwardingEntry>;
  /** Set by close(): router effects are no longer applied. */
  private closing = false;
  /** A receive socket filter was refused and that was logged (once per family). */
  private filterWarned = false;
  /** Scheduler time of the last "forwarding table full" warning. */
  private readonly mfcLimitWarnings: Throttle;
  /** Scheduler time each (S,G) (sgKey) was installed in the kernel's MFC (`show routes` UPTIME). */
  private readonly installedAt = new Map<string, number>();
  private readonly now = (): number => this.deps.scheduler.now();
  /** What ingress classification asks of this family (built once, not per packet). */
  private readonly ingress: IngressContext;
  readonly counters: FamilyCounters = {
    packetsReceived: 0,
    ownPackets: 0,
    upstreamPackets: 0,
    upstreamPacketsByType: Object.fromEntries(UPSTREAM_PACKET_TYPES.map((t) => [t, 0])) as FamilyCounters["upstreamPacketsByType"],
    unconfiguredInterface: 0,
    parseErrors: {},
    upcalls: {},
    kernelErrors: 0,
    querierChanges: {},
    upstreamLimit: 0,
    mfcLimit: 0,
    upstreamSourceRefused: 0,
    noUpstream: 0,
    wrongUpstream: 0,
    vifLimit: 0,
  };
  /** "No VIF left" warnings, at most one per interval. */
  private readonly vifLimitWarnings: Throttle;
  /** A link could not attach for want of a VIF: retried when one is freed. */
  private waitingForVif = false;

  constructor(private readonly deps: FamilyDeps) {
    this.family = deps.family;
    this.mfcLimitWarnings = new Throttle(this.now);
    this.vifLimitWarnings = new Throttle(this.now);
    this.ingress = {
      family: deps.family,
      isOwnAddress: (a) => this.ownAddresses().has(a),
      attachedLink: (ifindex) => {
        const name = deps.interfaces.nameOf(ifindex);
        const link = name === undefined ? undefined : this.links.get(name);
        return link?.ifindex === ifindex ? link : undefined;
      },
    };
    this.log = deps.log.child({ family: deps.family });
    this.config = deps.config;
    for (const [name, { cfg, settings }] of familyLinks(this.config, this.family)) {
      this.links.set(name, newLinkRuntime(cfg, settings, this.now));
    }
    this.ignored = new CidrSet(ignoredGroups(this.config, this.family));
    this.accepted = acceptedSources(this.config, this.family);
    this.upstreams = new Upstreams({
      family: this.family,
      log: this.log,
      scheduler: deps.scheduler,
      config: () => this.config,
      merged: this.db,
      onLimit: () => {
        this.counters.upstreamLimit++;
      },
      onUnserved: () => {
        this.counters.noUpstream++;
      },
      ...(deps.upstreamSockets ? { sockets: deps.upstreamSockets } : {}),
      ...(deps.yieldTo ? { yieldTo: deps.yieldTo } : {}),
    });
    this.upstreamQueriers = new UpstreamQueriers({
      family: this.family,
      log: this.log,
      scheduler: deps.scheduler,
      ...(deps.forcedVersion ? { forcedVersion: deps.forcedVersion } : {}),
    });
    const links: ForwardingLinks = {
      isUpstream: (name) => this.links.get(name)?.cfg.role === "upstream",
      upstreamOf: (group) => this.upstreams.of(group),
      canForwardTo: (name) => {
        const l = this.links.get(name);
        // RFC 4605 §4.2: forward onto a downstream link only where we are the querier.
        return l !== undefined && isForwarded(l);
      },
      downToUp: (name) => this.links.get(name)?.cfg.downToUp ?? false,
      forwardable: (group) => !isLinkLocalGroup(group, this.family) && !this.ignored.has(group),
      // The link's router holds its source policy (it exists while the link is attached,
      // which canForwardTo requires).
      sourceAllowed: (name, source, group) => this.links.get(name)?.router?.sourceAllowed(group, source) ?? true,
      acceptsSource: (source, iif) => this.acceptsSource(source, iif),
    };
    this.fwd = new ForwardingPlanner(this.db, links, { maxEntries: () => this.config.maxForwardingEntries });
    deps.socket.onPacket((p) => this.onPacket(p));
    deps.socket.onUpcall((u) => this.onUpcall(u));
    this.warnUnfiltered(deps.socket.filterError);
    this.idle = new IdleMonitor({
      scheduler: deps.scheduler,
      // forwarding-idle-check, read at every arming: a reload applies from the next check.
      intervalMs: () => this.config.forwardingIdleCheck * 1000,
      entries: () => this.fwd.all(),
      // Entries without outgoing link only stop repeated upcalls: they go sooner.
      beforeCheck: () => this.apply(this.fwd.expireUnwanted()),
      counters: (source, group) => this.deps.table.routeCounters(source, group),
      onStale: (e, reason) => {
        if (reason === "idle") this.log.debug({ source: e.source, group: e.group }, "forwarding entry idle, removed");
        else
          this.log.info(
            { source: e.source, group: e.group, iif: e.iif },
            "source no longer arrives on the incoming link; forwarding entry removed to re-learn it",
          );
        this.apply(this.fwd.forget(e.source, e.group));
      },
    });
    this.idle.start();
  }

  /**
   * Applies a new configuration (reload) without disturbing what did not change: links
   * that stay keep their VIF, router state and forwarding; their routers take the new
   * timer values (LinkRouter.setConfig). Removed links (or links whose role changed) are
   * detached, added ones attached as soon as their interface is usable; a link whose
   * ttl-threshold changed is re-attached (a VIF's threshold is fixed when it is added).
   * Default downstreams follow the new template, or go when there is none any more.
   */
  applyConfig(config: ImproxyConfig): void {
    const next = familyLinks(config, this.family);
    const nextDefault = (name: string) => (next.has(name) ? undefined : defaultLink(config, this.family, name));
    for (const [name, link] of [...this.links]) {
      const n = next.get(name) ?? (link.isDefault ? nextDefault(name) : undefined);
      if (n && n.cfg.role === link.cfg.role) continue;
      this.removeLink(link, "removed from the configuration", true);
    }
    this.config = config;
    this.accepted = acceptedSources(config, this.family);
    this.upstreams.reconfigure(config);
    for (const [name, link] of this.links) {
      const n = next.get(name) ?? nextDefault(name)!;
      link.isDefault = !next.has(name);
      const thresholdChanged = n.cfg.ttlThreshold !== link.cfg.ttlThreshold;
      link.cfg = n.cfg;
      if (JSON.stringify(link.settings) !== JSON.stringify(n.settings)) {
        link.settings = n.settings;
        link.router?.setConfig(routerConfig(n.settings));
        // Static groups as the file now says (the router's new source policy applies).
        if (link.router) this.applyStatic(link, n.settings.staticGroups);
      }
      if (thresholdChanged && link.ifindex !== null) this.detach(link, "ttl-threshold changed by reload", true);
    }
    for (const [name, n] of next) {
      if (this.links.has(name)) continue;
      this.links.set(name, newLinkRuntime(n.cfg, n.settings, this.now));
    }
    this.ignored = new CidrSet(ignoredGroups(config, this.family));
    this.apply(this.fwd.refreshAll());
    this.reconcileAll();
  }

  /** Detaches a link and forgets it (a reload's removals are logged by the daemon's reload report). */
  private removeLink(link: LinkRuntime, why: string, planned = false): void {
    if (link.ifindex !== null) this.detach(link, why, planned);
    this.links.delete(link.name);
    if (link.isDefault) this.log.info({ interface: link.name }, "default downstream removed");
  }

  /** Brings every link, and every interface that may be a default downstream, up to date. */
  reconcileAll(): void {
    for (const name of new Set([...this.links.keys(), ...this.deps.interfaces.names()])) this.reconcile(name);
  }

  /** Names of the links this family manages. */
  linkNames(): string[] {
    return [...this.links.keys()];
  }

  /** Brings a link's attachment in line with its interface's state. */
  reconcile(name: string): void {
    this.ownCache = null;
    const st = this.deps.interfaces.get(name);
    const address = protocolAddress(st, this.family);
    let link = this.links.get(name);
    const qualifies = st?.up === true && address !== null && canBeDefaultDownstream(st);
    if (link?.isDefault && !qualifies) {
      // A default downstream exists while its interface can be one: up, addressed, multicast.
      this.removeLink(
        link,
        !st ? "interface gone" : !st.up ? "interface down" : address === null ? "no address" : "cannot do multicast",
      );
      return;
    }
    if (!link) {
      const d = qualifies ? defaultLink(this.config, this.family, name) : undefined;
      if (!d) return;
      link = newLinkRuntime(d.cfg, d.settings, this.now, true);
      this.links.set(name, link);
      this.log.info({ interface: name }, "default downstream added");
    }
    const why = !st ? "interface gone" : !st.up ? "interface down" : address === null ? "no address" : null;
    if (link.ifindex !== null && (why !== null || st?.ifindex !== link.ifindex)) {
      this.detach(link, why ?? "ifindex changed");
    }
    if (!st || address === null || why !== null) return;
    if (link.ifindex === null) {
      this.attach(link, st.ifindex, address);
      return;
    }
    const nets = subnets(st, this.family);
    if (address === link.address && nets.join() === link.subnets.join()) return;
    // Logged as what changed: the protocol address (queries' source), or only the on-link
    // prefixes (a second address added: the hosts' sources accepted on the link).
    if (address !== link.address)
      this.log.info({ interface: name, address, previous: link.address }, "interface address changed");
    else this.log.info({ interface: name, subnets: nets, previous: link.subnets }, "interface prefixes changed");
    link.address = address;
    link.subnets = nets;
    link.router?.setAddresses(address, nets);
  }

  /** Logs which configured interfaces are not usable yet (at start), and why. */
  reportWaiting(): void {
    for (const link of this.links.values()) {
      const why = this.waitingReason(link);
      if (why === null) continue;
      const fields = { interface: link.name, role: link.cfg.role, why };
      // A link-local address still in DAD is a second's wait at every start, not a problem.
      if (why === DAD_WAIT) this.log.info(fields, `interface ${why}; waiting for it`);
      else this.log.warn(fields, `interface ${why}; waiting for it`);
    }
  }

  /**
   * Why a link is not attached, in words for the log and `show interfaces`; null when
   * attached. Checked in the order the attach needs them.
   */
  private waitingReason(link: LinkRuntime): string | null {
    if (link.ifindex !== null) return null;
    const st = this.deps.interfaces.get(link.name);
    if (!st) return "does not exist";
    if (!st.up) return "is down";
    if (protocolAddress(st, this.family) === null) {
      if (this.family === "ipv4") return "has no IPv4 address";
      const dad = st.addresses.some((a) => a.family === "ipv6" && a.scope === "link" && a.tentative);
      return dad ? DAD_WAIT : "has no IPv6 link-local address";
    }
    if (link.noVif) return "has no free VIF (the kernel's 32 are in use)";
    return "could not be attached (see the log)";
  }

  private attach(link: LinkRuntime, ifindex: number, address: Address): void {
    const { table } = this.deps;
    let vif: number;
    try {
      vif = table.addVif(link.name, ifindex, link.cfg.ttlThreshold);
    } catch (err) {
      if (err instanceof KernelError && err.code === "ENFILE") {
        // The kernel's 32 VIFs / MIFs are in use (default downstreams can be any number):
        // counted; the link attaches at its next change once one is free.
        if (!link.noVif) this.counters.vifLimit++;
        link.noVif = true;
        this.waitingForVif = true;
        if (this.vifLimitWarnings.pass() !== null)
          this.log.warn({ interface: link.name, err: err.message }, "no VIF left for the interface; not attached");
        return;
      }
      this.counters.kernelErrors++;
      this.log.error(
        { interface: link.name, err: (err as Error).message },
        "cannot add the interface to multicast routing",
      );
      return;
    }
    link.ifindex = ifindex;
    link.noVif = false;
    link.attachedAt = this.deps.scheduler.now();
    link.address = address;
    link.subnets = subnets(this.deps.interfaces.get(link.name), this.family);
    this.log.info({ interface: link.name, role: link.cfg.role, ifindex, vif, address }, "interface attached");
    this.openReportSocket(link, ifindex);
    if (link.cfg.role === "upstream") {
      this.upstreamQueriers.attach(link.name);
      this.upstreams.attach(link.name, ifindex);
    } else {
      link.router = new LinkRouter({
        family: this.family,
        ifname: link.name,
        config: routerConfig(link.settings),
        scheduler: this.deps.scheduler,
        onEffect: (e) => this.onRouterEffect(link, e),
        ownAddress: address,
        subnets: link.subnets,
      });
      link.router.start();
      this.applyStatic(link, link.settings.staticGroups);
    }
    this.apply(this.fwd.refreshAll());
  }

  /**
   * Opens the link's report socket (its packets; the report groups on a downstream). A
   * failure is logged and counted; the link stays attached without it, deaf, as a link
   * whose report-group join failed always was.
   */
  private openReportSocket(link: LinkRuntime, ifindex: number): void {
    try {
      link.socket = this.deps.openReportSocket({
        ifindex,
        joinReportGroups: link.cfg.role === "downstream",
        onPacket: (p) => this.onPacket(p),
      });
      this.warnUnfiltered(link.socket.filterError);
    } catch (err) {
      this.counters.kernelErrors++;
      this.log.error({ interface: link.name, err: (err as Error).message }, "cannot open the interface's report socket");
    }
  }

  /** Closes the link's report socket (leaving its report groups). */
  private closeReportSocket(link: LinkRuntime): void {
    const sock = link.socket;
    link.socket = null;
    try {
      sock?.close();
    } catch (err) {
      this.log.debug({ interface: link.name, err: (err as Error).message }, "closing the report socket failed");
    }
  }

  /**
   * The kernel refused a receive socket filter: the socket reads the copies meant for the
   * other sockets and discards them (counted in status). Logged once per family.
   */
  private warnUnfiltered(err: KernelError | null): void {
    if (err === null || this.filterWarned) return;
    this.filterWarned = true;
    this.log.warn(
      { err: err.message },
      "the kernel refused a receive socket filter: packets meant for another socket are read and discarded (counted in status)",
    );
  }

  /**
   * Detaches a link. Logged at warn when the interface went away under the daemon (gone,
   * down, renumbered), at info when the configuration asked for it.
   */
  private detach(link: LinkRuntime, why: string, planned = false): void {
    const { table } = this.deps;
    const fields = { interface: link.name, role: link.cfg.role, why };
    if (planned) this.log.info(fields, "interface detached");
    else this.log.warn(fields, "interface detached");
    this.closeReportSocket(link);
    if (link.router) {
      // Stopping emits INCLUDE {} for every group: the merge and the MFC follow. The static
      // groups leave with the link and come back when it re-attaches.
      link.router.stop();
      this.applyStatic(link, []);
      link.router = null;
      link.querier = false;
    }
    if (link.cfg.role === "upstream") {
      this.upstreams.detach(link.name);
      this.upstreamQueriers.detach(link.name);
    }
    this.apply(this.fwd.dropIncoming(link.name));
    try {
      table.delVif(link.name);
    } catch (err) {
      this.log.debug({ interface: link.name, err: (err as Error).message }, "VIF already gone");
    }
    link.ifindex = null;
    link.attachedAt = undefined;
    link.address = null;
    this.apply(this.fwd.refreshAll());
    if (this.waitingForVif) {
      // A VIF is free: the links that found none try again (after the caller is done).
      this.waitingForVif = false;
      this.deps.scheduler.at(this.now(), () => {
        if (!this.closing) for (const l of [...this.links.values()]) if (l.ifindex === null) this.reconcile(l.name);
      });
    }
  }

  /**
   * Puts `entries`, the link's static groups (RFC 8652 `static-group`), into the merge as a
   * permanent listener of the link (src/proxy/static-groups.ts), under the link's source
   * policy; what is no longer listed leaves. Changed merges go upstream (joined at start,
   * with no host asking) and the group's forwarding entries are recomputed, so a static
   * group's traffic flows onto the link before any report.
   */
  private applyStatic(link: LinkRuntime, entries: readonly StaticEntry[]): void {
    const router = link.router;
    const states = new Map<Address, SourceFilterState>();
    for (const [group, state] of staticLinkStates(entries)) {
      const policed = router ? router.policedState(group, state) : state;
      if (policed.filterMode === "exclude" || policed.sources.length > 0) states.set(group, policed);
    }
    const changed = this.db.setStaticStates(link.name, states);
    if (changed.length === 0) return;
    const now = this.deps.scheduler.now();
    const added: Address[] = [];
    const removed: Address[] = [];
    for (const group of states.keys()) {
      if (link.staticSince.has(group)) continue;
      link.staticSince.set(group, now);
      added.push(group);
    }
    for (const group of [...link.staticSince.keys()]) {
      if (states.has(group)) continue;
      link.staticSince.delete(group);
      removed.push(group);
    }
    if (added.length > 0 || removed.length > 0) {
      this.log.info({ interface: link.name, added, removed }, "static groups");
    }
    for (const { group, merged } of changed) {
      if (merged) this.upstreams.set(group, merged);
      this.apply(this.fwd.refreshGroup(group));
    }
  }

  private onRouterEffect(link: LinkRuntime, e: RouterEffect): void {
    if (this.closing) return;
    switch (e.type) {
      case "send": {
        if (link.ifindex === null) return;
        try {
          const bytes = serialize(this.family, e.query);
          if (this.log.isLevelEnabled("trace"))
            this.log.trace({ interface: link.name, destination: e.destination, message: e.query }, "sending");
          // The source is always the link's own address, given explicitly. For MLD it must
          // be the link-local one (RFC 9777 §5: MLD messages from other sources are
          // ignored, and Linux hosts drop such queries): left to the kernel, a Q(G) to a
          // site- or global-scope group gets a global source address, the remaining hosts
          // never answer it and their stream stops after the Last Listener Query Time.
          this.deps.socket.sendQuery(link.ifindex, bytes, e.destination, link.address ?? undefined);
        } catch (err) {
          this.counters.kernelErrors++;
          this.log.warn({ interface: link.name, err: (err as Error).message }, "cannot send query");
        }
        return;
      }
      case "forwarding": {
        const merged = this.db.setLinkState(link.name, e.group, {
          filterMode: e.filterMode,
          sources: e.sources,
        });
        this.log.debug(
          { interface: link.name, group: e.group, mode: e.filterMode, sources: e.sources },
          "link state",
        );
        // Queued upstream (UpstreamHost applies it at the allowed rate, and logs
        // "upstream membership" once the kernel holds it).
        if (merged) this.upstreams.set(e.group, merged, link.name);
        this.apply(this.fwd.refreshGroup(e.group));
        return;
      }
      case "querier": {
        if (link.querier === e.querier) return;
        link.querier = e.querier;
        this.counters.querierChanges[link.name] = (this.counters.querierChanges[link.name] ?? 0) + 1;
        this.logQuerierStatus(link, e.querier, e.querierAddress);
        this.apply(this.fwd.refreshAll());
        return;
      }
    }
  }

  /**
   * The querier election on a downstream link went one way or the other (RFC 9776 §6.6.2,
   * RFC 9777 §7.6.2). Losing it with forward-when-not-querier off stops all traffic onto the
   * link (RFC 4605 §4.2): a warning that names the other querier and the setting.
   */
  private logQuerierStatus(link: LinkRuntime, querier: boolean, querierAddress: Address | null): void {
    const fields = { interface: link.name, querier, querierAddress };
    if (querier) {
      this.log.info(fields, "querier status");
      return;
    }
    if (link.cfg.forwardWhenNotQuerier) {
      this.log.info({ ...fields, forwarding: true, setting: "forward-when-not-querier" }, "querier status");
      return;
    }
    this.log.warn(
      { ...fields, setting: "forward-when-not-querier" },
      `${querierAddress ?? "another router"} won the querier election on ${link.name} (lower address): ` +
        `no multicast is forwarded onto ${link.name} while it is the querier (RFC 4605 §4.2); ` +
        `set forward-when-not-querier: true for ${link.name}, or give this router the lowest address on the link`,
    );
  }

  private ownAddresses(): Set<Address> {
    this.ownCache ??= this.deps.interfaces.ownAddresses(this.family);
    return this.ownCache;
  }

  private onPacket(p: ReceivedPacket): void {
    this.counters.packetsReceived++;
    const c = this.counters;
    const r = classifyIngress(p, this.ingress);
    switch (r.kind) {
      case "own":
        c.ownPackets++;
        return;
      case "unconfigured-interface":
        c.unconfiguredInterface++;
        return;
      case "upstream":
        // Queries (whatever their Max Resp Code, QRV, QQIC or S flag), reports and leaves
        // of the upstream link: the kernel's host stack answers there (RFC 4605 §4.1), so
        // they create no state here; counted by type, logged at debug only (a flood of
        // them must not flood the log).
        c.upstreamPackets++;
        c.upstreamPacketsByType[r.type]++;
        if (r.query) this.upstreamQueriers.heard(r.link.name, p.source, r.query);
        this.log.debug(
          {
            interface: r.link.name,
            source: p.source,
            destination: p.destination,
            type: p.payload[0],
            kind: r.type,
            upstreamPackets: c.upstreamPackets,
          },
          "ignored on the upstream interface",
        );
        return;
      case "parse-error":
        c.parseErrors[r.reason] = (c.parseErrors[r.reason] ?? 0) + 1;
        this.log.debug({ interface: r.link.name, source: p.source, reason: r.reason, detail: r.detail }, "dropped");
        return;
      case "message": {
        // -d 5 (trace): every message as decoded, before the router sees it.
        if (this.log.isLevelEnabled("trace"))
          this.log.trace(
            { interface: r.link.name, source: p.source, destination: p.destination, message: r.message, meta: r.meta },
            "received",
          );
        const link = this.links.get(r.link.name);
        link?.router?.handle(r.message, r.meta);
        if (link && r.message.type === "query") this.warnClampedAdoption(link, p.source);
        return;
      }
    }
  }

  /**
   * Another querier advertised a robustness variable or query interval beyond the adoption
   * bounds: logged once per link and interval (a spoofed query could otherwise make the
   * link non-querier for hours; the router adopted only the clamped values).
   */
  private warnClampedAdoption(link: LinkRuntime, from: Address): void {
    const clamped = link.router?.clampedAdoption;
    if (!clamped) return;
    if (link.clampWarnings.pass() === null) return;
    this.log.warn(
      {
        interface: link.name,
        querier: from,
        advertisedRobustness: clamped.robustness,
        advertisedQueryInterval: clamped.queryIntervalMs / 1000,
        maxAdoptedRobustness: link.settings.maxAdoptedRobustness,
        maxAdoptedQueryInterval: link.settings.maxAdoptedQueryInterval,
      },
      "another querier advertises timers beyond max-adopted-robustness / max-adopted-query-interval; adopted the bounds",
    );
  }

  private onUpcall(u: Upcall): void {
    this.counters.upcalls[u.type] = (this.counters.upcalls[u.type] ?? 0) + 1;
    if (u.type === "wholepkt") return;
    const name = this.deps.table.linkOfVif(u.vif);
    const link = name === null ? undefined : this.links.get(name);
    if (!link) return;
    this.log.debug({ type: u.type, source: u.source, group: u.group, iif: link.name }, "upcall");
    if (this.fwd.wrongUpstream(u.group, link.name)) {
      // RFC 4605 §4: one upstream per group; G's data from another upstream goes nowhere.
      this.counters.wrongUpstream++;
      this.log.debug(
        { source: u.source, group: u.group, iif: link.name, upstream: this.upstreams.of(u.group) },
        "data from an upstream that does not serve the group: not forwarded",
      );
    } else if (!this.acceptsSource(u.source, link.name)) {
      this.counters.upstreamSourceRefused++;
      this.log.debug(
        { source: u.source, group: u.group, iif: link.name },
        "source not among the upstream's sources (altnet): not forwarded",
      );
    }
    const refused = this.fwd.refused;
    this.apply(this.fwd.learn(u.source, u.group, link.name));
    if (this.fwd.refused === refused) return;
    this.counters.mfcLimit = this.fwd.refused;
    if (this.mfcLimitWarnings.pass() === null) return;
    this.log.warn(
      { maxForwardingEntries: this.config.maxForwardingEntries, refused: this.fwd.refused },
      "forwarding table full: new flows are not installed (max-forwarding-entries)",
    );
  }

  /**
   * Whether data from `source` on link `iif` may be forwarded: data from an upstream only
   * from its `sources` (igmpproxy `altnet`) of this family, when it lists any.
   */
  private acceptsSource(source: Address, iif: string): boolean {
    return this.accepted.get(iif)?.has(source) ?? true;
  }

  /** Applies forwarding effects to the kernel's MFC. */
  private apply(effects: ForwardingEffect[]): void {
    const { table } = this.deps;
    for (const e of effects) {
      try {
        if (e.type === "mfc-del") {
          this.idle.forget(e.source, e.group);
          table.delRoute(e.source, e.group);
          this.installedAt.delete(sgKey(e.source, e.group));
          continue;
        }
        const k = sgKey(e.entry.source, e.entry.group);
        if (!table.setRoute(e.entry.source, e.entry.group, e.entry.iif, e.entry.oifs)) {
          this.installedAt.delete(k);
          continue;
        }
        // An entry replaced in place (new outgoing links) keeps its install time.
        if (!this.installedAt.has(k)) this.installedAt.set(k, this.now());
        this.log.debug(
          { source: e.entry.source, group: e.entry.group, iif: e.entry.iif, oifs: e.entry.oifs },
          "mfc",
        );
      } catch (err) {
        this.counters.kernelErrors++;
        this.log.warn({ effect: e.type, err: (err as Error).message }, "forwarding update failed");
      }
    }
  }

  /**
   * Removes everything this family created in the kernel, with work bounded by the links
   * and sockets, not by the groups or flows (docs/kernel.md): routers stop without their
   * INCLUDE {} going through the merge; closing the upstream membership sockets drops
   * every membership; MRT_DONE and closing the mroute socket flush the MFC, so no entry
   * is deleted one by one.
   */
  close(): void {
    this.closing = true;
    this.idle.stop();
    for (const link of this.links.values()) {
      if (link.ifindex !== null)
        this.log.info({ interface: link.name, role: link.cfg.role, why: "stopping" }, "interface detached");
      link.router?.stop(); // its timers; the effects it emits are ignored (closing)
      link.router = null;
      link.querier = false;
    }
    this.upstreams.close();
    this.upstreamQueriers.close();
    // Report sockets (with their report groups), then VIFs, then the mroute socket
    // (MRT_DONE): each is attempted, the first error is thrown afterwards.
    const { socket, table } = this.deps;
    let first: unknown;
    const closeReportSockets = [...this.links.values()].map((link) => () => {
      const sock = link.socket;
      link.socket = null;
      sock?.close();
    });
    for (const step of [...closeReportSockets, () => table.clear(), () => socket.close()]) {
      try {
        step();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  /** The forwarding entries with the kernel's counters (FamilySnapshotSource.forwardingCounters). */
  forwardingCounters(): ForwardingSnapshot[] {
    return this.forwardingEntries(true);
  }

  /**
   * The forwarding entries with their upstream, install time and, where `withCounters`
   * says so, the kernel's counters (best effort: an entry may vanish meanwhile).
   */
  private forwardingEntries(withCounters: SnapshotOptions["sgCounters"]): ForwardingSnapshot[] {
    const { table, scheduler } = this.deps;
    const now = scheduler.now();
    return this.fwd.all().map((e) => {
      let kernel: SgCounters | null = null;
      if (typeof withCounters === "function" ? withCounters(e) : withCounters) {
        try {
          kernel = table.routeCounters(e.source, e.group);
        } catch {
          // the entry vanished meanwhile
        }
      }
      const installed = this.installedAt.get(sgKey(e.source, e.group));
      const upTimeMs = installed === undefined ? null : now - installed;
      return { ...e, upstream: this.upstreams.of(e.group), kernel, upTimeMs };
    });
  }

  /**
   * Read-only view for status, metrics and tests. `vifCounters` / `sgCounters` add the
   * kernel's per-VIF and per-(S,G) counters (one ioctl each: for the control socket and
   * metrics scrapes, not the hot path).
   */
  snapshot(opts: SnapshotOptions = {}): FamilySnapshot {
    const { table, scheduler } = this.deps;
    const now = scheduler.now();
    /** Kernel counters are best effort in a snapshot: an entry may vanish meanwhile. */
    const read = <T>(wanted: boolean | undefined, f: () => T | null): T | null => {
      if (!wanted) return null;
      try {
        return f();
      } catch {
        return null;
      }
    };
    return {
      family: this.family,
      links: [...this.links.values()].map((l) => ({
        name: l.name,
        role: l.cfg.role,
        ifindex: l.ifindex,
        vif: table.vifOf(l.name),
        address: l.address,
        querier: l.querier,
        forwarded: isForwarded(l),
        waitingReason: this.waitingReason(l),
        upstreamQuerier: l.cfg.role === "upstream" ? this.upstreamQueriers.state(l.name) : null,
        upTimeMs: l.attachedAt === undefined ? null : now - l.attachedAt,
        router: l.router?.snapshot() ?? null,
        routerCounters: l.router?.counters ?? null,
        staticGroups: [...this.db.staticStates(l.name)]
          .sort(([a], [b]) => compareAddresses(a, b))
          .map(([group, st]) => ({
            group,
            filterMode: st.filterMode,
            sources: [...st.sources],
            upTimeMs: now - (l.staticSince.get(group) ?? now),
          })),
        vifCounters: read(opts.vifCounters, () => table.vifCounters(l.name)),
      })),
      upstream: this.db
        .groupsWithMembership()
        .map((g) => ({ group: g, interface: this.upstreams.of(g), ...this.db.mergedState(g) })),
      upstreamFilterChanges: this.upstreams.changes,
      upstreamFilterErrors: this.upstreams.errors,
      upstreamGroups: this.upstreams.stats(),
      forwarding: this.forwardingEntries(opts.sgCounters),
      receiveSockets: [
        { socket: MROUTE_SOCKET_NAME, ...this.deps.socket.stats() },
        ...[...this.links.values()].flatMap((l) => (l.socket ? [{ socket: l.name, ...l.socket.stats() }] : [])),
      ],
      counters: this.counters,
    };
  }
}
