import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelError } from "../../src/kernel/errors.js";
import {
  isPollFailure,
  MrouteSocket,
  type ReceivedPacket,
  RECEIVE_BUFFER_BYTES,
  type Upcall,
} from "../../src/kernel/mroute-socket.js";
import { igmpFilter } from "../../src/kernel/igmp-paths.js";
import { packBpf } from "../../src/kernel/structs/bpf.js";
import { IPV6_ROUTER_ALERT_HOPOPTS } from "../../src/kernel/structs/mroute.js";
import { sockaddrIn6 } from "../../src/kernel/structs/sockaddr.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls, ipv4Datagram } from "./fake-syscalls.js";

/** A clock that stands still: batches end by count only (the time budget has its own test). */
const STILL = { now: () => 0 };

function open(family: IpFamily, table: number | null = null, sys = new FakeSyscalls()) {
  const errors: KernelError[] = [];
  const upcalls: Upcall[] = [];
  const packets: ReceivedPacket[] = [];
  const sock = MrouteSocket.open(family, { table, syscalls: sys, onError: (e) => errors.push(e), reading: STILL });
  sock.onUpcall((u) => upcalls.push(u));
  sock.onPacket((p) => packets.push(p));
  return { sys, sock, errors, upcalls, packets };
}

function openError(family: IpFamily, sys: FakeSyscalls, table: number | null = null): KernelError {
  try {
    MrouteSocket.open(family, { table, syscalls: sys, onError: () => undefined });
  } catch (err) {
    return err as KernelError;
  }
  assert.fail("open succeeded");
}

test("IPv4 open: raw IGMP socket, MRT_TABLE before MRT_INIT, options, the upcalls filter, buffer, then polling", () => {
  const { sys, sock } = open("ipv4", 7);
  assert.deepEqual(sys.texts(), [
    "socket 2,3,2",
    `setsockopt ${sock.fd} IPPROTO_IP MRT_TABLE 7`,
    `setsockopt ${sock.fd} IPPROTO_IP MRT_INIT 1`,
    `setsockopt ${sock.fd} IPPROTO_IP MRT_ASSERT 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_PKTINFO 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_RECVTTL 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_MULTICAST_TTL 1`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_MULTICAST_LOOP 0`,
    `setsockopt ${sock.fd} IPPROTO_IP IP_OPTIONS`,
    `attachFilter ${sock.fd}`,
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUFFORCE ${RECEIVE_BUFFER_BYTES}`,
    `pollStart ${sock.fd}`,
  ]);
  // RFC 2113 Router Alert on every query.
  assert.deepEqual([...(sys.callsOf("setsockopt", "IP_OPTIONS")[0]?.bytes ?? [])], [0x94, 4, 0, 0]);
  assert.deepEqual(sys.callsOf("attachFilter")[0]?.bytes, packBpf(igmpFilter("mroute")));
  assert.equal(sock.filterError, null);
});

test("IPv6 open: raw ICMPv6 socket, MRT6_TABLE before MRT6_INIT, an ICMPv6 filter blocking every type", () => {
  const { sys, sock } = open("ipv6", 7);
  assert.deepEqual(sys.texts("setsockopt"), [
    `setsockopt ${sock.fd} IPPROTO_IPV6 MRT6_TABLE 7`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 MRT6_INIT 1`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_MULTICAST_HOPS 1`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_MULTICAST_LOOP 0`,
    `setsockopt ${sock.fd} IPPROTO_IPV6 IPV6_HOPOPTS`,
    `setsockopt ${sock.fd} IPPROTO_ICMPV6 ICMP6_FILTER`,
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUFFORCE ${RECEIVE_BUFFER_BYTES}`,
  ]);
  assert.equal(sys.texts("socket")[0], "socket 10,3,58");
  assert.deepEqual(sys.callsOf("setsockopt", "ICMP6_FILTER")[0]?.bytes, Buffer.alloc(32, 0xff));
});

test("a filter the kernel refuses is no failure: filterError says why, copies are read and discarded", () => {
  for (const family of ["ipv4", "ipv6"] as const) {
    const sys = new FakeSyscalls();
    if (family === "ipv4") sys.fail("attachFilter", "ENOMEM");
    else sys.fail("setsockopt", "EINVAL", { option: "ICMP6_FILTER" });
    const { sock, upcalls, packets } = open(family, null, sys);
    assert.equal(sock.filterError?.code, family === "ipv4" ? "ENOMEM" : "EINVAL");
    assert.match(sock.filterError!.message, new RegExp(`filtering the ${family} multicast routing socket`));
    // A copy of a link's packet (Router Alert / ICMPv6), then an upcall.
    if (family === "ipv4") sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", [0x16, 0, 0, 0, 239, 2, 2, 2]) });
    else sys.queue(sock.fd, { data: Uint8Array.of(143, 0, 0, 0, 0, 0, 0, 0) });
    sys.queue(sock.fd, { data: family === "ipv4" ? igmpmsg(1, 1, "10.0.0.1", "239.0.0.1") : mrt6msg(1, 1, "fd00::1", "ff0e::1") });
    sys.fire(sock.fd);
    assert.deepEqual(packets, []);
    assert.equal(upcalls.length, 1);
    assert.deepEqual(sock.stats(), { filter: "software", discarded: 1, drops: 0, truncated: 0 });
  }
});

