/**
 * Byte layouts of the mroute structs on x86_64 (checked with offsetof() on linux/mroute.h
 * and linux/mroute6.h).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  hopOptsHaveRouterAlert,
  IPV4_ROUTER_ALERT_OPTION,
  IPV6_ROUTER_ALERT_HOPOPTS,
  mf6cctlIfset,
  mfcctlTtls,
  packIcmp6FilterPassOnly,
  packIpMreqn,
  packIpv6Mreq,
  packMf6cctl,
  packMfcctl,
  packMif6ctl,
  packMifi,
  packSiocSgReq,
  packSiocSgReq6,
  packVifctl,
  parseIgmpmsg,
  parseIpv4Datagram,
  parseMrt6msg,
  parseSiocSgReq,
  parseSiocSgReq6,
  VIFF_USE_IFINDEX,
} from "../../src/kernel/structs/mroute.js";

test("vifctl: 16 bytes, vifi u16 @0, flags @2 = VIFF_USE_IFINDEX, threshold @3, rate @4, ifindex @8, rmt @12", () => {
  const b = packVifctl(5, 0x01020304, 1);
  assert.equal(b.length, 16);
  assert.equal(b.readUInt16LE(0), 5);
  assert.equal(b[2], VIFF_USE_IFINDEX);
  assert.equal(VIFF_USE_IFINDEX, 8);
  assert.equal(b[3], 1);
  assert.equal(b.readUInt32LE(4), 0);
  assert.equal(b.readInt32LE(8), 0x01020304);
  assert.equal(b.readUInt32LE(12), 0);
});

test("mfcctl: 60 bytes, origin @0, group @4, parent u16 @8, ttls[32] @10, counters zero", () => {
  const b = packMfcctl("10.10.0.2", "239.1.2.3", 2, [0, 3, 31, 2, 3]);
  assert.equal(b.length, 60);
  assert.deepEqual([...b.subarray(0, 4)], [10, 10, 0, 2]);
  assert.deepEqual([...b.subarray(4, 8)], [239, 1, 2, 3]);
  assert.equal(b.readUInt16LE(8), 2);
  const ttls = mfcctlTtls(b);
  assert.equal(ttls.length, 32);
  // Threshold 1 on outputs, the parent (2) never listed, everything else 0.
  assert.deepEqual(
    ttls.map((t, i) => (t ? i : -1)).filter((i) => i >= 0),
    [0, 3, 31],
  );
  assert.equal(ttls[0], 1);
  assert.deepEqual([...b.subarray(42, 60)], new Array(18).fill(0));
  assert.throws(() => packMfcctl("10.0.0.1", "239.0.0.1", 0, [32]), RangeError);
  assert.throws(() => packMfcctl("10.0.0.1", "239.0.0.1", 0, [-1]), RangeError);
});

test("igmpmsg: msgtype @8, protocol/mbz @9 = 0, vif @10 + vif_hi @11, src @12, dst @16", () => {
  const b = new Uint8Array(20);
  b[8] = 1;
  b[10] = 2;
  b[11] = 0;
  b.set([10, 11, 0, 2], 12);
  b.set([239, 1, 1, 1], 16);
  assert.deepEqual(parseIgmpmsg(b), { msgtype: 1, vif: 2, source: "10.11.0.2", group: "239.1.1.1" });
  b[11] = 1; // vif_hi: VIF 258 on kernels with more VIFs
  assert.equal(parseIgmpmsg(b)?.vif, 258);
  b[9] = 2; // protocol IGMP: a real packet, not an upcall
  assert.equal(parseIgmpmsg(b), null);
  assert.equal(parseIgmpmsg(new Uint8Array(19)), null);
});

test("sioc_sg_req: 32 bytes, src @0, grp @4, pktcnt/bytecnt/wrong_if u64 @8/@16/@24", () => {
  const b = packSiocSgReq("10.10.0.2", "239.1.1.1");
  assert.equal(b.length, 32);
  assert.deepEqual([...b.subarray(0, 8)], [10, 10, 0, 2, 239, 1, 1, 1]);
  b.writeBigUInt64LE(7n, 8);
  b.writeBigUInt64LE(1n << 40n, 16);
  b.writeBigUInt64LE(3n, 24);
  assert.deepEqual(parseSiocSgReq(b), { packets: 7n, bytes: 1n << 40n, wrongIf: 3n });
});

test("mif6ctl: 12 bytes, mifi @0, flags @2 = 0, threshold @3, pifi u16 @4, rate @8; ifindex > 65535 refused", () => {
  const b = packMif6ctl(3, 0xbeef, 1);
  assert.equal(b.length, 12);
  assert.equal(b.readUInt16LE(0), 3);
  assert.equal(b[2], 0);
  assert.equal(b[3], 1);
  assert.equal(b.readUInt16LE(4), 0xbeef);
  assert.equal(b.readUInt16LE(6), 0);
  assert.equal(b.readUInt32LE(8), 0);
  assert.throws(() => packMif6ctl(0, 65536), RangeError);
  assert.deepEqual([...packMifi(0x0102)], [0x02, 0x01]);
});

test("mf6cctl: 92 bytes, origin sockaddr_in6 @0 (addr @8), group @28 (addr @36), parent @56, ifset @60", () => {
  const b = packMf6cctl("fd00:10::2", "ff3e::1", 1, [0, 1, 2, 31]);
  assert.equal(b.length, 92);
  assert.equal(b.readUInt16LE(0), 10);
  assert.equal(b.readUInt16LE(28), 10);
  assert.deepEqual([...b.subarray(8, 12)], [0xfd, 0x00, 0x00, 0x10]);
  assert.equal(b[23], 2);
  assert.deepEqual([...b.subarray(36, 38)], [0xff, 0x3e]);
  assert.equal(b[51], 1);
  assert.equal(b.readUInt16LE(56), 1);
  // Parent MIF 1 excluded; bits 0, 2, 31 of the first u32.
  assert.equal(b.readUInt32LE(60), (1 | 4 | 0x80000000) >>> 0);
  assert.deepEqual(mf6cctlIfset(b), [0, 2, 31]);
  assert.deepEqual([...b.subarray(64, 92)], new Array(28).fill(0));
});

test("mrt6msg: mbz @0 = 0, msgtype @1, mif u16 @2, src @8, dst @24; ICMPv6 (type != 0) is not an upcall", () => {
  const b = new Uint8Array(80);
  b[1] = 2;
  b[2] = 4;
  b.set([0xfd, 0, 0, 0x11], 8);
  b[23] = 2;
  b.set([0xff, 0x3e], 24);
  b[39] = 0x42;
  assert.deepEqual(parseMrt6msg(b), { msgtype: 2, mif: 4, source: "fd00:11::2", group: "ff3e::42" });
  b[0] = 143;
  assert.equal(parseMrt6msg(b), null);
  assert.equal(parseMrt6msg(new Uint8Array(39)), null);
});

test("sioc_sg_req6: 80 bytes, src @0, grp @28, counters u64 @56/@64/@72", () => {
  const b = packSiocSgReq6("fd00:10::2", "ff3e::1");
  assert.equal(b.length, 80);
  assert.equal(b[23], 2);
  assert.equal(b[51], 1);
  b.writeBigUInt64LE(5n, 56);
  b.writeBigUInt64LE(500n, 64);
  b.writeBigUInt64LE(1n, 72);
  assert.deepEqual(parseSiocSgReq6(b), { packets: 5n, bytes: 500n, wrongIf: 1n });
});

test("ip_mreqn 12 (group @0, address @4, ifindex @8) and ipv6_mreq 20 (group @0, ifindex @16)", () => {
  const a = packIpMreqn("224.0.0.22", 9);
  assert.equal(a.length, 12);
  assert.deepEqual([...a.subarray(0, 8)], [224, 0, 0, 22, 0, 0, 0, 0]);
  assert.equal(a.readInt32LE(8), 9);
  const b = packIpv6Mreq("ff02::16", 9);
  assert.equal(b.length, 20);
  assert.equal(b[0], 0xff);
  assert.equal(b[15], 0x16);
  assert.equal(b.readInt32LE(16), 9);
});

test("icmp6_filter passes only the given types (set bit blocks)", () => {
  const f = packIcmp6FilterPassOnly([130, 131, 132, 143]);
  assert.equal(f.length, 32);
  const blocked = (t: number) => ((f.readUInt32LE(4 * (t >> 5)) >>> (t & 31)) & 1) === 1;
  for (let t = 0; t < 256; t++) assert.equal(blocked(t), ![130, 131, 132, 143].includes(t), `type ${t}`);
});

test("router alert blobs: IPv4 option 94 04 00 00, IPv6 hop-by-hop 00 00 05 02 00 00 01 00", () => {
  assert.deepEqual([...IPV4_ROUTER_ALERT_OPTION], [0x94, 0x04, 0x00, 0x00]);
  assert.deepEqual([...IPV6_ROUTER_ALERT_HOPOPTS], [0, 0, 5, 2, 0, 0, 1, 0]);
  assert.equal(hopOptsHaveRouterAlert(IPV6_ROUTER_ALERT_HOPOPTS), true);
  // Pad1 before RA.
  assert.equal(hopOptsHaveRouterAlert(Uint8Array.of(58, 0, 0, 5, 2, 0, 0, 0)), true);
  // Only PadN: no RA.
  assert.equal(hopOptsHaveRouterAlert(Uint8Array.of(58, 0, 1, 4, 0, 0, 0, 0)), false);
  // Truncated / malformed never throws.
  assert.equal(hopOptsHaveRouterAlert(Uint8Array.of(58)), false);
  assert.equal(hopOptsHaveRouterAlert(Uint8Array.of(58, 0, 7, 200, 0, 0, 0, 0)), false);
  assert.equal(hopOptsHaveRouterAlert(Uint8Array.of(58, 3, 5, 2, 0, 0)), true); // length field larger than data
});

function ipv4Header(opts: {
  options?: number[];
  ttl?: number;
  proto?: number;
  payload: number[];
}): Uint8Array {
  const options = opts.options ?? [];
  const ihl = 20 + options.length;
  const b = new Uint8Array(ihl + opts.payload.length);
  b[0] = 0x40 | (ihl / 4);
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[8] = opts.ttl ?? 1;
  b[9] = opts.proto ?? 2;
  b.set([10, 11, 0, 2], 12);
  b.set([224, 0, 0, 22], 16);
  b.set(options, 20);
  b.set(opts.payload, ihl);
  return b;
}

test("parseIpv4Datagram: IHL, TTL, protocol, Router Alert option, payload bounded by Total Length", () => {
  const withRa = parseIpv4Datagram(ipv4Header({ options: [0x94, 4, 0, 0], payload: [0x22, 0, 1, 2] }));
  assert.ok(withRa);
  assert.equal(withRa.routerAlert, true);
  assert.equal(withRa.ttl, 1);
  assert.equal(withRa.protocol, 2);
  assert.equal(withRa.source, "10.11.0.2");
  assert.equal(withRa.destination, "224.0.0.22");
  assert.deepEqual([...withRa.payload], [0x22, 0, 1, 2]);

  const noRa = parseIpv4Datagram(ipv4Header({ ttl: 64, payload: [0x16, 0, 0, 0, 239, 1, 1, 1] }));
  assert.equal(noRa?.routerAlert, false);
  assert.equal(noRa?.ttl, 64);
  assert.equal(noRa?.payload.length, 8);

  // NOPs before RA; an EOL stops the scan.
  assert.equal(
    parseIpv4Datagram(ipv4Header({ options: [1, 1, 1, 1, 0x94, 4, 0, 0], payload: [1] }))?.routerAlert,
    true,
  );
  assert.equal(
    parseIpv4Datagram(ipv4Header({ options: [0, 0, 0, 0, 0x94, 4, 0, 0], payload: [1] }))?.routerAlert,
    false,
  );

  // Trailing bytes beyond Total Length are not payload.
  const padded = new Uint8Array(30);
  padded.set(ipv4Header({ payload: [9, 9] }));
  assert.equal(parseIpv4Datagram(padded)?.payload.length, 2);
});

test("parseIpv4Datagram never throws on malformed input", () => {
  assert.equal(parseIpv4Datagram(new Uint8Array(19)), null);
  const v6 = ipv4Header({ payload: [] });
  v6[0] = 0x65;
  assert.equal(parseIpv4Datagram(v6), null);
  const bigIhl = ipv4Header({ payload: [] });
  bigIhl[0] = 0x4f; // IHL 60 > length
  assert.equal(parseIpv4Datagram(bigIhl), null);
  const badOpt = ipv4Header({ options: [0x94, 40, 0, 0], payload: [1] });
  assert.equal(parseIpv4Datagram(badOpt)?.routerAlert, false);
  // Random bytes: no throw.
  let seed = 1;
  for (let n = 0; n < 2000; n++) {
    const len = n % 64;
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    if (len > 0) b[0] = 0x40 | (b[0]! & 0x0f);
    parseIpv4Datagram(b);
    hopOptsHaveRouterAlert(b);
    parseIgmpmsg(b);
    parseMrt6msg(b);
  }
});
