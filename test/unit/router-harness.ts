/** Shared fixture for the router engine tests: one LinkRouter on virtual time. */
import { VirtualScheduler } from "../../src/clock/virtual.js";
import { LinkRouter } from "../../src/router/link-router.js";
import type { GroupSnapshot } from "../../src/router/snapshot.js";
import { defaultRouterConfig } from "../../src/daemon/router-config.js";
import type { RouterConfig, RouterEffect } from "../../src/router/types.js";
import type { Address, IpFamily, Message, Query } from "../../src/wire/types.js";
import { RecordType } from "../../src/wire/types.js";

export interface Addrs {
  family: IpFamily;
  own: Address;
  lowerRouter: Address;
  higherRouter: Address;
  host1: Address;
  host2: Address;
  host3: Address;
  unspecified: Address;
  subnet: string;
  group: Address;
  group2: Address;
  ssmGroup: Address;
  linkLocalGroup: Address;
  ignoredGroup: Address;
  reportDst: Address;
  allHosts: Address;
  s: Address[]; // s[1]..s[9]
  offLink: Address;
}

export const V4: Addrs = {
  family: "ipv4",
  own: "10.11.0.10",
  lowerRouter: "10.11.0.4",
  higherRouter: "10.11.0.20",
  host1: "10.11.0.101",
  host2: "10.11.0.102",
  host3: "10.11.0.103",
  unspecified: "0.0.0.0",
  subnet: "10.11.0.0/24",
  group: "239.1.1.1",
  group2: "239.1.1.2",
  ssmGroup: "232.1.1.1",
  linkLocalGroup: "224.0.0.251",
  ignoredGroup: "239.255.255.250",
  reportDst: "224.0.0.22",
  allHosts: "224.0.0.1",
  s: Array.from({ length: 10 }, (_, i) => `198.18.0.${i}`),
  offLink: "10.99.0.1",
};

export const V6: Addrs = {
  family: "ipv6",
  own: "fe80::10",
  lowerRouter: "fe80::4",
  higherRouter: "fe80::20",
  host1: "fe80::101",
  host2: "fe80::102",
  host3: "fe80::103",
  unspecified: "::",
  subnet: "fd00:11::/64",
  group: "ff0e::1:1",
  group2: "ff0e::1:2",
  ssmGroup: "ff3e::1:1",
  linkLocalGroup: "ff02::fb",
  ignoredGroup: "ff05::99",
  reportDst: "ff02::16",
  allHosts: "ff02::1",
  s: Array.from({ length: 10 }, (_, i) => `fd00:99::${i}`),
  offLink: "fd00:99::1",
};

export const FAMILIES = [V4, V6];

/** Group record types under the short names of the RFC 9776 §6.4 tables. */
export const {
  MODE_IS_INCLUDE: IS_IN,
  MODE_IS_EXCLUDE: IS_EX,
  CHANGE_TO_INCLUDE_MODE: TO_IN,
  CHANGE_TO_EXCLUDE_MODE: TO_EX,
  ALLOW_NEW_SOURCES: ALLOW,
  BLOCK_OLD_SOURCES: BLOCK,
} = RecordType;

export const GMI = 260_000;
export const LMQI = 1_000;
export const LMQT = 2_000;
export const OQPI = 255_000;

export class Fixture {
  readonly scheduler = new VirtualScheduler();
  readonly effects: RouterEffect[] = [];
  readonly allEffects: RouterEffect[] = [];
  readonly router: LinkRouter;
  readonly config: RouterConfig;

