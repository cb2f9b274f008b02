/**
 * `improxy mcast`: the original IMProxy's mcast_test.py. A receiver joins (*,G) or (S,G)
 * and prints every datagram (sequence and delay for improxy's probes, size, sender and
 * the start of the text for anything else, such as mcast_test.py's plain-text payloads);
 * a sender sends timestamped, numbered probes (payload.ts).
 *
 * Source filtering is left to the kernel (the socket's own source-specific membership):
 * the receiver prints whatever the kernel delivers, so a test of (S,G) joins tests the
 * host stack, not this program. The receiver binds to the group address, so it sees only
 * that group's datagrams on its port.
 */
import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { networkInterfaces } from "node:os";
import { type ChosenInterface, chooseInterface } from "./iface.js";
import type { McastOptions, ReceiveOptions, SendOptions } from "./options.js";
import { formatEvent, type McastEvent } from "./output.js";
import { decodeProbe, encodeProbe, excerpt, nowMicros } from "./payload.js";
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

/** The interface of --interface / -l on this host (iface.ts); undefined: the kernel's choice. */
function iface(o: McastOptions): ChosenInterface | undefined {
  const r = chooseInterface(networkInterfaces(), o);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Joins and prints datagrams. Exit code 0; 2 when --count was given and not reached. */
export async function runReceiver(o: ReceiveOptions, print: Print): Promise<number> {
  const emit = (e: McastEvent) => print(formatEvent(e, o.json));
  const on = iface(o);
  const sock = createSocket({ type: o.family === 4 ? "udp4" : "udp6", reuseAddr: true });
  const life = lifetime(o.duration);
  const tracker = new SequenceTracker();
  const started = Date.now();
  try {
    // A link-scope IPv6 group needs its zone to bind.
    const scoped = o.family === 6 && /^ff.2:/i.test(o.group) && on ? `${o.group}%${on.name}` : o.group;
    await bound(sock, o.port, scoped);
    if (o.source) sock.addSourceSpecificMembership(o.source, o.group, on?.arg);
    else sock.addMembership(o.group, on?.arg);
    emit({
      event: "joined",
      group: o.group,
      source: o.source ?? null,
      interface: on?.name ?? null,
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
          text: excerpt(msg),
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
          text: null,
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
  const on = iface(o);
  const sock = createSocket({ type: o.family === 4 ? "udp4" : "udp6", reuseAddr: true });
  const life = lifetime(o.duration);
  const senderId = o.senderId ?? randomInt(0, 2 ** 32 - 1);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let sent = 0;
  try {
    await bound(sock, 0, o.local ?? (o.family === 4 ? "0.0.0.0" : "::"));
    // IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS: mcast_test.py's -t, default 2 (one router).
    sock.setMulticastTTL(o.ttl);
    if (on !== undefined) sock.setMulticastInterface(on.arg);
    emit({
      event: "sending",
      group: o.group,
      port: o.port,
      interface: on?.name ?? null,
      local: o.local ?? null,
      ttl: o.ttl,
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
