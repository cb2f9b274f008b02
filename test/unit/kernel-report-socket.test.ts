/**
 * A link's report socket (src/kernel/report-socket.ts) over fake system calls: what it asks
 * of the kernel at open, what it delivers and discards, bounded batches, errors and close.
 * The kernel's side is test/e2e/kernel-report-socket.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelError } from "../../src/kernel/errors.js";
import { igmpFilter } from "../../src/kernel/igmp-paths.js";
import { isPollFailure, RECEIVE_BUFFER_BYTES } from "../../src/kernel/mroute-socket.js";
import type { ReceivedPacket } from "../../src/kernel/received-packet.js";
import { ReportSocket } from "../../src/kernel/report-socket.js";
import { packBpf } from "../../src/kernel/structs/bpf.js";
import { IPV6_ROUTER_ALERT_HOPOPTS, packMembershipRequest } from "../../src/kernel/structs/mroute.js";
import { sockaddrIn6 } from "../../src/kernel/structs/sockaddr.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls, ipv4Datagram } from "./fake-syscalls.js";

const DN1 = 3;

function open(
  family: IpFamily,
  opts: { joinReportGroups?: boolean; sys?: FakeSyscalls; ifindex?: number; now?: () => number } = {},
) {
  const sys = opts.sys ?? new FakeSyscalls();
  sys.interfaces.set(DN1, "dn1");
  const errors: KernelError[] = [];
  const packets: ReceivedPacket[] = [];
  const sock = ReportSocket.open({
    family,
    ifindex: opts.ifindex ?? DN1,
    joinReportGroups: opts.joinReportGroups ?? true,
    onPacket: (p) => packets.push(p),
    onError: (e) => errors.push(e),
    syscalls: sys,
    // A clock that stands still unless told: batches end by count only.
    reading: { now: opts.now ?? (() => 0) },
  });
  return { sys, sock, errors, packets };
}

function openError(family: IpFamily, sys: FakeSyscalls): KernelError {
  sys.interfaces.set(DN1, "dn1");
  try {
    ReportSocket.open({
      family,
      ifindex: DN1,
      joinReportGroups: true,
      onPacket: () => {},
      onError: () => {},
      syscalls: sys,
    });
  } catch (err) {
    return err as KernelError;
  }
  assert.fail("open succeeded");
}

const V2_REPORT = [0x16, 0, 0, 0, 239, 2, 2, 2];

test("IPv4 open: raw IGMP socket bound to the link, pktinfo, TTL, Router Alert, the link's filter, buffer, report groups, then polling", () => {
  const { sys, sock } = open("ipv4");
  assert.deepEqual(sys.texts(), [
    "socket 2,3,2",
    `setsockopt ${sock.fd} SOL_SOCKET SO_BINDTOIFINDEX ${DN1}`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_PKTINFO 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_RECVTTL 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_ROUTER_ALERT 1`,
    `attachFilter ${sock.fd}`,
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUFFORCE ${RECEIVE_BUFFER_BYTES}`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_ADD_MEMBERSHIP`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_ADD_MEMBERSHIP`,
    `pollStart ${sock.fd}`,
  ]);
  assert.deepEqual(sys.callsOf("attachFilter")[0]?.bytes, packBpf(igmpFilter("link")));
  assert.deepEqual(
    sys.callsOf("setsockopt", "IP_ADD_MEMBERSHIP").map((c) => c.bytes),
    [packMembershipRequest("ipv4", "224.0.0.22", DN1), packMembershipRequest("ipv4", "224.0.0.2", DN1)],
  );
  assert.equal(sock.filterError, null);
  assert.equal(sock.ifindex, DN1);
});

test("IPv6 open: raw ICMPv6 socket bound to the link, pktinfo, hop limit, hop-by-hop options, MLD types only, report groups", () => {
  const { sys, sock } = open("ipv6");
  assert.deepEqual(sys.texts(), [
    "socket 10,3,58",
    `setsockopt ${sock.fd} SOL_SOCKET SO_BINDTOIFINDEX ${DN1}`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_RECVPKTINFO 1`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_RECVHOPLIMIT 1`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_RECVHOPOPTS 1`,
    `setsockopt ${sock.fd} IPPROTO_ICMPV6 ICMP6_FILTER`,
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUFFORCE ${RECEIVE_BUFFER_BYTES}`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_ADD_MEMBERSHIP`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_ADD_MEMBERSHIP`,
    `pollStart ${sock.fd}`,
  ]);
  const filter = sys.callsOf("setsockopt", "ICMP6_FILTER")[0]?.bytes ?? Buffer.alloc(0);
  const passes = (t: number) => ((filter.readUInt32LE(4 * (t >> 5)) >>> (t & 31)) & 1) === 0;
  assert.deepEqual([0, 1, 128, 129, 130, 131, 132, 133, 143, 255].filter(passes), [130, 131, 132, 143]);
  assert.deepEqual(
    sys.callsOf("setsockopt", "IPV6_ADD_MEMBERSHIP").map((c) => c.bytes),
    [packMembershipRequest("ipv6", "ff02::16", DN1), packMembershipRequest("ipv6", "ff02::2", DN1)],
  );
});

test("the upstream link's socket joins no report group", () => {
  for (const family of ["ipv4", "ipv6"] as const) {
    const { sys } = open(family, { joinReportGroups: false });
    assert.equal(sys.texts("setsockopt").filter((t) => t.includes("MEMBERSHIP")).length, 0);
  }
});

test("failures at open are explained and leave no socket open", () => {
  let sys = new FakeSyscalls().fail("socket", "EPERM");
  assert.match(
    openError("ipv4", sys).message,
    /^opening the ipv4 report socket of dn1 \(ifindex 3\): socket: EPERM/,
  );
  sys = new FakeSyscalls().fail("setsockopt", "ENOPROTOOPT", { option: "SO_BINDTOIFINDEX" });
  let err = openError("ipv6", sys);
  assert.match(
    err.message,
    /binding the ipv6 report socket of dn1 \(ifindex 3\) to its interface: .*Linux 5\.0/,
  );
  assert.deepEqual(sys.openFds(), []);
  sys = new FakeSyscalls().fail("setsockopt", "ENOBUFS", { option: "IP_ADD_MEMBERSHIP", times: 2 });
  err = openError("ipv4", sys);
  assert.equal(err.code, "ENOBUFS");
  assert.match(
    err.message,
    /joining 224\.0\.0\.22 on dn1 \(ifindex 3\) to hear reports: .*net\.ipv4\.igmp_max_memberships/,
  );
  assert.deepEqual(sys.openFds(), []);
  sys = new FakeSyscalls().fail("setsockopt", "EINVAL", { option: "IP_ROUTER_ALERT" });
  assert.match(
    openError("ipv4", sys).message,
    /configuring the ipv4 report socket of dn1 \(ifindex 3\) \(IP_ROUTER_ALERT\)/,
  );
  assert.deepEqual(sys.openFds(), []);
});

test("IPv4: the link's IGMP is decoded with pktinfo, TTL and Router Alert; what the mroute socket reads, and other interfaces', is discarded", () => {
  const { sys, sock, packets, errors } = open("ipv4");
  sys.queue(sock.fd, {
    data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT),
    ifindex: DN1,
    dst: ipv4ToBytes("239.2.2.2"),
  });
  sys.queue(sock.fd, {
    data: ipv4Datagram("10.11.0.2", "224.0.0.22", [0x22, 0, 0, 0, 0, 0, 0, 0], false),
    ifindex: DN1,
  });
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT, false), ifindex: DN1 }); // the mroute socket's
  sys.queue(sock.fd, { data: ipv4Datagram("10.12.0.2", "239.2.2.2", V2_REPORT), ifindex: 4 }); // queued before the bind
  sys.fire(sock.fd);
  assert.deepEqual(packets, [
    {
      ifindex: DN1,
      source: "10.11.0.2",
      destination: "239.2.2.2",
      ttl: 1,
      routerAlert: true,
      payload: Uint8Array.from(V2_REPORT),
    },
    {
      ifindex: DN1,
      source: "10.11.0.2",
      destination: "224.0.0.22",
      ttl: 1,
      routerAlert: false,
      payload: Uint8Array.of(0x22, 0, 0, 0, 0, 0, 0, 0),
    },
  ]);
  assert.deepEqual(errors, []);
  assert.deepEqual(sock.stats(), { filter: "kernel", discarded: 2, drops: 0, truncated: 0 });
});

test("IPv6: MLD with the source from the sockaddr, pktinfo, hop limit, hop-by-hop Router Alert; other types and interfaces discarded", () => {
  const { sys, sock, packets } = open("ipv6");
  const done = [132, 0, 0, 0, 0, 0, 0, 0, ...ipv6ToBytes("ff0e::1")];
  sys.queue(sock.fd, {
    data: Uint8Array.from(done),
    from: sockaddrIn6("fe80::2", { scopeId: DN1 }),
    ifindex: DN1,
    dst: ipv6ToBytes("ff02::2"),
    ttl: 1,
    hopopts: IPV6_ROUTER_ALERT_HOPOPTS,
  });
  // Without pktinfo there is no destination: dropped. Without hop-by-hop options: no RA.
  sys.queue(sock.fd, { data: Uint8Array.from(done), from: sockaddrIn6("fe80::3"), ifindex: DN1 });
  sys.queue(sock.fd, {
    data: Uint8Array.from(done),
    from: sockaddrIn6("fe80::4"),
    ifindex: DN1,
    dst: ipv6ToBytes("ff02::2"),
    ttl: 255,
  });
  sys.queue(sock.fd, {
    data: Uint8Array.of(128, 0, 0, 0),
    from: sockaddrIn6("fe80::5"),
    ifindex: DN1,
    dst: ipv6ToBytes("ff02::1"),
  });
  sys.queue(sock.fd, {
    data: Uint8Array.from(done),
    from: sockaddrIn6("fe80::6"),
    ifindex: 4,
    dst: ipv6ToBytes("ff02::2"),
  });
  sys.fire(sock.fd);
  assert.deepEqual(
    packets.map((p) => [p.ifindex, p.source, p.destination, p.ttl, p.routerAlert, p.payload[0]]),
    [
      [DN1, "fe80::2", "ff02::2", 1, true, 132],
      [DN1, "fe80::4", "ff02::2", 255, false, 132],
    ],
  );
  assert.equal(sock.stats().discarded, 2);
});

test("a filter the kernel refuses is no failure: filterError says why and the copies are discarded after reading", () => {
  let sys = new FakeSyscalls().fail("attachFilter", "ENOMEM");
  let t = open("ipv4", { sys });
  assert.equal(t.sock.filterError?.code, "ENOMEM");
  assert.match(
    t.sock.filterError!.message,
    /filtering the ipv4 report socket of dn1 \(ifindex 3\) \(SO_ATTACH_FILTER\)/,
  );
  sys.queue(t.sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT, false), ifindex: DN1 });
  sys.fire(t.sock.fd);
  assert.deepEqual(t.packets, []);
  assert.deepEqual(t.sock.stats(), { filter: "software", discarded: 1, drops: 0, truncated: 0 });
  sys = new FakeSyscalls().fail("setsockopt", "EINVAL", { option: "ICMP6_FILTER" });
  t = open("ipv6", { sys });
  assert.equal(t.sock.stats().filter, "software");
});

test("a readiness callback reads one batch (32): a flooding link delays a quiet one by one batch, not its backlog", () => {
  const sys = new FakeSyscalls();
  const busy = open("ipv4", { sys });
  const quiet = open("ipv4", { sys, ifindex: 4 });
  for (let i = 0; i < 100; i++)
    sys.queue(busy.sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT), ifindex: DN1 });
  sys.queue(quiet.sock.fd, { data: ipv4Datagram("10.12.0.2", "239.2.2.2", V2_REPORT), ifindex: 4 });
  // One turn of the event loop: libuv calls every ready socket's callback once.
  sys.fire(busy.sock.fd);
  sys.fire(quiet.sock.fd);
  assert.equal(busy.packets.length, 32);
  assert.equal(quiet.packets.length, 1, "the quiet link's report after one batch of the flood");
  assert.equal(sys.queued(busy.sock.fd), 68);
  for (let turn = 0; turn < 3; turn++) sys.fire(busy.sock.fd);
  assert.equal(busy.packets.length, 100);
});

test("a batch also ends once it has taken the time budget (4 ms), after at least one datagram", () => {
  let t = 0;
  const sys = new FakeSyscalls();
  const { sock, packets } = open("ipv4", { sys, now: () => t });
  const slow = open("ipv4", { sys, ifindex: 4, now: () => t });
  for (let i = 0; i < 10; i++)
    sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT), ifindex: DN1 });
  sys.on("recvmsg", () => {
    t += 1.5; // each datagram takes 1.5 ms
    return undefined;
  });
  sys.fire(sock.fd);
  assert.equal(packets.length, 3, "stops at 4.5 ms");
  // A single datagram beyond the budget is still read.
  sys.queue(slow.sock.fd, { data: ipv4Datagram("10.12.0.2", "239.2.2.2", V2_REPORT), ifindex: 4 });
  sys.on("recvmsg", () => {
    t += 50;
    return undefined;
  });
  sys.fire(slow.sock.fd);
  assert.equal(slow.packets.length, 1);
});

test("errors go to onError naming the socket; nothing is thrown out of the poll callback", () => {
  const { sys, sock, errors, packets } = open("ipv4");
  sys.fail("recvmsg", "ENOBUFS");
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT), ifindex: DN1 });
  assert.doesNotThrow(() => sys.fire(sock.fd));
  assert.match(
    errors[0]!.message,
    /^receiving on the ipv4 report socket of dn1 \(ifindex 3\): recvmsg: ENOBUFS/,
  );
  assert.equal(isPollFailure(errors[0]!), false);
  sys.fire(sock.fd);
  assert.equal(packets.length, 1, "reading goes on");
  assert.doesNotThrow(() => sys.fire(sock.fd, false));
  assert.ok(isPollFailure(errors[1]!));
  assert.match(errors[1]!.message, /polling the ipv4 report socket of dn1 \(ifindex 3\) failed/);
});

test("close stops polling and closes (the kernel drops the memberships); idempotent", () => {
  const { sys, sock } = open("ipv6");
  const fd = sock.fd;
  sock.close();
  assert.deepEqual(sys.texts().slice(-2), [`pollStop ${fd}`, `close ${fd}`]);
  assert.equal(sys.callsOf("setsockopt", "IPV6_DROP_MEMBERSHIP").length, 0);
  assert.equal(sock.fd, -1);
  assert.deepEqual(sys.openFds(), []);
  sock.close();
  assert.equal(sys.callsOf("close").length, 1);
  assert.equal(sock.stats().drops, null);
});

test("a datagram whose data or ancillary data the kernel cut (MSG_TRUNC, MSG_CTRUNC) is dropped and counted", () => {
  const { sys, sock, packets } = open("ipv4");
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", V2_REPORT), ifindex: DN1, controlTruncated: true });
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.3", V2_REPORT), ifindex: DN1 });
  sys.fire(sock.fd);
  assert.deepEqual(
    packets.map((p) => p.destination),
    ["239.2.2.3"],
    "only the whole datagram is handled",
  );
  assert.equal(sock.stats().truncated, 1);
});

test("stats: the kernel's drop count from SO_MEMINFO (sk_drops)", () => {
  const sys = new FakeSyscalls().on("getsockopt", (c, _fd, _level, _name, buf) => {
    if (c.option === "SO_MEMINFO") Buffer.from(buf.buffer, buf.byteOffset).writeUInt32LE(17, 32);
  });
  const { sock } = open("ipv4", { sys });
  assert.deepEqual(sock.stats(), { filter: "kernel", discarded: 0, drops: 17, truncated: 0 });
  sys.on("getsockopt", () => {
    throw Object.assign(new Error("getsockopt: ENOPROTOOPT"), {
      code: "ENOPROTOOPT",
      errno: 92,
      syscall: "getsockopt",
    });
  });
  assert.equal(sock.stats().drops, null);
});
