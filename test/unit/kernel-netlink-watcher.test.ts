import assert from "node:assert/strict";
import { test } from "node:test";
import { type LinkEvent, LinkWatcher, type NetlinkSyscalls } from "../../src/kernel/rtnetlink.js";
import {
  encodeIfaddrmsg,
  encodeIfinfomsg,
  encodeMessage,
  IFA_LOCAL,
  IFLA_IFNAME,
  IFLA_MTU,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  parseMessages,
  RTM_DELLINK,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from "../../src/kernel/structs/netlink.js";

const PORT = 4242;

/** A fake netlink socket: records requests, hands out queued datagrams on poll. */
class FakeNetlink implements NetlinkSyscalls {
  requests: Array<{ type: number; seq: number }> = [];
  queue: Array<Buffer | Error> = [];
  private cb: ((readable: boolean) => void) | null = null;
  closed = false;
  socket(): number {
    return 7;
  }
  close(): void {
    this.closed = true;
  }
  bind(): void {}
  getsockname(_fd: number, buf: Uint8Array): number {
    Buffer.from(buf.buffer, buf.byteOffset, buf.length).writeUInt32LE(PORT, 4);
    return 12;
  }
  setsockopt(): void {}
  sendmsg(_fd: number, data: Uint8Array): number {
    const m = parseMessages(data).messages[0]!;
    this.requests.push({ type: m.header.type, seq: m.header.seq });
    return data.length;
  }
  recvmsg(_fd: number, buf: Uint8Array): ReturnType<NetlinkSyscalls["recvmsg"]> {
    const next = this.queue.shift();
    if (next === undefined) return null;
    if (next instanceof Error) throw next;
    buf.set(next);
    return { bytes: next.length, truncated: false, controlTruncated: false, from: Buffer.alloc(12), ifindex: 0, dst: null, ttl: -1, hopopts: null };
  }
  pollStart(_fd: number, cb: (readable: boolean) => void): void {
    this.cb = cb;
  }
  pollStop(): void {
    this.cb = null;
  }
  /** Queues datagrams and signals readability. */
  deliver(...dgrams: Array<Buffer | Error>): void {
    this.queue.push(...dgrams);
    this.cb?.(true);
  }
  lastSeq(type: number): number {
    const r = [...this.requests].reverse().find((x) => x.type === type);
    assert.ok(r, `no request of type ${type}`);
    return r.seq;
  }
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const link = (ifindex: number, name: string, flags: number, family = 0) =>
  encodeIfinfomsg({ ifindex, flags, family }, [
    [IFLA_IFNAME, Buffer.from(`${name}\0`)],
    [IFLA_MTU, u32(1500)],
  ]);
const addr4 = (ifindex: number, a: number[]) =>
  encodeIfaddrmsg({ family: 2, prefixLen: 24, flags: 0, scope: 0, ifindex }, [[IFA_LOCAL, Buffer.from(a)]]);
const dumpMsg = (type: number, seq: number, body: Buffer, flags = NLM_F_MULTI) =>
  encodeMessage(type, flags, seq, body, PORT);
const done = (seq: number, flags = NLM_F_MULTI) => encodeMessage(NLMSG_DONE, flags, seq, u32(0), PORT);
const event = (type: number, body: Buffer) => encodeMessage(type, 0, 99, body, 555);
const tick = () => new Promise((r) => setImmediate(r));

/** Answers the dump in progress with these links and addresses. */
function answerDump(k: FakeNetlink, links: Buffer[], addrs: Buffer[], extra: Buffer[] = []): void {
  const s1 = k.lastSeq(RTM_GETLINK);
  k.deliver(Buffer.concat([...links.map((l) => dumpMsg(RTM_NEWLINK, s1, l)), ...extra]), done(s1));
  const s2 = k.lastSeq(RTM_GETADDR);
  k.deliver(Buffer.concat(addrs.map((a) => dumpMsg(RTM_NEWADDR, s2, a))), done(s2));
}

test("open() subscribes and dumps links then addresses; notifications during the dump come after it", async () => {
  const k = new FakeNetlink();
  const w = LinkWatcher.open({ syscalls: k });
  assert.equal(w.port, PORT);
  assert.deepEqual(
    k.requests.map((r) => r.type),
    [RTM_GETLINK],
  );
  const events: LinkEvent[] = [];
  w.onEvent((e) => events.push(e));
  const p = w.dump();
  // a notification interleaved with the dump answers (other port id, other seq)
  answerDump(k, [link(1, "lo", 0x49)], [addr4(1, [127, 0, 0, 1])], [event(RTM_NEWLINK, link(2, "eth0", 0x41))]);
  assert.deepEqual(
    k.requests.map((r) => r.type),
    [RTM_GETLINK, RTM_GETADDR],
  );
  const dump = await p;
  assert.equal(events.length, 0, "held back until the dump's awaiting code has run");
  assert.deepEqual(
    dump.links.map((l) => [l.ifindex, l.name, l.up, l.running, l.mtu]),
    [[1, "lo", true, true, 1500]],
  );
  assert.deepEqual(
    dump.addresses.map((a) => a.address),
    ["127.0.0.1"],
  );
  await tick();
  assert.deepEqual(
    events.map((e) => e.type === "newlink" && e.link.name),
    ["eth0"],
  );
  w.close();
  assert.ok(k.closed);
  await assert.rejects(w.dump(), /closed/);
});

test("a dump flagged NLM_F_DUMP_INTR is redone with a new sequence number", async () => {
  const k = new FakeNetlink();
  const w = LinkWatcher.open({ syscalls: k });
  const p = w.dump();
  const s1 = k.lastSeq(RTM_GETLINK);
  k.deliver(dumpMsg(RTM_NEWLINK, s1, link(1, "stale", 1)), done(s1, NLM_F_MULTI | NLM_F_DUMP_INTR));
  const s1b = k.lastSeq(RTM_GETLINK);
  assert.notEqual(s1b, s1);
  answerDump(k, [link(1, "lo", 1)], []);
  const d = await p;
  assert.deepEqual(
    d.links.map((l) => l.name),
    ["lo"],
  );
  w.close();
});

test("ENOBUFS (lost notifications): re-dump and emit a synthetic full state", async () => {
  const k = new FakeNetlink();
  const w = LinkWatcher.open({ syscalls: k });
  const events: LinkEvent[] = [];
  w.onEvent((e) => events.push(e));
  const p = w.dump();
  answerDump(k, [link(1, "lo", 1), link(2, "eth0", 0x41)], [addr4(2, [10, 0, 0, 1])]);
  await p;
  await tick();
  const before = k.requests.length;
  k.deliver(Object.assign(new Error("recvmsg: No buffer space available"), { code: "ENOBUFS", errno: 105, syscall: "recvmsg" }));
  assert.equal(w.overruns, 1);
  assert.equal(k.requests[before]?.type, RTM_GETLINK, "a new dump was requested");
  // meanwhile eth0 went away and eth1 appeared
  answerDump(k, [link(1, "lo", 1), link(3, "eth1", 1)], []);
  await tick();
  assert.deepEqual(
    events.map((e) => `${e.type} ${"link" in e ? e.link.name : e.addr.address}`),
    ["deladdr 10.0.0.1", "dellink eth0", "newlink lo", "newlink eth1"],
  );
  w.close();
});

test("bridge-port (AF_BRIDGE) link messages are not link events; a throwing listener does not stop the watcher", async () => {
  const k = new FakeNetlink();
  const w = LinkWatcher.open({ syscalls: k });
  const events: LinkEvent[] = [];
  const p = w.dump();
  answerDump(k, [], []);
  await p;
  const errors: unknown[] = [];
  w.onError((err) => errors.push(err));
  w.onEvent(() => {
    throw new Error("listener bug");
  });
  w.onEvent((e) => events.push(e));
  k.deliver(event(RTM_DELLINK, link(4, "port0", 1, 7)), event(RTM_NEWLINK, link(5, "br0", 1)));
  await tick();
  assert.deepEqual(
    events.map((e) => e.type === "newlink" && e.link.name),
    ["br0"],
  );
  assert.equal(errors.length, 1);
  w.close();
});
