/**
 * The native addon's syscall surface (native/netio.c) on loopback sockets: error shape,
 * recvmsg/sendmsg ancillary data, polling, interface names. Needs the built addon and root
 * (IPV6_HOPOPTS needs CAP_NET_RAW).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { isSyscallError, netio } from "../../src/kernel/addon.js";
import { KernelError, kernelCall } from "../../src/kernel/errors.js";
import { assemble, BPF_ACCEPT, jeq, ldb, packBpf, ret } from "../../src/kernel/structs/bpf.js";
import {
  IP_PKTINFO,
  IP_RECVTTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_HOPOPTS,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVHOPOPTS,
  IPV6_RECVPKTINFO,
  IPV6_ROUTER_ALERT_HOPOPTS,
  SOCK_DGRAM,
} from "../../src/kernel/structs/mroute.js";
import { SO_RCVBUF, SOL_SOCKET } from "../../src/kernel/structs/netlink.js";
import {
  AF_INET,
  AF_INET6,
  parseSockaddr,
  sockaddrIn,
  sockaddrIn6,
} from "../../src/kernel/structs/sockaddr.js";

function boundUdp(family: "ipv4" | "ipv6"): { fd: number; port: number } {
  const fd = netio.socket(family === "ipv4" ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
  netio.bind(fd, family === "ipv4" ? sockaddrIn("127.0.0.1") : sockaddrIn6("::1"));
  const name = Buffer.alloc(28);
  const len = netio.getsockname(fd, name);
  const parsed = parseSockaddr(name.subarray(0, len));
  assert.ok(parsed && parsed.family !== "netlink");
  return { fd, port: parsed.port };
}

test("errors carry code, errno, syscall and a strerror message; KernelError wraps them", () => {
  const { fd } = boundUdp("ipv4");
  try {
    assert.throws(
      () => netio.bind(fd, sockaddrIn("127.0.0.1")),
      (err: unknown) => {
        assert.ok(isSyscallError(err));
        assert.equal(err.code, "EINVAL");
        assert.equal(err.errno, 22);
        assert.equal(err.syscall, "bind");
        assert.equal(err.message, "bind: Invalid argument");
        return true;
      },
    );
    // MRT_INIT on a UDP socket: EOPNOTSUPP, wrapped with the operation and an explanation.
    assert.throws(
      () => kernelCall("starting multicast routing", () => netio.setsockopt(fd, IPPROTO_IP, 200, 1)),
      (err: unknown) => {
        assert.ok(err instanceof KernelError);
        assert.equal(err.code, "EOPNOTSUPP");
        assert.equal(err.syscall, "setsockopt");
        assert.equal(err.operation, "starting multicast routing");
        assert.match(err.message, /^starting multicast routing: setsockopt: .* \(EOPNOTSUPP\)$/);
        return true;
      },
    );
    assert.throws(() => netio.setsockopt(fd, IPPROTO_IP, IP_PKTINFO, "1" as unknown as number), TypeError);
    assert.throws(
      () => netio.socket(AF_INET, SOCK_DGRAM, 9999),
      (e: unknown) => isSyscallError(e) && e.syscall === "socket",
    );
  } finally {
    netio.close(fd);
  }
  assert.throws(
    () => netio.close(fd),
    (e: unknown) => isSyscallError(e) && e.code === "EBADF",
  );
});

test("setsockopt/getsockopt round-trip through an in/out buffer", () => {
  const { fd } = boundUdp("ipv4");
  try {
    netio.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    const out = Buffer.alloc(4);
    assert.equal(netio.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, out), 4);
    assert.equal(out.readInt32LE(0), 2 * 65536); // Linux doubles SO_RCVBUF
    const v = Buffer.alloc(4);
    v.writeInt32LE(1);
    netio.setsockopt(fd, IPPROTO_IP, IP_PKTINFO, v);
    const back = Buffer.alloc(4);
    netio.getsockopt(fd, IPPROTO_IP, IP_PKTINFO, back);
    assert.equal(back.readInt32LE(0), 1);
  } finally {
    netio.close(fd);
  }
});

test("IPv4 recvmsg: null when empty; pktinfo ifindex/dst, TTL from sendmsg's IP_TTL, truncation", () => {
  const rx = boundUdp("ipv4");
  const tx = netio.socket(AF_INET, SOCK_DGRAM, 0);
  try {
    netio.setsockopt(rx.fd, IPPROTO_IP, IP_PKTINFO, 1);
    netio.setsockopt(rx.fd, IPPROTO_IP, IP_RECVTTL, 1);
    const buf = Buffer.alloc(64);
    assert.equal(netio.recvmsg(rx.fd, buf), null);
    const to = sockaddrIn("127.0.0.1", rx.port);
    assert.equal(netio.sendmsg(tx, Buffer.from("hello"), to, { hopLimit: 7, ifindex: 1 }), 5);
    const r = netio.recvmsg(rx.fd, buf);
    assert.ok(r);
    assert.equal(r.bytes, 5);
    assert.equal(r.truncated, false);
    assert.equal(buf.subarray(0, 5).toString(), "hello");
    assert.equal(r.ifindex, 1);
    assert.deepEqual([...(r.dst ?? [])], [127, 0, 0, 1]);
    assert.equal(r.ttl, 7);
    assert.equal(r.hopopts, null);
    assert.deepEqual(parseSockaddr(r.from)?.family, "ipv4");
    netio.sendmsg(tx, Buffer.from("0123456789"), to);
    const small = Buffer.alloc(4);
    const t = netio.recvmsg(rx.fd, small);
    assert.ok(t);
    assert.equal(t.truncated, true);
    assert.equal(t.bytes, 4);
    assert.equal(t.ttl, 64); // default unicast TTL without an IP_TTL cmsg
    assert.equal(netio.recvmsg(rx.fd, buf), null);
  } finally {
    netio.close(rx.fd);
    netio.close(tx);
  }
});

test("IPv6 recvmsg: pktinfo, hop limit, and the raw hop-by-hop header (sticky IPV6_HOPOPTS)", () => {
  const rx = boundUdp("ipv6");
  const tx = netio.socket(AF_INET6, SOCK_DGRAM, 0);
  try {
    netio.setsockopt(rx.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    netio.setsockopt(rx.fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
    netio.setsockopt(rx.fd, IPPROTO_IPV6, IPV6_RECVHOPOPTS, 1);
    netio.setsockopt(tx, IPPROTO_IPV6, IPV6_HOPOPTS, IPV6_ROUTER_ALERT_HOPOPTS);
    const src = Buffer.alloc(16);
    src[15] = 1;
    netio.sendmsg(tx, Buffer.from("six"), sockaddrIn6("::1", { port: rx.port }), {
      hopLimit: 3,
      ifindex: 1,
      src,
    });
    const buf = Buffer.alloc(64);
    const r = netio.recvmsg(rx.fd, buf);
    assert.ok(r);
    assert.equal(buf.subarray(0, r.bytes).toString(), "six");
    assert.equal(r.ifindex, 1);
    assert.equal(r.dst?.length, 16);
    assert.equal(r.dst?.[15], 1);
    assert.equal(r.ttl, 3);
    assert.ok(r.hopopts);
    // Next header 17 (UDP) filled by the kernel, then our options.
    assert.deepEqual([...r.hopopts], [17, ...IPV6_ROUTER_ALERT_HOPOPTS.subarray(1)]);
    const from = parseSockaddr(r.from);
    assert.ok(from && from.family === "ipv6");
    assert.equal(from.address, "::1");
  } finally {
    netio.close(rx.fd);
    netio.close(tx);
  }
});

test("sendmsg validates its control data", () => {
  const tx = netio.socket(AF_INET, SOCK_DGRAM, 0);
  try {
    assert.throws(
      () => netio.sendmsg(tx, Buffer.from("x"), sockaddrIn("127.0.0.1", 9), { src: new Uint8Array(16) }),
      RangeError,
    );
    assert.throws(() => netio.sendmsg(tx, Buffer.from("x"), new Uint8Array(1)), RangeError);
  } finally {
    netio.close(tx);
  }
});

test("attachFilter: a classic BPF program filters what the socket receives; bad programs are refused", () => {
  const rx = boundUdp("ipv4");
  const tx = boundUdp("ipv4");
  try {
    const send = (byte: number) =>
      netio.sendmsg(tx.fd, Uint8Array.of(byte), sockaddrIn("127.0.0.1", rx.port));
    // Keep datagrams whose first payload byte is 1 (a UDP socket's filter sees the packet from
    // the UDP header on; a raw socket's from the IP header).
    netio.attachFilter(
      rx.fd,
      packBpf(assemble([ldb(8), jeq(1, 0, "drop"), ret(BPF_ACCEPT), { label: "drop" }, ret(0)])),
    );
    send(2);
    send(1);
    const buf = Buffer.alloc(16);
    const r = netio.recvmsg(rx.fd, buf);
    assert.equal(r?.bytes, 1);
    assert.equal(buf[0], 1, "the datagram starting with 2 was dropped by the filter");
    assert.equal(netio.recvmsg(rx.fd, buf), null);
    assert.throws(() => netio.attachFilter(rx.fd, new Uint8Array(0)), RangeError);
    assert.throws(() => netio.attachFilter(rx.fd, new Uint8Array(12)), RangeError);
    assert.throws(() => netio.attachFilter(rx.fd, new Uint8Array(8 * 4097)), RangeError);
    // A program that does not end with a return: the kernel's checker refuses it.
    assert.throws(() => netio.attachFilter(rx.fd, packBpf([ldb(0)])), {
      code: "EINVAL",
      syscall: "setsockopt",
    });
    assert.throws(() => netio.attachFilter(rx.fd, "x" as unknown as Uint8Array), TypeError);
  } finally {
    netio.close(rx.fd);
    netio.close(tx.fd);
  }
});

test("pollStart reports readability on the event loop; pollStop and close stop it", async () => {
  const rx = boundUdp("ipv4");
  const tx = netio.socket(AF_INET, SOCK_DGRAM, 0);
  const to = sockaddrIn("127.0.0.1", rx.port);
  const got: string[] = [];
  let calls = 0;
  const buf = Buffer.alloc(64);
  const readAll = () => {
    calls++;
    for (let r = netio.recvmsg(rx.fd, buf); r !== null; r = netio.recvmsg(rx.fd, buf)) {
      got.push(buf.subarray(0, r.bytes).toString());
    }
  };
  try {
    netio.pollStart(rx.fd, (readable) => {
      assert.equal(readable, true);
      readAll();
    });
    netio.sendmsg(tx, Buffer.from("a"), to);
    netio.sendmsg(tx, Buffer.from("b"), to);
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ["a", "b"]);
    netio.pollStop(rx.fd);
    const before = calls;
    netio.sendmsg(tx, Buffer.from("c"), to);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, before);
    // Re-arming delivers the pending datagram.
    netio.pollStart(rx.fd, () => readAll());
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ["a", "b", "c"]);
    netio.pollStop(rx.fd);
    netio.pollStop(rx.fd); // no-op
  } finally {
    netio.close(rx.fd);
    netio.close(tx);
  }
});

test("a throwing poll callback is an uncaught exception; an open poll does not block exit after close", () => {
  const script = `
    import { netio } from "./src/kernel/addon.ts";
    import { sockaddrIn } from "./src/kernel/structs/sockaddr.ts";
    process.on("uncaughtException", (e) => { console.log("uncaught:" + e.message); netio.close(fd); });
    const fd = netio.socket(2, 2, 0);
    netio.bind(fd, sockaddrIn("127.0.0.1"));
    const name = Buffer.alloc(16); netio.getsockname(fd, name);
    netio.pollStart(fd, () => { throw new Error("boom"); });
    const tx = netio.socket(2, 2, 0);
    netio.sendmsg(tx, Buffer.from("x"), name);
    netio.close(tx);
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: process.cwd(),
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "uncaught:boom");
});

test("interface names and indexes", () => {
  assert.equal(netio.ifNameToIndex("lo"), 1);
  assert.equal(netio.ifIndexToName(1), "lo");
  assert.equal(netio.ifNameToIndex("no-such-if0"), 0);
  assert.equal(netio.ifNameToIndex("a-name-much-too-long-for-ifnamsiz"), 0);
  assert.equal(netio.ifIndexToName(0), null);
  assert.equal(netio.ifIndexToName(2 ** 31 - 1), null);
});
