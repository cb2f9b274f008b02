import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  align4,
  decodeIfaddrmsg,
  decodeIfinfomsg,
  decodeNlmsgerr,
  encodeGetAddrDump,
  encodeGetLinkDump,
  encodeMessage,
  packSockaddrNl,
  parseAttributes,
  parseMessages,
} from "../../src/kernel/structs/netlink.js";

/** Hand-made bytes: hex with spaces allowed. */
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RTM_NEWLINK for "eth0", ifindex 2, flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP (0x11043),
// mtu 1500, an unknown attribute type 0x7ff and IFLA_OPERSTATE (padded 5-byte attribute).
const newlinkEth0 = h(`
  44000000 1000 0000 00000000 00000000
  00 00 0100 02000000 43100100 00000000
  0900 0300 65746830 00 000000
  0800 0400 dc050000
  0800 ff07 deadbeef
  0500 1000 06 000000
`);

test("nlmsghdr + ifinfomsg + rtattrs decode from bytes (unknown attribute skipped)", () => {
  assert.equal(newlinkEth0.length, 0x44);
  const { messages, malformed } = parseMessages(newlinkEth0);
  assert.equal(malformed, undefined);
  assert.equal(messages.length, 1);
  const m = messages[0]!;
  assert.deepEqual(m.header, { len: 0x44, type: 16, flags: 0, seq: 0, pid: 0 });
  const link = decodeIfinfomsg(m.payload);
  assert.deepEqual(link, { ifindex: 2, name: "eth0", up: true, running: true, flags: 0x11043, mtu: 1500 });
});

test("ifinfomsg flags: down link is neither up nor running", () => {
  const b = Buffer.from(newlinkEth0);
  b.writeUInt32LE(0x1002, 16 + 8); // BROADCAST|MULTICAST only
  const link = decodeIfinfomsg(parseMessages(b).messages[0]!.payload);
  assert.equal(link?.up, false);
  assert.equal(link?.running, false);
});

// RTM_NEWADDR IPv4 10.10.0.1/24 on ifindex 3, scope global, IFA_ADDRESS=peer 10.10.0.9, IFA_LOCAL=10.10.0.1
const newaddr4 = h(`
  30000000 1400 0000 01000000 00000000
  02 18 80 00 03000000
  0800 0100 0a0a0009
  0800 0200 0a0a0001
  0800 0800 80000000
`);
// RTM_NEWADDR IPv6 fe80::1/64 on ifindex 3, scope link (253), tentative via IFA_FLAGS (0x40) though ifa_flags=0
const newaddr6 = h(`
  34000000 1400 0000 01000000 00000000
  0a 40 00 fd 03000000
  1400 0100 fe800000000000000000000000000001
  0800 0800 40000000
`);

test("ifaddrmsg IPv4 uses IFA_LOCAL; IPv6 uses IFA_ADDRESS; IFA_FLAGS supersedes ifa_flags", () => {
  const buf = Buffer.concat([newaddr4, newaddr6]);
  const { messages } = parseMessages(buf);
  assert.equal(messages.length, 2);
  assert.deepEqual(decodeIfaddrmsg(messages[0]!.payload), {
    ifindex: 3,
    family: "ipv4",
    address: "10.10.0.1",
    prefixLen: 24,
    scope: "global",
    tentative: false,
  });
  assert.deepEqual(decodeIfaddrmsg(messages[1]!.payload), {
    ifindex: 3,
    family: "ipv6",
    address: "fe80::1",
    prefixLen: 64,
    scope: "link",
    tentative: true,
  });
});

test("ifaddrmsg: unknown scope stays numeric, other families and missing address give null", () => {
  const b = Buffer.from(newaddr4);
  b[16 + 3] = 42;
  assert.equal(decodeIfaddrmsg(b.subarray(16))?.scope, 42);
  const other = Buffer.from(newaddr4);
  other[16] = 7;
  assert.equal(decodeIfaddrmsg(other.subarray(16)), null);
  assert.equal(decodeIfaddrmsg(h("02180000 03000000")), null);
  assert.equal(decodeIfaddrmsg(h("0218")), null);
});

