/**
 * `improxy mcast`: the original IMProxy's mcast_test.py. A receiver joins (*,G) or (S,G)
 * and prints every datagram; a sender sends timestamped, numbered probes (payload.ts).
 *
 * Source filtering is left to the kernel (the socket's own source-specific membership):
 * the receiver prints whatever the kernel delivers, so a test of (S,G) joins tests the
 * host stack, not this program. The receiver binds to the group address, so it sees only
 * that group's datagrams on its port.
 */
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { interfaceArgument } from "./iface.js";
import type { ReceiveOptions, SendOptions } from "./options.js";
import { formatEvent, type McastEvent } from "./output.js";
import { decodeProbe, encodeProbe, nowMicros } from "./payload.js";
import { SequenceTracker } from "./sequence.js";

export type Print = (line: string) => void;

/**
 * Resolves when SIGINT/SIGTERM arrives, `duration` seconds pass (if > 0), or `stop()` is
 * called; returns why.
 */
function lifetime(duration: number): { done: Promise<"signal" | "duration" | "stop">; stop: () => void } {
  let finish: (why: "signal" | "duration" | "stop") => void = () => undefined;
  const done = new Promise<"signal" | "duration" | "stop">((resolve) => {
    finish = resolve;
  });
  const onSignal = () => finish("signal");
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const timer = duration > 0 ? setTimeout(() => finish("duration"), duration * 1000) : undefined;
  void done.then(() => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (timer) clearTimeout(timer);
  });
  return { done, stop: () => finish("stop") };
}

function bound(sock: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once("error", reject);
    sock.bind({ port, address, exclusive: false }, () => {
      sock.off("error", reject);
      resolve();
    });
  });
}

function ifaceArg(name: string | undefined, family: 4 | 6): string | undefined {
  if (name === undefined) return undefined;
  const r = interfaceArgument(networkInterfaces(), name, family);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Joins and prints datagrams. Exit code 0; 2 when --count was given and not reached. */
export async function runReceiver(o: ReceiveOptions, print: Print): Promise<number> {
  const emit = (e: McastEvent) => print(formatEvent(e, o.json));
  const iface = ifaceArg(o.interface, o.family);
  const sock = createSocket({ type: o.family === 4 ? "udp4" : "udp6", reuseAddr: true });
  const life = lifetime(o.duration);
  const tracker = new SequenceTracker();
  const started = Date.now();
  try {
    // A link-scope IPv6 group needs its zone to bind.
    const scoped =
      o.family === 6 && /^ff.2:/i.test(o.group) && o.interface ? `${o.group}%${o.interface}` : o.group;
    await bound(sock, o.port, scoped);
    if (o.source) sock.addSourceSpecificMembership(o.source, o.group, iface);
    else sock.addMembership(o.group, iface);
    emit({
      event: "joined",
      group: o.group,
      source: o.source ?? null,
      interface: o.interface ?? null,
      port: o.port,
    });
    let packets = 0;
    sock.on("message", (msg, rinfo) => {
      const arrived = nowMicros();
      const probe = decodeProbe(msg);
      packets++;
      if (!probe) {
        emit({
          event: "recv",
          from: rinfo.address,
          port: rinfo.port,
          bytes: msg.length,
          seq: null,
          senderId: null,
          delayMs: null,
          gaps: null,
          late: false,
        });
      } else {
        const v = tracker.record(`${rinfo.address}/${probe.senderId}`, probe.seq);
        emit({
          event: "recv",
          from: rinfo.address,
          port: rinfo.port,
          bytes: msg.length,
          seq: probe.seq,
          senderId: probe.senderId,
          delayMs: Number(arrived - probe.sentMicros) / 1000,
          gaps: v.gaps,
          late: v.late,
        });
      }
      if (o.count > 0 && packets >= o.count) life.stop();
    });
    await life.done;
    const t = tracker.totals();
    emit({
      event: "summary",
      mode: "receive",
      packets,
      senders: t.senders,
      gaps: t.gaps,
      seconds: (Date.now() - started) / 1000,
    });
    return o.count > 0 && packets < o.count ? 2 : 0;
  } finally {
    life.stop();
    sock.close();
  }
}

/** Sends probes every `interval` ms until --count / --duration / a signal. Exit code 0. */
export async function runSender(o: SendOptions, print: Print): Promise<number> {
  const emit = (e: McastEvent) => print(formatEvent(e, o.json));
  const iface = ifaceArg(o.interface, o.family);
  const sock = createSocket({ type: o.family === 4 ? "udp4" : "udp6", reuseAddr: true });
  const life = lifetime(o.duration);
  const senderId = o.senderId ?? randomInt(0, 2 ** 32 - 1);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  try {
    await bound(sock, 0, o.bind ?? (o.family === 4 ? "0.0.0.0" : "::"));
    sock.setMulticastTTL(o.ttl);
    if (iface !== undefined) sock.setMulticastInterface(iface);
    emit({
      event: "sending",
      group: o.group,
      port: o.port,
      interface: o.interface ?? null,
      bind: o.bind ?? null,
      senderId,
    });
    let failure: Error | undefined;
    const sendOne = () => {
      const seq = sent + 1;
      const buf = encodeProbe({ seq, sentMicros: nowMicros(), senderId }, o.size);
      sent = seq;
      if (o.count > 0 && sent >= o.count && timer) clearInterval(timer);
      sock.send(buf, o.port, o.group, (err) => {
        if (err) {
          failure = err;
          life.stop();
          return;
        }
        emit({ event: "sent", seq, group: o.group, port: o.port, bytes: buf.length });
        if (o.count > 0 && seq >= o.count) life.stop();
      });
    };
    timer = setInterval(sendOne, o.interval);
    sendOne();
    await life.done;
    if (failure) throw failure;
    emit({
      event: "summary",
      mode: "send",
      packets: sent,
      senders: 1,
      gaps: 0,
      seconds: (Date.now() - started) / 1000,
    });
    return 0;
  } finally {
    if (timer) clearInterval(timer);
    life.stop();
    sock.close();
  }
}
