/**
 * A lab host's kernel as the IGMP/MLD host: a small Node process in the host namespace
 * that joins groups with plain sockets and reports the packets it receives (JSON lines).
 * Each host process ends with the process that started it: when that one is gone, even
 * killed with SIGKILL, the host's stdin (a pipe from it) reaches its end.
 */
import type { ChildProcess } from "node:child_process";
import type { Netns } from "./netns.js";

/** Script run inside the namespace: joins, then prints {"from","seq","at"} per datagram. */
const RECEIVER = `
const dgram = require("node:dgram");
const [group, port, iface, source] = process.argv.slice(1);
const v6 = group.includes(":");
const s = dgram.createSocket({ type: v6 ? "udp6" : "udp4", reuseAddr: true });
s.on("message", (m, r) => {
  const seq = m.length >= 8 && m.toString("latin1", 0, 4) === "IMPX" ? m.readUInt32BE(4) : -1;
  process.stdout.write(JSON.stringify({ from: r.address, seq, at: Date.now() }) + "\\n");
});
s.bind(Number(port), () => {
  const ifaddr = v6 ? "::%" + iface : require("node:os").networkInterfaces()[iface].find((a) => a.family === "IPv4").address;
  if (source && source !== "-") s.addSourceSpecificMembership(source, group, ifaddr);
  else s.addMembership(group, ifaddr);
  process.stdout.write(JSON.stringify({ joined: group }) + "\\n");
});
process.on("SIGTERM", () => process.exit(0));
process.stdin.on("end", () => process.exit(0)).resume();
`;

export interface Receiver {
  proc: ChildProcess;
  packets: Array<{ from: string; seq: number; at: number }>;
  joined: Promise<void>;
  stop(): Promise<void>;
}

export function startReceiver(ns: Netns, group: string, opts: { port?: number; iface?: string; source?: string } = {}): Receiver {
  const proc = ns.spawn("node", [
    "-e",
    RECEIVER,
    group,
    String(opts.port ?? 5001),
    opts.iface ?? "eth0",
    opts.source ?? "-",
  ]);
  const packets: Receiver["packets"] = [];
  let buf = "";
  let err = "";
  let onJoin: () => void = () => undefined;
  const joined = new Promise<void>((res) => {
    onJoin = res;
  });
  proc.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (d: string) => {
    buf += d;
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const o = JSON.parse(buf.slice(0, i)) as { joined?: string; from: string; seq: number; at: number };
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
      if (o.joined) onJoin();
      else packets.push(o);
    }
  });
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  void exited.then(() => {
    if (err) process.stderr.write(`receiver: ${err}`);
  });
  return {
    proc,
    packets,
    joined,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** Script: sends "IMPX" + u32 seq datagrams to group:port every intervalMs from the namespace. */
const SENDER = `
const dgram = require("node:dgram");
const [group, port, interval, bindAddr, ttl] = process.argv.slice(1);
const v6 = group.includes(":");
const s = dgram.createSocket({ type: v6 ? "udp6" : "udp4" });
let seq = 0;
s.bind({ address: bindAddr === "-" ? undefined : bindAddr }, () => {
  s.setMulticastTTL(Number(ttl));
  setInterval(() => {
    const b = Buffer.alloc(16);
    b.write("IMPX", 0, "latin1");
    b.writeUInt32BE(seq++, 4);
    b.writeDoubleBE(Date.now(), 8);
    s.send(b, Number(port), group);
  }, Number(interval));
});
process.on("SIGTERM", () => process.exit(0));
process.stdin.on("end", () => process.exit(0)).resume();
`;

export interface Sender {
  proc: ChildProcess;
  stop(): Promise<void>;
}

export function startSender(
  ns: Netns,
  group: string,
  opts: { port?: number; intervalMs?: number; bind?: string; ttl?: number } = {},
): Sender {
  const proc = ns.spawn("node", [
    "-e",
    SENDER,
    group,
    String(opts.port ?? 5001),
    String(opts.intervalMs ?? 20),
    opts.bind ?? "-",
    String(opts.ttl ?? 8),
  ]);
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  return {
    proc,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}