test("the default table sends no MRT_TABLE; without SO_RCVBUFFORCE the buffer falls back to SO_RCVBUF", () => {
  const sys = new FakeSyscalls().fail("setsockopt", "EPERM", { option: "SO_RCVBUFFORCE" });
  const { sock } = open("ipv4", null, sys);
  assert.equal(sys.callsOf("setsockopt", "MRT_TABLE").length, 0);
  assert.deepEqual(sys.texts("setsockopt").slice(-2), [
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUFFORCE ${RECEIVE_BUFFER_BYTES} -> EPERM`,
    `setsockopt ${sock.fd} SOL_SOCKET SO_RCVBUF ${RECEIVE_BUFFER_BYTES}`,
  ]);
});

test("MRT_INIT failures are explained and the half-open socket is closed", () => {
  const cases: Array<[IpFamily, string, number | null, RegExp]> = [
    [
      "ipv4",
      "EADDRINUSE",
      null,
      /^the default multicast routing table \(ipv4\) is already in use by another multicast router \(mrouted, igmpproxy, another improxy\?\) \(EADDRINUSE\)$/,
    ],
    ["ipv6", "EADDRINUSE", 5, /^multicast routing table 5 \(ipv6\) is already in use/],
    ["ipv4", "EACCES", null, /^ipv4 multicast routing needs CAP_NET_ADMIN \(EACCES\)$/],
    ["ipv6", "EPERM", null, /^ipv6 multicast routing needs CAP_NET_ADMIN \(EPERM\)$/],
    [
      "ipv4",
      "ENOPROTOOPT",
      null,
      /this kernel has no ipv4 multicast routing \(CONFIG_IP_MROUTE\) \(ENOPROTOOPT\)/,
    ],
    [
      "ipv6",
      "ENOPROTOOPT",
      null,
      /this kernel has no ipv6 multicast routing \(CONFIG_IPV6_MROUTE\) \(ENOPROTOOPT\)/,
    ],
  ];
  for (const [family, code, table, message] of cases) {
    const sys = new FakeSyscalls().fail("setsockopt", code, {
      option: family === "ipv4" ? "MRT_INIT" : "MRT6_INIT",
    });
    const err = openError(family, sys, table);
    assert.equal(err.name, "KernelError");
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.deepEqual(sys.openFds(), [], `${family} ${code}: socket left open`);
    assert.equal(sys.callsOf("pollStart").length, 0);
  }
});

test("MRT_TABLE without multiple-table support is explained; a later option failure also closes", () => {
  let sys = new FakeSyscalls().fail("setsockopt", "ENOPROTOOPT", { option: "MRT6_TABLE" });
  let err = openError("ipv6", sys, 9);
  assert.match(
    err.message,
    /cannot use multicast routing table 9: this kernel has no multiple multicast routing tables \(CONFIG_IPV6_MROUTE_MULTIPLE_TABLES\)/,
  );
  assert.equal(sys.callsOf("setsockopt", "MRT6_INIT").length, 0);
  assert.deepEqual(sys.openFds(), []);
  sys = new FakeSyscalls().fail("setsockopt", "EINVAL", { option: "IP_RECVTTL" });
  err = openError("ipv4", sys);
  assert.equal(err.code, "EINVAL");
  assert.match(err.message, /configuring the ipv4 multicast routing socket \(IP_RECVTTL\)/);
  assert.deepEqual(sys.openFds(), []);
  // The socket itself cannot be opened: nothing to close.
  sys = new FakeSyscalls().fail("socket", "EPERM");
  err = openError("ipv4", sys);
  assert.match(err.message, /^opening the ipv4 multicast routing socket: socket: EPERM \(EPERM\)$/);
});

/** struct igmpmsg as the kernel queues it: an IPv4 header with protocol 0 (im_mbz). */
function igmpmsg(msgtype: number, vif: number, source: string, group: string): Buffer {
  const b = Buffer.alloc(20);
  b[8] = msgtype;
  b[10] = vif;
  b.set(ipv4ToBytes(source), 12);
  b.set(ipv4ToBytes(group), 16);
  return b;
}

test("IPv4 dispatch: igmpmsg upcalls by type, the IGMP only this socket gets (no Router Alert, to a group) with pktinfo and TTL; copies of the links' packets discarded", () => {
  const { sys, sock, upcalls, packets, errors } = open("ipv4");
  sys.queue(sock.fd, { data: igmpmsg(1, 3, "10.0.0.5", "239.1.1.1") });
  sys.queue(sock.fd, { data: igmpmsg(4, 2, "10.0.0.5", "239.1.1.1") }); // WRVIFWHOLE
  sys.queue(sock.fd, { data: igmpmsg(3, 0, "10.0.0.6", "239.1.1.2") });
  sys.queue(sock.fd, { data: igmpmsg(9, 0, "10.0.0.6", "239.1.1.2") }); // unknown: ignored
  const report = [0x16, 0, 0, 0, 239, 2, 2, 2];
  sys.queue(sock.fd, {
    data: ipv4Datagram("10.11.0.2", "239.2.2.2", report, false),
    ifindex: 4,
    dst: ipv4ToBytes("239.2.2.2"),
  });
  // Copies of packets the links' report sockets read: discarded.
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", report), ifindex: 4 });
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "224.0.0.22", [0x22, 0, 0, 0, 0, 0, 0, 0], false), ifindex: 4 });
  sys.queue(sock.fd, { data: ipv4Datagram("10.11.0.2", "239.2.2.2", [1, 2, 3, 4], false, 17), ifindex: 4 }); // not IGMP
  sys.fire(sock.fd);
  assert.deepEqual(upcalls, [
    { type: "nocache", vif: 3, source: "10.0.0.5", group: "239.1.1.1" },
    { type: "wrongvif", vif: 2, source: "10.0.0.5", group: "239.1.1.1" },
    { type: "wholepkt", vif: 0, source: "10.0.0.6", group: "239.1.1.2" },
  ]);
  assert.deepEqual(packets, [
    {
      ifindex: 4,
      source: "10.11.0.2",
      destination: "239.2.2.2",
      ttl: 1,
      routerAlert: false,
      payload: Uint8Array.from(report),
    },
  ]);
  assert.deepEqual(errors, []);
  assert.equal(sys.queued(sock.fd), 0);
  assert.deepEqual(sock.stats(), { filter: "kernel", discarded: 3, drops: 0, truncated: 0 });
});

/** struct mrt6msg: im6_mbz 0, msgtype, mif (u16), pad, source, group. */
function mrt6msg(msgtype: number, mif: number, source: string, group: string): Buffer {
  const b = Buffer.alloc(40);
  b[1] = msgtype;
  b.writeUInt16LE(mif, 2);
  b.set(ipv6ToBytes(source), 8);
  b.set(ipv6ToBytes(group), 24);
  return b;
}

test("IPv6 dispatch: mrt6msg upcalls; MLD copies (the links' report sockets read them) and short upcalls discarded", () => {
  const { sys, sock, upcalls, packets, errors } = open("ipv6");
  sys.queue(sock.fd, { data: mrt6msg(1, 2, "fd00::5", "ff0e::1") });
  sys.queue(sock.fd, { data: mrt6msg(2, 1, "fd00::5", "ff0e::1") });
  const done = [132, 0, 0, 0, 0, 0, 0, 0, ...ipv6ToBytes("ff0e::1")];
  sys.queue(sock.fd, {
    data: Uint8Array.from(done),
    from: sockaddrIn6("fe80::2", { scopeId: 4 }),
    ifindex: 4,
    dst: ipv6ToBytes("ff02::2"),
    ttl: 1,
    hopopts: IPV6_ROUTER_ALERT_HOPOPTS,
  });
  sys.queue(sock.fd, { data: new Uint8Array(20) }); // byte 0 is 0, too short for an mrt6msg
  sys.fire(sock.fd);
  assert.deepEqual(upcalls, [
    { type: "nocache", vif: 2, source: "fd00::5", group: "ff0e::1" },
    { type: "wrongvif", vif: 1, source: "fd00::5", group: "ff0e::1" },
  ]);
  assert.deepEqual(packets, []);
  assert.deepEqual(errors, []);
  assert.equal(sock.stats().discarded, 2);
});

test("a readiness callback reads at most one batch (32); the next one reads on", () => {
  const { sys, sock, upcalls } = open("ipv4");
  for (let i = 0; i < 40; i++) sys.queue(sock.fd, { data: igmpmsg(1, 1, "10.0.0.1", `239.0.0.${i}`) });
  sys.fire(sock.fd);
  assert.equal(upcalls.length, 32);
  assert.equal(sys.queued(sock.fd), 8);
  sys.fire(sock.fd);
  assert.equal(upcalls.length, 40);
  assert.equal(sys.callsOf("recvmsg").length, 32 + 9, "the second batch ends at EAGAIN");
});

test("truncated datagrams are skipped and the batch goes on", () => {
  const { sys, sock, upcalls } = open("ipv4");
  const big = Buffer.alloc(70_000);
  big.set(igmpmsg(1, 1, "10.0.0.1", "239.0.0.1"));
  sys.queue(sock.fd, { data: big });
  sys.queue(sock.fd, { data: igmpmsg(1, 2, "10.0.0.2", "239.0.0.2") });
  sys.fire(sock.fd);
  assert.deepEqual(
    upcalls.map((u) => u.vif),
    [2],
  );
});

test("a recv error reaches onError, nothing is thrown, and the next readiness reads again", () => {
  const { sys, sock, upcalls, errors } = open("ipv4");
  sys.fail("recvmsg", "ENOBUFS");
  sys.queue(sock.fd, { data: igmpmsg(1, 1, "10.0.0.1", "239.0.0.1") });
  assert.doesNotThrow(() => sys.fire(sock.fd));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, "ENOBUFS");
  assert.equal(isPollFailure(errors[0]!), false);
  assert.match(errors[0]!.message, /^receiving on the ipv4 multicast routing socket: recvmsg: ENOBUFS/);
  sys.fire(sock.fd);
  assert.equal(upcalls.length, 1);
});

test("a poll error reaches onError as a poll failure and nothing is thrown", () => {
  const { sys, sock, errors } = open("ipv6");
  assert.doesNotThrow(() => sys.fire(sock.fd, false));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, "EIO");
  assert.equal(errors[0]?.operation, "polling");
  assert.ok(isPollFailure(errors[0]!));
  assert.match(errors[0]!.message, /polling the ipv6 multicast routing socket failed/);
});

test("a throwing listener reaches onError, later datagrams are still dispatched, nothing is thrown", () => {
  const { sys, sock, errors, upcalls } = open("ipv4");
  let first = true;
  sock.onUpcall(() => {
    if (first) {
      first = false;
      throw new Error("listener bug");
    }
  });
  sys.queue(sock.fd, { data: igmpmsg(1, 1, "10.0.0.1", "239.0.0.1") });
  sys.queue(sock.fd, { data: igmpmsg(1, 2, "10.0.0.2", "239.0.0.2") });
  assert.doesNotThrow(() => sys.fire(sock.fd));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, "EINTERNAL");
  assert.match(errors[0]!.message, /listener bug/);
  assert.equal(isPollFailure(errors[0]!), false);
  assert.deepEqual(
    upcalls.map((u) => u.vif),
    [1, 2],
  );
});

test("an onError handler that throws still throws nothing out of the poll callback", () => {
  const sys = new FakeSyscalls();
  const sock = MrouteSocket.open("ipv4", {
    table: null,
    syscalls: sys,
    onError: () => {
      throw new Error("owner bug");
    },
  });
  const warned = new Promise<string>((resolve) => process.once("warning", (w) => resolve(w.message)));
  assert.doesNotThrow(() => sys.fire(sock.fd, false));
  return warned.then((m) => assert.match(m, /owner bug/));
});

test("sendQuery: pktinfo ifindex and source, hop limit 1, scope id for IPv6; a short send is an error", () => {
  const { sys, sock } = open("ipv6");
  sys.interfaces.set(4, "dn1");
  sock.sendQuery(4, Uint8Array.of(130, 0, 0, 0), "ff02::1", "fe80::1");
  const c = sys.callsOf("sendmsg")[0];
  assert.deepEqual(c?.ctl, { ifindex: 4, hopLimit: 1, src: ipv6ToBytes("fe80::1") });
  assert.deepEqual(c?.to, sockaddrIn6("ff02::1", { scopeId: 4 }));
  sys.on("sendmsg", () => 2);
  assert.throws(
    () => sock.sendQuery(4, Uint8Array.of(130, 0, 0, 0), "ff02::1"),
    (e: KernelError) =>
      e.code === "EMSGSIZE" &&
      /sending a MLD message to ff02::1 on dn1 \(ifindex 4\): only 2 of 4/.test(e.message),
  );
});

test("close: stops polling, MRT_DONE, closes; idempotent; closes even when MRT_DONE fails", () => {
  const { sys, sock } = open("ipv4");
  const fd = sock.fd;
  sock.close();
  assert.deepEqual(sys.texts().slice(-3), [
    `pollStop ${fd}`,
    `setsockopt ${fd} IPPROTO_IP MRT_DONE 0`,
    `close ${fd}`,
  ]);
  assert.equal(sock.fd, -1);
  sock.close();
  assert.equal(sys.callsOf("close").length, 1);
  assert.throws(() => sock.sendQuery(1, Uint8Array.of(0x11), "224.0.0.1"), { code: "EBADF" });

  const other = open("ipv6");
  other.sys.fail("setsockopt", "EINVAL", { option: "MRT6_DONE" });
  assert.throws(() => other.sock.close(), /closing the ipv6 multicast routing socket/);
  assert.deepEqual(other.sys.openFds(), []);
});
