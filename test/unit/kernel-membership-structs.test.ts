import assert from "node:assert/strict";
import { test } from "node:test";
import {
  GROUP_REQ_SIZE,
  GROUP_SOURCE_REQ_SIZE,
  groupFilterSize,
  packGroupFilter,
  packGroupFilterQuery,
  packGroupReq,
  packGroupSourceReq,
  unpackGroupFilter,
} from "../../src/kernel/structs/membership.js";

const hex = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString("hex");

test("group_req: 136 bytes, ifindex u32 @0, sockaddr_in group @8", () => {
  const b = packGroupReq(0x01020304, "ipv4", "232.1.2.3");
  assert.equal(b.length, GROUP_REQ_SIZE);
  assert.equal(b.length, 136);
  assert.equal(hex(b, 0, 8), "0403020100000000");
  // sockaddr_in: family AF_INET=2 (host order), port 0, address network order
  assert.equal(hex(b, 8, 16), "02000000e8010203");
  assert.ok(b.subarray(16).every((x) => x === 0));
});

test("group_req IPv6: sockaddr_in6 family 10 @8, address @16, scope_id 0", () => {
  const b = packGroupReq(7, "ipv6", "ff3e::8000:1");
  assert.equal(b.readUInt32LE(0), 7);
  assert.equal(b.readUInt16LE(8), 10);
  assert.equal(hex(b, 16, 32), "ff3e0000000000000000000080000001");
  assert.equal(b.readUInt32LE(8 + 24), 0);
});

test("group_source_req: 264 bytes, group @8, source @136", () => {
  const b = packGroupSourceReq(3, "ipv4", "232.0.0.1", "10.10.0.2");
  assert.equal(b.length, GROUP_SOURCE_REQ_SIZE);
  assert.equal(b.length, 264);
  assert.equal(b.readUInt32LE(0), 3);
  assert.equal(hex(b, 8, 16), "02000000e8000001");
  assert.equal(hex(b, 136, 144), "020000000a0a0002");
  const b6 = packGroupSourceReq(3, "ipv6", "ff3e::1", "fd00:10::2");
  assert.equal(b6.readUInt16LE(136), 10);
  assert.equal(hex(b6, 136 + 8, 136 + 24), "fd000010000000000000000000000002");
});

test("group_filter: fmode @136 (INCLUDE=1, EXCLUDE=0), numsrc @140, slist @144, 128 bytes each", () => {
  assert.equal(groupFilterSize(0), 144);
  assert.equal(groupFilterSize(3), 144 + 3 * 128);
  const inc = packGroupFilter(9, "ipv4", "232.1.1.1", "include", ["10.0.0.1", "10.0.0.2"]);
  assert.equal(inc.length, 144 + 256);
  assert.equal(inc.readUInt32LE(0), 9);
  assert.equal(inc.readUInt32LE(136), 1);
  assert.equal(inc.readUInt32LE(140), 2);
  assert.equal(hex(inc, 144, 152), "020000000a000001");
  assert.equal(hex(inc, 272, 280), "020000000a000002");
  const exc = packGroupFilter(9, "ipv4", "232.1.1.1", "exclude", []);
  assert.equal(exc.length, 144);
  assert.equal(exc.readUInt32LE(136), 0);
  assert.equal(exc.readUInt32LE(140), 0);
});

test("group_filter capacity leaves room for a getsockopt answer and keeps numsrc", () => {
  const b = packGroupFilter(1, "ipv6", "ff3e::1", "include", [], 4);
  assert.equal(b.length, 144 + 4 * 128);
  assert.equal(b.readUInt32LE(140), 0);
});

test("getsockopt query: gf_numsrc carries the number of source slots provided", () => {
  const b = packGroupFilterQuery(2, "ipv4", "232.1.1.1", 7);
  assert.equal(b.length, 144 + 7 * 128);
  assert.equal(b.readUInt32LE(0), 2);
  assert.equal(b.readUInt32LE(140), 7);
  assert.equal(hex(b, 8, 16), "02000000e8010101");
});

test("unpackGroupFilter round-trips and bounds sources by optlen and numsrc", () => {
  const b = packGroupFilter(5, "ipv6", "ff3e::1", "exclude", ["fd00::1", "fd00::2", "fd00::3"]);
  const all = unpackGroupFilter(b);
  assert.deepEqual(all, {
    ifindex: 5,
    family: "ipv6",
    group: "ff3e::1",
    mode: "exclude",
    numsrc: 3,
    sources: ["fd00::1", "fd00::2", "fd00::3"],
  });
  // the kernel reports numsrc 3 but only 2 slots fitted into optlen
  const short = unpackGroupFilter(b, 144 + 2 * 128);
  assert.equal(short?.numsrc, 3);
  assert.deepEqual(short?.sources, ["fd00::1", "fd00::2"]);
  assert.equal(unpackGroupFilter(b.subarray(0, 100)), null);
  // never reads past the buffer even when numsrc lies
  const lie = Buffer.from(b.subarray(0, 144 + 128));
  lie.writeUInt32LE(1000, 140);
  assert.equal(unpackGroupFilter(lie)?.sources.length, 1);
});

test("unpackGroupFilter rejects a non-inet group family", () => {
  const b = packGroupFilter(5, "ipv4", "232.1.1.1", "include", []);
  b.writeUInt16LE(1, 8);
  assert.equal(unpackGroupFilter(b), null);
});
