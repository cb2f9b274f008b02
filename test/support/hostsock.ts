/**
 * A scripted multicast host for the proxy end-to-end tests: one UDP socket in a lab
 * namespace, driven through the native addon so that every RFC 3678 membership operation
 * is available, including the ones Node's dgram lacks (MCAST_BLOCK_SOURCE). The host's
 * kernel then speaks IGMP/MLD to the proxy exactly as a real host would.
 *
 * Run as a script (`node --import tsx test/support/hostsock.ts <ipv4|ipv6> <port> <ifname>`)
 * inside the namespace, it reads one JSON command per stdin line and answers one JSON line:
 *   {"id":1,"op":"join","group":G}                    MCAST_JOIN_GROUP (any-source)
 *   {"id":2,"op":"join","group":G,"source":S}         MCAST_JOIN_SOURCE_GROUP (INCLUDE {S})
 *   {"id":3,"op":"block","group":G,"source":S}        MCAST_BLOCK_SOURCE (EXCLUDE gains S)
 *   {"id":4,"op":"unblock","group":G,"source":S}      MCAST_UNBLOCK_SOURCE
 *   {"id":5,"op":"leave","group":G}                   MCAST_LEAVE_GROUP
 *   {"id":6,"op":"leave","group":G,"source":S}        MCAST_LEAVE_SOURCE_GROUP
 *   {"id":7,"op":"query","version":3,"maxRespMs":1000} a General Query from this host
 *       (raw socket, TTL/hop limit 1, Router Alert), as an upstream querier would send it
 * Answers: {"id":N,"ok":true,"at":<ms epoch right after the syscall>} or {"id":N,"ok":false,"error":..}.
 * Every datagram received on the UDP socket prints {"pkt":{"from":S,"seq":N,"at":T}}
 * (seq from the lab sender's "IMPX" header, -1 otherwise).
 *
 * Imported, `startHost(ns, family, opts)` runs that script in a namespace and wraps it.
 */
import type { ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Netns } from "../../src/lab/netns.js";
import type { Address, IpFamily } from "../../src/wire/types.js";

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = resolve(import.meta.dirname, "../..");

export interface HostPacket {
  from: Address;
  seq: number;
  /** Receive time, ms since the epoch (the namespaces share one clock). */
  at: number;
}

export interface HostAgent {
  readonly family: IpFamily;
  readonly packets: HostPacket[];
  /** Any-source join (EXCLUDE {}) or, with `source`, a source-specific join (INCLUDE {S}). Resolves with the syscall time. */
  join(group: Address, source?: Address): Promise<number>;
  /** Adds `source` to the EXCLUDE list of an any-source membership (MCAST_BLOCK_SOURCE). */
  block(group: Address, source: Address): Promise<number>;
  unblock(group: Address, source: Address): Promise<number>;
  /** Leaves the group (or, with `source`, the source of a source-specific membership). */
  leave(group: Address, source?: Address): Promise<number>;
  /** Sends one General Query from this host (raw socket, TTL 1, Router Alert). */
  query(opts?: { version?: 1 | 2 | 3; maxRespMs?: number }): Promise<number>;
  /** Packets received from `source` (all when omitted), optionally only after time `since`. */
  from(source?: Address, since?: number): HostPacket[];
  stop(): Promise<void>;
}

