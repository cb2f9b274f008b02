/**
 * One address family of the proxy (IPv4 with IGMP, or IPv6 with MLD), wired together:
 *
 *   mroute socket --packets--> router engine per downstream link --forwarding effects-->
 *   membership database --merged state--> upstream membership sockets (kernel host part)
 *                       \--> forwarding planner --> kernel MFC
 *   mroute socket --upcalls--> forwarding planner --> kernel MFC
 *
 * The two families never share state. Links are attached (VIF + router engine) when their
 * interface exists, is up and has an address of the family, and detached when that stops
 * being true: interfaces may appear late, vanish and come back (PPPoE, DHCP).
 */
import type { ImproxyConfig, InterfaceConfig, ProtocolSettings } from "../config/types.js";
import type { Scheduler, TimerId } from "../clock/index.js";
import { UpstreamHost } from "./upstream.js";
import type { MrouteSocket, ReceivedPacket, Upcall } from "../kernel/mroute.js";
import { ForwardingPlanner, type ForwardingEffect, type ForwardingLinks } from "../proxy/forwarding.js";
import { MembershipDatabase } from "../proxy/membership.js";
import { LinkRouter, type RouterEffect } from "../router/index.js";
import { CidrSet, isLinkLocalGroup } from "../wire/address.js";
import { parse, serialize } from "../wire/index.js";
import type { Address, IpFamily } from "../wire/types.js";
import type { Logger } from "../util/log.js";
import { type InterfaceTable, protocolAddress, subnets } from "./interfaces.js";
import { routerConfig } from "./router-config.js";

interface LinkRuntime {
  readonly name: string;
  cfg: InterfaceConfig;
  settings: ProtocolSettings;
  /** Set while attached. */
  ifindex: number | null;
  vif: number | null;
  router: LinkRouter | null;
  querier: boolean;
  address: Address | null;
  subnets: string[];
  /** When the link was attached (scheduler ms): its up-time in status. */
  attachedAt?: number | undefined;
}

export interface FamilyCounters {
  packetsReceived: number;
  ownPackets: number;
  upstreamPackets: number;
  unconfiguredInterface: number;
  parseErrors: Record<string, number>;
  upcalls: Record<string, number>;
  kernelErrors: number;
  /** Querier status changes per link name (metrics). */
  querierChanges: Record<string, number>;
}

function newLinkRuntime(cfg: InterfaceConfig, settings: ProtocolSettings): LinkRuntime {
  return {
    name: cfg.name,
    cfg,
    settings,
    ifindex: null,
    vif: null,
    router: null,
    querier: false,
    address: null,
    subnets: [],
  };
}

export interface FamilyDeps {
  family: IpFamily;
  config: ImproxyConfig;
  log: Logger;
  scheduler: Scheduler;
  interfaces: InterfaceTable;
  mroute: MrouteSocket;
}

export class FamilyProxy {
  readonly family: IpFamily;
  private readonly log: Logger;
  private readonly links = new Map<string, LinkRuntime>();
  private readonly db = new MembershipDatabase();
  private readonly fwd: ForwardingPlanner;
  private readonly upstream: UpstreamHost;
  private ignored: CidrSet;
  private ownCache: Set<Address> | null = null;
  private config: ImproxyConfig;
  private idleTimer: TimerId | null = null;
  /** Kernel counters of each (S,G) at the previous idle check. */
  private readonly lastCounts = new Map<string, { packets: bigint; wrongIf: bigint }>();
  readonly counters: FamilyCounters = {
    packetsReceived: 0,
    ownPackets: 0,
    upstreamPackets: 0,
    unconfiguredInterface: 0,
    parseErrors: {},
    upcalls: {},
    kernelErrors: 0,
    querierChanges: {},
  };

  constructor(private readonly deps: FamilyDeps) {
    this.family = deps.family;
    this.log = deps.log.child({ family: deps.family });
    this.config = deps.config;
    for (const [name, { cfg, settings }] of this.configuredLinks(this.config)) {
      this.links.set(name, newLinkRuntime(cfg, settings));
    }
    this.ignored = this.ignoredGroups(this.config);
    this.upstream = new UpstreamHost(this.family, this.log);
    const self = this;
    const links: ForwardingLinks = {
      get upstream() {
        return self.config.upstream.name;
      },
      canForwardTo: (name) => {
        const l = this.links.get(name);
        // RFC 4605 §4.2: forward onto a downstream link only where we are the querier.
        return (
          l !== undefined &&
          l.vif !== null &&
          l.cfg.role === "downstream" &&
          (l.querier || l.cfg.forwardWhenNotQuerier)
        );
      },
      downToUp: (name) => this.links.get(name)?.cfg.downToUp ?? false,
      forwardable: (group) => !isLinkLocalGroup(group, this.family) && !this.ignored.has(group),
    };
    this.fwd = new ForwardingPlanner(this.db, links);
    deps.mroute.onPacket((p) => this.onPacket(p));
    deps.mroute.onUpcall((u) => this.onUpcall(u));
    this.armIdleCheck();
  }