test("multi-part dump: messages, NLMSG_DONE and NLMSG_ERROR in one datagram", () => {
  const link = Buffer.from(newlinkEth0);
  link.writeUInt16LE(0x2, 6); // NLM_F_MULTI
  link.writeUInt32LE(77, 8);
  const done = encodeMessage(3, 2, 77, h("00000000"));
  const err = encodeMessage(2, 0, 78, Buffer.concat([h("edffffff"), encodeMessage(18, 0x301, 78, Buffer.alloc(0))]));
  const { messages, malformed } = parseMessages(Buffer.concat([link, done, err]));
  assert.equal(malformed, undefined);
  assert.deepEqual(
    messages.map((m) => [m.header.type, m.header.seq]),
    [
      [16, 77],
      [3, 77],
      [2, 78],
    ],
  );
  assert.deepEqual(decodeNlmsgerr(messages[2]!.payload), { error: -19, seq: 78 });
});

test("truncated or lying lengths stop the walk without throwing", () => {
  const two = Buffer.concat([newaddr4, newaddr6]);
  for (let cut = 0; cut <= two.length; cut++) {
    const r = parseMessages(two.subarray(0, cut));
    assert.ok(r.messages.length <= 2);
    for (const m of r.messages) {
      decodeIfaddrmsg(m.payload);
    }
  }
  const r = parseMessages(two.subarray(0, newaddr4.length + 10));
  assert.equal(r.messages.length, 1);
  assert.match(r.malformed ?? "", /trailing/);
  const lie = Buffer.from(newaddr4);
  lie.writeUInt32LE(4096, 0);
  assert.equal(parseMessages(lie).messages.length, 0);
  assert.match(parseMessages(lie).malformed ?? "", /claims 4096/);
  const tiny = Buffer.from(newaddr4);
  tiny.writeUInt32LE(8, 0);
  assert.equal(parseMessages(tiny).messages.length, 0);
});

test("rtattrs: impossible length stops; flag bits are masked out of the type", () => {
  const attrs = parseAttributes(h("0800 0380 41424300 ff00 0100"), 0);
  assert.deepEqual([...attrs.keys()], [3]);
  assert.equal(Buffer.from(attrs.get(3)!).toString(), "ABC\0");
  assert.equal(parseAttributes(h("0200 0100"), 0).size, 0);
});

test("dump requests and sockaddr_nl encode as the kernel expects", () => {
  const link = encodeGetLinkDump(5);
  assert.equal(link.readUInt32LE(0), 16 + 16 + 8);
  assert.equal(link.readUInt16LE(4), 18);
  assert.equal(link.readUInt16LE(6), 0x301);
  assert.equal(link.readUInt32LE(8), 5);
  assert.equal(link.readUInt16LE(32), 8); // IFLA_EXT_MASK rtattr len
  assert.equal(link.readUInt16LE(34), 29);
  assert.equal(link.readUInt32LE(36), 8);
  const addr = encodeGetAddrDump(6);
  assert.equal(addr.length, 24);
  assert.equal(addr.readUInt16LE(4), 22);
  assert.equal(h("10000000 00000000 11010000").compare(packSockaddrNl(0, 0x111)), 0);
  assert.equal(align4(5), 8);
  assert.equal(align4(8), 8);
});

test("property: random bytes never make the decoders throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const b = Buffer.from(bytes);
      for (const m of parseMessages(b).messages) {
        decodeIfinfomsg(m.payload);
        decodeIfaddrmsg(m.payload);
        decodeNlmsgerr(m.payload);
      }
      decodeIfinfomsg(b);
      decodeIfaddrmsg(b);
      parseAttributes(b, 0);
    }),
    { numRuns: 2000 },
  );
});