/** Starts the host script in `ns` with a UDP socket bound to the wildcard address and `port`. */
export async function startHost(
  ns: Netns,
  family: IpFamily,
  opts: { port?: number; ifname?: string } = {},
): Promise<HostAgent> {
  const proc: ChildProcess = ns.spawn(
    "node",
    ["--import", "tsx", SCRIPT, family, String(opts.port ?? 5001), opts.ifname ?? "eth0"],
    {
      cwd: ROOT,
    },
  );
  const packets: HostPacket[] = [];
  const pending = new Map<number, { res: (at: number) => void; rej: (e: Error) => void }>();
  let err = "";
  let nextId = 1;
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => {
    onReady = res;
  });
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  void exited.then(() => {
    for (const p of pending.values()) p.rej(new Error(`host agent exited: ${err}`));
    pending.clear();
  });
  const rl = createInterface({ input: proc.stdout! });
  rl.on("line", (line) => {
    const o = JSON.parse(line) as {
      ready?: boolean;
      pkt?: HostPacket;
      id?: number;
      ok?: boolean;
      at?: number;
      error?: string;
    };
    if (o.ready) onReady();
    else if (o.pkt) packets.push(o.pkt);
    else if (o.id !== undefined) {
      const p = pending.get(o.id);
      pending.delete(o.id);
      if (!p) return;
      if (o.ok) p.res(o.at ?? Date.now());
      else p.rej(new Error(`host ${ns.name}: ${o.error}`));
    }
  });
  const send = (cmd: Record<string, unknown>): Promise<number> =>
    new Promise((res, rej) => {
      const id = nextId++;
      pending.set(id, { res, rej });
      proc.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  await Promise.race([
    ready,
    exited.then(() => {
      throw new Error(`host agent did not start: ${err}`);
    }),
  ]);
  return {
    family,
    packets,
    join: (group, source) => send({ op: "join", group, source }),
    block: (group, source) => send({ op: "block", group, source }),
    unblock: (group, source) => send({ op: "unblock", group, source }),
    leave: (group, source) => send({ op: "leave", group, source }),
    query: (q = {}) => send({ op: "query", version: q.version ?? 3, maxRespMs: q.maxRespMs ?? 1000 }),
    from: (source, since = 0) =>
      packets.filter((p) => (source === undefined || p.from === source) && p.at >= since),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.end();
      const t = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ------------------------------------------------------------------ the script itself

interface Command {
  id: number;
  op: string;
  group?: Address;
  source?: Address;
  version?: 1 | 2 | 3;
  maxRespMs?: number;
}

async function agent(family: IpFamily, port: number, ifname: string): Promise<void> {
  const { netio } = await import("../../src/kernel/addon.js");
  const m = await import("../../src/kernel/structs/membership.js");
  const sa = await import("../../src/kernel/structs/sockaddr.js");
  const wire = await import("../../src/wire/index.js");
  const v4 = family === "ipv4";
  const level = v4 ? m.SOL_IP : m.SOL_IPV6;
  const ifindex = netio.ifNameToIndex(ifname);
  if (ifindex === 0) throw new Error(`no interface ${ifname}`);
  const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

  const fd = netio.socket(v4 ? sa.AF_INET : sa.AF_INET6, 2 /* SOCK_DGRAM */, 0);
  netio.bind(fd, v4 ? sa.sockaddrIn("0.0.0.0", port) : sa.sockaddrIn6("::", { port }));
  const buf = Buffer.alloc(2048);
  netio.pollStart(fd, (readable) => {
    if (!readable) return;
    for (let r = netio.recvmsg(fd, buf); r !== null; r = netio.recvmsg(fd, buf)) {
      const at = Date.now();
      const from = sa.parseSockaddr(r.from);
      const seq = r.bytes >= 8 && buf.toString("latin1", 0, 4) === "IMPX" ? buf.readUInt32BE(4) : -1;
      out({ pkt: { from: from && from.family !== "netlink" ? from.address : "?", seq, at } });
    }
  });

  let rawFd = -1;
  const sendQuery = (version: 1 | 2 | 3, maxRespMs: number) => {
    if (rawFd < 0) {
      rawFd = netio.socket(
        v4 ? sa.AF_INET : sa.AF_INET6,
        3 /* SOCK_RAW */,
        v4 ? wire.IPPROTO_IGMP : wire.IPPROTO_ICMPV6,
      );
      if (v4) netio.setsockopt(rawFd, 0, 4 /* IP_OPTIONS */, Buffer.from(wire.IPV4_ROUTER_ALERT));
      else netio.setsockopt(rawFd, 41, 54 /* IPV6_HOPOPTS */, Buffer.from(wire.IPV6_ROUTER_ALERT_HOPOPTS));
    }
    const q = wire.generalQuery(family, v4 ? version : version === 3 ? 2 : 1, { maxRespTimeMs: maxRespMs });
    const bytes = wire.serialize(family, q);
    const to = v4
      ? sa.sockaddrIn(wire.IGMP_ALL_SYSTEMS)
      : sa.sockaddrIn6(wire.MLD_ALL_NODES, { scopeId: ifindex });
    netio.sendmsg(rawFd, bytes, to, { ifindex, hopLimit: 1 });
  };

  const handle = (c: Command): void => {
    const g = c.group ?? "";
    const s = c.source;
    switch (c.op) {
      case "join":
        if (s)
          netio.setsockopt(fd, level, m.MCAST_JOIN_SOURCE_GROUP, m.packGroupSourceReq(ifindex, family, g, s));
        else netio.setsockopt(fd, level, m.MCAST_JOIN_GROUP, m.packGroupReq(ifindex, family, g));
        return;
      case "block":
        netio.setsockopt(fd, level, m.MCAST_BLOCK_SOURCE, m.packGroupSourceReq(ifindex, family, g, s ?? ""));
        return;
      case "unblock":
        netio.setsockopt(
          fd,
          level,
          m.MCAST_UNBLOCK_SOURCE,
          m.packGroupSourceReq(ifindex, family, g, s ?? ""),
        );
        return;
      case "leave":
        if (s)
          netio.setsockopt(
            fd,
            level,
            m.MCAST_LEAVE_SOURCE_GROUP,
            m.packGroupSourceReq(ifindex, family, g, s),
          );
        else netio.setsockopt(fd, level, m.MCAST_LEAVE_GROUP, m.packGroupReq(ifindex, family, g));
        return;
      case "query":
        sendQuery(c.version ?? 3, c.maxRespMs ?? 1000);
        return;
      default:
        throw new Error(`unknown op ${c.op}`);
    }
  };

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const c = JSON.parse(line) as Command;
    try {
      // The time of the call is taken BEFORE the system call: the kernel sends the report or
      // leave inside it, and the router's answer can be on the wire before the call returns.
      const at = Date.now();
      handle(c);
      out({ id: c.id, ok: true, at });
    } catch (err) {
      out({ id: c.id, ok: false, error: (err as Error).message });
    }
  });
  rl.on("close", () => {
    // Closing the socket leaves every group, as a host process exiting would.
    netio.close(fd);
    if (rawFd >= 0) netio.close(rawFd);
    process.exit(0);
  });
  out({ ready: true });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === SCRIPT) {
  const [family, port, ifname] = process.argv.slice(2);
  agent(family === "ipv6" ? "ipv6" : "ipv4", Number(port ?? 5001), ifname ?? "eth0").catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
