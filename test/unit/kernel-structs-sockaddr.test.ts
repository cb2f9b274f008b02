import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  addressBytes,
  addressFromBytes,
  parseSockaddr,
  sockaddrFor,
  sockaddrIn,
  sockaddrIn6,
  sockaddrNl,
} from "../../src/kernel/structs/sockaddr.js";

test("sockaddr_in: 16 bytes, family host order @0, port network order @2, address @4", () => {
  const b = sockaddrIn("10.11.0.2", 0x1234);
  assert.equal(b.length, 16);
  assert.equal(b.readUInt16LE(0), AF_INET);
  assert.deepEqual([...b.subarray(2, 4)], [0x12, 0x34]);
  assert.deepEqual([...b.subarray(4, 8)], [10, 11, 0, 2]);
  assert.deepEqual([...b.subarray(8)], new Array(8).fill(0));
});

test("sockaddr_in6: 28 bytes, port @2, flowinfo @4, address @8, scope_id host order @24", () => {
  const b = sockaddrIn6("ff02::16", { port: 0x0102, flowinfo: 0x0a0b0c0d, scopeId: 7 });
  assert.equal(b.length, 28);
  assert.equal(b.readUInt16LE(0), AF_INET6);
  assert.equal(b.readUInt16BE(2), 0x0102);
  assert.equal(b.readUInt32BE(4), 0x0a0b0c0d);
  assert.deepEqual([...b.subarray(8, 24)], [0xff, 0x02, ...new Array(13).fill(0), 0x16]);
  assert.equal(b.readUInt32LE(24), 7);
});

test("sockaddr_nl: 12 bytes, family @0, pid @4, groups @8", () => {
  const b = sockaddrNl(1234, 0x51);
  assert.equal(b.length, 12);
  assert.equal(b.readUInt16LE(0), AF_NETLINK);
  assert.equal(b.readUInt16LE(2), 0);
  assert.equal(b.readUInt32LE(4), 1234);
  assert.equal(b.readUInt32LE(8), 0x51);
});

test("parseSockaddr round-trips every family and rejects short or unknown input", () => {
  assert.deepEqual(parseSockaddr(sockaddrIn("198.18.0.1", 53)), {
    family: "ipv4",
    address: "198.18.0.1",
    port: 53,
  });
  assert.deepEqual(parseSockaddr(sockaddrIn6("fe80::1", { scopeId: 3 })), {
    family: "ipv6",
    address: "fe80::1",
    port: 0,
    flowinfo: 0,
    scopeId: 3,
  });
  assert.deepEqual(parseSockaddr(sockaddrNl(0, 1)), { family: "netlink", pid: 0, groups: 1 });
  assert.equal(parseSockaddr(new Uint8Array(1)), null);
  assert.equal(parseSockaddr(sockaddrIn6("::1").subarray(0, 20)), null);
  const unknown = Buffer.alloc(16);
  unknown.writeUInt16LE(99, 0);
  assert.equal(parseSockaddr(unknown), null);
});

test("sockaddrFor picks the family; invalid text throws", () => {
  assert.equal(sockaddrFor("ipv4", "224.0.0.1").length, 16);
  assert.equal(sockaddrFor("ipv6", "ff02::1", { scopeId: 2 }).readUInt32LE(24), 2);
  assert.throws(() => sockaddrIn("300.1.1.1"), TypeError);
  assert.throws(() => sockaddrIn6("fe80:::1"), TypeError);
});

test("addressBytes / addressFromBytes", () => {
  assert.deepEqual([...addressBytes("ipv4", "224.0.0.22")], [224, 0, 0, 22]);
  assert.equal(addressBytes("ipv6", "fd00:11::2").length, 16);
  assert.equal(addressFromBytes(addressBytes("ipv6", "fd00:11::2")), "fd00:11::2");
  assert.equal(addressFromBytes(Uint8Array.of(10, 0, 0, 1)), "10.0.0.1");
  assert.throws(() => addressFromBytes(new Uint8Array(5)), RangeError);
});