  /** The links of this family in a configuration (interfaces with the family enabled). */
  private configuredLinks(
    config: ImproxyConfig,
  ): Map<string, { cfg: InterfaceConfig; settings: ProtocolSettings }> {
    const out = new Map<string, { cfg: InterfaceConfig; settings: ProtocolSettings }>();
    for (const cfg of [config.upstream, ...config.downstreams]) {
      const settings = this.family === "ipv4" ? cfg.igmp : cfg.mld;
      if (settings) out.set(cfg.name, { cfg, settings });
    }
    return out;
  }

  private ignoredGroups(config: ImproxyConfig): CidrSet {
    const up = this.family === "ipv4" ? config.upstream.igmp : config.upstream.mld;
    return new CidrSet(up?.ignoreGroups ?? []);
  }

  /**
   * Applies a new configuration (reload) without disturbing what did not change: links
   * that stay keep their VIF, router state and forwarding; their routers take the new
   * timer values (LinkRouter.setConfig). Removed links (or links whose role changed) are
   * detached, added ones attached as soon as their interface is usable.
   */
  applyConfig(config: ImproxyConfig): void {
    const next = this.configuredLinks(config);
    for (const [name, link] of [...this.links]) {
      const n = next.get(name);
      if (n && n.cfg.role === link.cfg.role) continue;
      if (link.ifindex !== null) this.detach(link, "removed from the configuration");
      this.links.delete(name);
      this.log.info({ interface: name, role: link.cfg.role }, "interface removed by reload");
    }
    this.config = config;
    for (const [name, n] of next) {
      const link = this.links.get(name);
      if (!link) {
        this.links.set(name, newLinkRuntime(n.cfg, n.settings));
        this.log.info({ interface: name, role: n.cfg.role }, "interface added by reload");
        continue;
      }
      link.cfg = n.cfg;
      if (JSON.stringify(link.settings) !== JSON.stringify(n.settings)) {
        link.settings = n.settings;
        link.router?.setConfig(routerConfig(n.settings));
        this.log.info({ interface: name }, "interface settings changed by reload");
      }
    }
    this.ignored = this.ignoredGroups(config);
    this.apply(this.fwd.refreshAll());
    for (const name of next.keys()) this.reconcile(name);
  }

  /** Names of the links this family manages. */
  linkNames(): string[] {
    return [...this.links.keys()];
  }

  /** Brings a link's attachment in line with its interface's state. */
  reconcile(name: string): void {
    const link = this.links.get(name);
    if (!link) return;
    this.ownCache = null;
    const st = this.deps.interfaces.get(name);
    const address = protocolAddress(st, this.family);
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
    if (address !== link.address || nets.join() !== link.subnets.join()) {
      this.log.info({ interface: name, address, previous: link.address }, "interface address changed");
      link.address = address;
      link.subnets = nets;
      link.router?.setAddresses(address, nets);
    }
  }

  /** Logs which configured interfaces are not usable yet (at start). */
  reportWaiting(): void {
    for (const link of this.links.values()) {
      if (link.ifindex !== null) continue;
      const st = this.deps.interfaces.get(link.name);
      const why = !st ? "does not exist" : !st.up ? "is down" : `has no ${this.family} address`;
      this.log.warn({ interface: link.name, role: link.cfg.role }, `interface ${why} yet; waiting for it`);
    }
  }

  private attach(link: LinkRuntime, ifindex: number, address: Address): void {
    const { mroute } = this.deps;
    let vif: number;
    try {
      vif = mroute.addVif(ifindex);
    } catch (err) {
      this.counters.kernelErrors++;
      this.log.error(
        { interface: link.name, err: (err as Error).message },
        "cannot add the interface to multicast routing",
      );
      return;
    }
    link.ifindex = ifindex;
    link.attachedAt = this.deps.scheduler.now();
    link.vif = vif;
    link.address = address;
    link.subnets = subnets(this.deps.interfaces.get(link.name), this.family);
    this.log.info({ interface: link.name, role: link.cfg.role, ifindex, vif, address }, "interface attached");
    if (link.cfg.role === "upstream") {
      this.upstream.attach(ifindex);
      for (const group of this.db.groupsWithMembership())
        this.upstream.setFilter(group, this.db.mergedState(group));
    } else {
      try {
        mroute.joinReportGroups(ifindex);
      } catch (err) {
        this.counters.kernelErrors++;
        this.log.error(
          { interface: link.name, err: (err as Error).message },
          "cannot join the report groups",
        );
      }
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
    }
    this.apply(this.fwd.refreshAll());
  }