  constructor(
    readonly a: Addrs,
    overrides: Partial<RouterConfig> = {},
    start = true,
  ) {
    this.config = { ...defaultRouterConfig(a.family), ...overrides };
    if (a.family === "ipv6") this.config.ignoreGroups = ["ff05::99/128", ...(overrides.ignoreGroups ?? [])];
    this.router = new LinkRouter({
      family: a.family,
      ifname: "dn1",
      config: this.config,
      scheduler: this.scheduler,
      onEffect: (e) => {
        this.effects.push(e);
        this.allEffects.push(e);
      },
      ownAddress: a.own,
      subnets: a.family === "ipv4" ? [a.subnet] : [a.subnet, "fe80::/64"],
    });
    if (start) {
      this.router.start();
      this.effects.length = 0;
    }
  }

  get now(): number {
    return this.scheduler.now();
  }

  advance(ms: number): void {
    this.scheduler.advance(ms);
  }

  receive(
    msg: Message,
    source: Address = this.a.host1,
    destination?: Address,
    extra: { ttl?: number; routerAlert?: boolean } = {},
  ): void {
    const dst =
      destination ??
      (msg.type === "v3report"
        ? this.a.reportDst
        : msg.type === "query"
          ? this.a.allHosts
          : (msg as { group: Address }).group);
    this.router.handle(msg, {
      source,
      destination: dst,
      ttl: extra.ttl ?? 1,
      routerAlert: extra.routerAlert ?? true,
    });
  }

  record(recordType: number, group: Address, sources: Address[], host: Address = this.a.host1): void {
    this.receive(
      {
        type: "v3report",
        family: this.a.family,
        records: [{ recordType, group, sources, auxData: new Uint8Array() }],
      },
      host,
    );
  }

  report(version: 1 | 2, group: Address, host: Address = this.a.host1): void {
    this.receive({ type: "report", family: this.a.family, version, group }, host);
  }

  leave(group: Address, host: Address = this.a.host1): void {
    this.receive(
      { type: "leave", family: this.a.family, group },
      host,
      this.a.family === "ipv4" ? "224.0.0.2" : "ff02::2",
    );
  }

  query(opts: Partial<Query> & { source?: Address } = {}): void {
    const { source, ...rest } = opts;
    const q: Query = {
      type: "query",
      family: this.a.family,
      version: this.a.family === "ipv4" ? 3 : 2,
      maxRespCode: 100,
      maxRespTimeMs: 10_000,
      group: this.a.unspecified,
      sFlag: false,
      qrv: 2,
      qqic: 125,
      qqiSeconds: 125,
      sources: [],
      ...rest,
    };
    this.receive(q, source ?? this.a.lowerRouter, q.group === this.a.unspecified ? this.a.allHosts : q.group);
  }

  group(g: Address = this.a.group): GroupSnapshot | undefined {
    return this.router.snapshot().groups.find((x) => x.group === g);
  }

  /** Source -> remaining timer (0 = Y / blocked). */
  timers(g: Address = this.a.group): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.group(g)?.sources ?? []) out[s.source] = s.expiresMs;
    return out;
  }

  /** Queries sent since the last take, as compact descriptions. */
  takeQueries(): {
    group: Address;
    sources: Address[];
    sFlag: boolean;
    destination: Address;
    version: number;
  }[] {
    const out = this.effects
      .filter((e): e is Extract<RouterEffect, { type: "send" }> => e.type === "send")
      .map((e) => ({
        group: e.query.group,
        sources: e.query.sources,
        sFlag: e.query.sFlag,
        destination: e.destination,
        version: e.query.version,
      }));
    this.effects.length = 0;
    return out;
  }

  /** Last forwarding effect for a group since the start (or undefined). */
  lastForwarding(g: Address = this.a.group): Extract<RouterEffect, { type: "forwarding" }> | undefined {
    return this.forwardingLog.filter((e) => e.group === g).at(-1);
  }

  /** Every forwarding effect ever emitted (takeQueries clears `effects`, not this log). */
  get forwardingLog(): Extract<RouterEffect, { type: "forwarding" }>[] {
    return this.allEffects.filter(
      (e): e is Extract<RouterEffect, { type: "forwarding" }> => e.type === "forwarding",
    );
  }
}
