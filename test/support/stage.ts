/**
 * The frame of an end-to-end test: a lab built once per `describe` (`useLab`), and per test
 * a stage (`stage`) that owns what the test starts — the daemon, host agents, senders,
 * captures — and tears it down in reverse order whatever happens, so a scenario body holds
 * only its steps and assertions.
 */
import { after, before } from "node:test";
import { type Sender, startSender } from "../../src/lab/hosts.js";
import type { Netns } from "../../src/lab/netns.js";
import type { Address } from "../../src/wire/types.js";
import type { Capture } from "./capture.js";
import type { DaemonRun } from "./daemon.js";
import type { Fam } from "./family.js";
import { type HostAgent, startHost } from "./hostsock.js";
import { captureControl, captureData, gaps, sleep, startProxy, stopProxy } from "./scenario.js";

/**
 * Builds a lab in `before` and destroys it in `after` of the enclosing `describe`; returns
 * the object the lab's fields are copied into (use it inside hooks and tests only).
 * `setup` runs once after the build (sysctls, extra addresses).
 */
export function useLab<T extends { destroy(): Promise<void> }>(
  build: () => Promise<T>,
  setup?: (lab: T) => Promise<void>,
): T {
  const lab = {} as T;
  let built: T | undefined;
  before(async () => {
    built = await build();
    Object.assign(lab, built);
    await setup?.(built);
  });
  after(async () => {
    await built?.destroy();
  });
  return lab;
}

/** What a test started; everything is stopped when the test's body is done. */
export interface Stage {
  readonly fam: Fam;
  /** A UDP port of this test alone (late datagrams of an earlier test never count). */
  readonly port: number;
  /**
   * Starts the daemon in `lab.rtr` (see scenario.ts `startProxy`); stopped at the end, and
   * then it must exit cleanly (code 0, no error lines).
   */
  proxy(
    lab: { rtr: Netns },
    config: string,
    format?: "improxy" | "yaml",
    downstreams?: readonly string[],
    upstreams?: readonly string[],
  ): Promise<DaemonRun>;
  /** Stops the daemon now (with the clean-exit check) instead of at the end. */
  stopProxy(): Promise<void>;
  /** A host agent of the stage's family in `ns`, on the stage's port unless `port` says otherwise. */
  host(ns: Netns, port?: number): Promise<HostAgent>;
  /** A sender in `ns` from `source` (bound) to `group` on the stage's port, every `intervalMs`. */
  send(ns: Netns, group: Address, source: Address, intervalMs?: number): Sender;
  /** Stops every sender started so far. */
  stopSenders(): Promise<void>;
  captureData(ns: Netns, ifname: string): Promise<Capture>;
  captureControl(ns: Netns, ifname: string): Promise<Capture>;
  /** Runs `fn` at the end, before what was registered earlier. */
  defer(fn: () => Promise<void> | void): void;
}

let nextPort = 6000;

/**
 * Runs `body` with a fresh stage of family `fam`; afterwards stops, newest first, what it
 * started (senders, hosts, the daemon, captures, deferred steps). A failure of the body is
 * the test's failure; a failure while tearing down fails it when the body passed.
 */
export async function stage(fam: Fam, body: (s: Stage) => Promise<void>): Promise<void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const senders: Sender[] = [];
  let daemon: DaemonRun | undefined;
  const stopSenders = async () => {
    for (const x of senders.splice(0)) await x.stop();
  };
  const s: Stage = {
    fam,
    port: ++nextPort,
    async proxy(lab, config, format = "improxy", downstreams, upstreams) {
      const d = await startProxy(lab, config, format, downstreams, upstreams);
      daemon = d;
      cleanups.push(() => s.stopProxy());
      return d;
    },
    async stopProxy() {
      const d = daemon;
      daemon = undefined;
      if (d) await stopProxy(d);
    },
    async host(ns, port = s.port) {
      const h = await startHost(ns, fam.name, { port });
      cleanups.push(() => h.stop());
      return h;
    },
    send(ns, group, source, intervalMs = 10) {
      const x = startSender(ns, group, { port: s.port, intervalMs, bind: source });
      senders.push(x);
      cleanups.push(stopSenders);
      return x;
    },
    stopSenders,
    async captureData(ns, ifname) {
      const c = await captureData(ns, ifname);
      cleanups.push(() => c.stop());
      return c;
    },
    async captureControl(ns, ifname) {
      const c = await captureControl(ns, ifname);
      cleanups.push(() => c.stop());
      return c;
    },
    defer(fn) {
      cleanups.push(fn);
    },
  };
  let failure: unknown;
  let failed = false;
  try {
    await body(s);
  } catch (err) {
    failure = err;
    failed = true;
  }
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (err) {
      if (!failed) {
        failure = err;
        failed = true;
      }
    }
  }
  if (failed) throw failure;
}

/** Sequence numbers missing from what a host received from `source` (from 0, or from `first`). */
export function seqGaps(host: HostAgent, source: Address, since?: number, first?: number): number[] {
  return gaps(
    host.from(source, since).map((x) => x.seq),
    first,
  );
}

/** Stops the senders, waits `settleMs` for the last datagrams, then stops `captures`. */
export async function stopTraffic(s: Stage, captures: Capture[], settleMs = 0): Promise<void> {
  await s.stopSenders();
  if (settleMs > 0) await sleep(settleMs);
  for (const c of captures) await c.stop();
}

/**
 * When forwarding of `source`'s datagrams stopped in a capture of a downstream link,
 * relative to `t0` (a leave or block): how many came before `t0`, the time of the last one
 * after `t0` (-Infinity when there were none), and how many there were in all.
 */
export async function stopDelay(fam: Fam, file: string, port: number, source: Address, t0: number) {
  const pkts = (await fam.dataPackets(file, port)).filter((x) => x.source === source);
  const last = pkts.at(-1);
  return {
    before: pkts.filter((x) => x.at < t0).length,
    afterMs: last ? last.at - t0 : Number.NEGATIVE_INFINITY,
    total: pkts.length,
  };
}

/**
 * The start of the leave and block scenarios: a host on `lab.h1` joins `group` any-source;
 * once the daemon has applied EXCLUDE {} upstream, a data capture of dn1 starts and each of
 * `sources` sends to the group from `lab.up` for one second.
 */
export async function h1JoinsStream(
  s: Stage,
  lab: { rtr: Netns; up: Netns; h1: Netns },
  d: DaemonRun,
  group: Address,
  sources: Address[],
): Promise<{ h1: HostAgent; cap: Capture }> {
  const h1 = await s.host(lab.h1);
  await h1.join(group);
  await s.fam.waitUpstream(d, group, "exclude", []);
  const cap = await s.captureData(lab.rtr, "dn1");
  for (const source of sources) s.send(lab.up, group, source);
  await sleep(1000);
  return { h1, cap };
}

/** Hosts on `lab.h1` and `lab.h2` both join `group` any-source; resolves once dn1 and dn2 report EXCLUDE {}. */
export async function bothJoin(
  s: Stage,
  lab: { h1: Netns; h2: Netns },
  d: DaemonRun,
  group: Address,
): Promise<{ h1: HostAgent; h2: HostAgent }> {
  const h1 = await s.host(lab.h1);
  const h2 = await s.host(lab.h2);
  await h1.join(group);
  await h2.join(group);
  await s.fam.waitLinkState(d, "dn1", group, "exclude", []);
  await s.fam.waitLinkState(d, "dn2", group, "exclude", []);
  return { h1, h2 };
}