  private detach(link: LinkRuntime, why: string): void {
    const { mroute } = this.deps;
    this.log.warn({ interface: link.name, role: link.cfg.role, why }, "interface detached");
    const ifindex = link.ifindex!;
    if (link.router) {
      // Stopping emits INCLUDE {} for every group: the merge and the MFC follow.
      link.router.stop();
      link.router = null;
      link.querier = false;
      try {
        mroute.leaveReportGroups(ifindex);
      } catch {
        // The link may already be gone; its memberships went with it.
      }
    }
    if (link.cfg.role === "upstream") this.upstream.detach();
    this.apply(this.fwd.dropIncoming(link.name));
    try {
      mroute.delVif(ifindex);
    } catch (err) {
      this.log.debug({ interface: link.name, err: (err as Error).message }, "VIF already gone");
    }
    link.ifindex = null;
    link.vif = null;
    link.attachedAt = undefined;
    link.address = null;
    this.apply(this.fwd.refreshAll());
  }

  private onRouterEffect(link: LinkRuntime, e: RouterEffect): void {
    switch (e.type) {
      case "send": {
        if (link.ifindex === null) return;
        try {
          const bytes = serialize(this.family, e.query);
          // The source is always the link's own address, given explicitly. For MLD it must
          // be the link-local one (RFC 9777 §5: MLD messages from other sources are
          // ignored, and Linux hosts drop such queries): left to the kernel, a Q(G) to a
          // site- or global-scope group gets a global source address, the remaining hosts
          // never answer it and their stream stops after the Last Listener Query Time.
          this.deps.mroute.sendQuery(link.ifindex, bytes, e.destination, link.address ?? undefined);
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
        if (merged) {
          // Applied first, then logged: the line means the kernel holds the filter now.
          this.upstream.setFilter(e.group, merged);
          this.log.info(
            { group: e.group, mode: merged.filterMode, sources: merged.sources },
            "upstream membership",
          );
        }
        this.apply(this.fwd.refreshGroup(e.group));
        return;
      }
      case "querier": {
        if (link.querier === e.querier) return;
        link.querier = e.querier;
        this.counters.querierChanges[link.name] = (this.counters.querierChanges[link.name] ?? 0) + 1;
        this.log.info(
          { interface: link.name, querier: e.querier, querierAddress: e.querierAddress },
          "querier status",
        );
        this.apply(this.fwd.refreshAll());
        return;
      }
    }
  }

  private ownAddresses(): Set<Address> {
    this.ownCache ??= this.deps.interfaces.ownAddresses(this.family);
    return this.ownCache;
  }

  private onPacket(p: ReceivedPacket): void {
    this.counters.packetsReceived++;
    if (this.ownAddresses().has(p.source)) {
      this.counters.ownPackets++;
      return;
    }
    const name = this.deps.interfaces.nameOf(p.ifindex);
    const link = name === undefined ? undefined : this.links.get(name);
    if (!link || link.ifindex !== p.ifindex) {
      this.counters.unconfiguredInterface++;
      return;
    }
    if (!link.router) {
      // Upstream: the kernel's host stack answers queries there; never treat upstream
      // reports as downstream membership (the C IMProxy did, with sticky joins).
      this.counters.upstreamPackets++;
      this.log.debug(
        {
          interface: link.name,
          source: p.source,
          type: p.payload[0],
          upstreamPackets: this.counters.upstreamPackets,
        },
        "ignored on the upstream interface",
      );
      return;
    }
    const res = parse(
      this.family,
      p.payload,
      this.family === "ipv6" ? { source: p.source, destination: p.destination } : undefined,
    );
    if (!res.ok) {
      this.counters.parseErrors[res.error.reason] = (this.counters.parseErrors[res.error.reason] ?? 0) + 1;
      this.log.debug(
        { interface: link.name, source: p.source, reason: res.error.reason, detail: res.error.detail },
        "dropped",
      );
      return;
    }
    link.router.handle(res.message, {
      source: p.source,
      destination: p.destination,
      ttl: p.ttl,
      routerAlert: p.routerAlert,
    });
  }

  private linkOfVif(vif: number): LinkRuntime | undefined {
    for (const l of this.links.values()) if (l.vif === vif) return l;
    return undefined;
  }

  private onUpcall(u: Upcall): void {
    this.counters.upcalls[u.type] = (this.counters.upcalls[u.type] ?? 0) + 1;
    if (u.type === "wholepkt") return;
    const link = this.linkOfVif(u.vif);
    if (!link) return;
    this.log.debug({ type: u.type, source: u.source, group: u.group, iif: link.name }, "upcall");
    this.apply(this.fwd.learn(u.source, u.group, link.name));
  }

  /** Applies forwarding effects to the kernel's MFC. */
  private apply(effects: ForwardingEffect[]): void {
    const { mroute } = this.deps;
    for (const e of effects) {
      try {
        if (e.type === "mfc-del") {
          this.lastCounts.delete(`${e.source}|${e.group}`);
          mroute.delMfc(e.source, e.group);
          continue;
        }
        const parent = this.links.get(e.entry.iif)?.vif;
        if (parent === null || parent === undefined) continue;
        const out: number[] = [];
        for (const name of e.entry.oifs) {
          const vif = this.links.get(name)?.vif;
          if (vif !== null && vif !== undefined) out.push(vif);
        }
        mroute.setMfc(e.entry.source, e.entry.group, parent, out);
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
   * Idle (S,G) entries expire by their packet counters (SIOCGETSGCNT), not by flushing:
   * an entry whose counter did not move since the previous check is removed. An entry
   * whose packets since then ALL arrived on a link other than its incoming one (wrong_if
   * grew as much as the packet count) belongs to a source that moved: it is removed too,
   * and the next packet is re-learned with its new incoming link through a NOCACHE upcall.
   * (A source that moved onto one of the entry's outgoing links is reported at once by a
   * WRONGVIF upcall instead: MRT_ASSERT is on.)
   */
  private armIdleCheck(): void {
    const { scheduler } = this.deps;
    // forwarding-idle-check: read at every arming, so a reload applies from the next check.
    this.idleTimer = scheduler.at(scheduler.now() + this.config.forwardingIdleCheck * 1000, () => {
      for (const e of this.fwd.all()) {
        const k = `${e.source}|${e.group}`;
        const cnt = this.deps.mroute.sgCount(e.source, e.group);
        const now = { packets: cnt?.packets ?? -1n, wrongIf: cnt?.wrongIf ?? 0n };
        const last = this.lastCounts.get(k);
        this.lastCounts.set(k, now);
        if (!last) continue;
        if (last.packets === now.packets) {
          this.log.debug({ source: e.source, group: e.group }, "forwarding entry idle, removed");
          this.apply(this.fwd.forget(e.source, e.group));
        } else if (now.wrongIf - last.wrongIf === now.packets - last.packets) {
          this.log.info(
            { source: e.source, group: e.group, iif: e.iif },
            "source no longer arrives on the incoming link; forwarding entry removed to re-learn it",
          );
          this.apply(this.fwd.forget(e.source, e.group));
        }
      }
      this.armIdleCheck();
    });
  }

  /** Removes everything this family created in the kernel. */
  close(): void {
    if (this.idleTimer !== null) this.deps.scheduler.cancel(this.idleTimer);
    for (const link of this.links.values()) if (link.ifindex !== null) this.detach(link, "shutting down");
    for (const e of this.fwd.all()) this.apply(this.fwd.forget(e.source, e.group));
    this.upstream.close();
    this.deps.mroute.close();
  }

  /**
   * Read-only view for status, metrics and tests. `vifCounters` / `sgCounters` add the
   * kernel's per-VIF and per-(S,G) counters (one ioctl each: for the control socket and
   * metrics scrapes, not the hot path).
   */
  snapshot(opts: { vifCounters?: boolean; sgCounters?: boolean } = {}) {
    const { mroute, scheduler } = this.deps;
    const now = scheduler.now();
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
        vif: l.vif,
        address: l.address,
        querier: l.querier,
        upTimeMs: l.attachedAt === undefined ? null : now - l.attachedAt,
        router: l.router?.snapshot() ?? null,
        routerCounters: l.router?.counters ?? null,
        vifCounters: l.vif === null ? null : read(opts.vifCounters, () => mroute.vifCount(l.vif!)),
      })),
      upstream: this.db.groupsWithMembership().map((g) => ({ group: g, ...this.db.mergedState(g) })),
      upstreamFilterChanges: this.upstream.changes,
      upstreamFilterErrors: this.upstream.errors,
      forwarding: this.fwd
        .all()
        .map((e) => ({ ...e, kernel: read(opts.sgCounters, () => mroute.sgCount(e.source, e.group)) })),
      counters: this.counters,
    };
  }
}
