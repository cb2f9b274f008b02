import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelError } from "../../src/kernel/errors.js";
import { MrouteTable } from "../../src/kernel/mroute-table.js";
import { MAXVIFS, mf6cctlIfset, mfcctlTtls, VIFF_USE_IFINDEX } from "../../src/kernel/structs/mroute.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FakeSyscalls } from "./fake-syscalls.js";

/** A table on a fake mroute socket; `sock.fd = -1` plays a closed socket. */
function setup(family: IpFamily) {
  const sys = new FakeSyscalls();
  const sock = {
    family,
    fd: sys.socket(family === "ipv4" ? 2 : 10, 3, family === "ipv4" ? 2 : 58),
    syscalls: sys,
  };
  sys.calls.length = 0;
  return { sys, sock, table: new MrouteTable(sock) };
}

const S4 = "10.1.0.5";
const G4 = "239.1.1.1";
const S6 = "fd00::5";
const G6 = "ff0e::1";

test("VIFs take the lowest free index; the same name and ifindex again is a no-op", () => {
  const { sys, table } = setup("ipv4");
  assert.equal(table.addVif("up0", 2), 0);
  assert.equal(table.addVif("dn1", 3), 1);
  assert.equal(table.addVif("dn2", 4), 2);
  assert.equal(table.addVif("dn1", 3), 1);
  assert.equal(sys.callsOf("setsockopt", "MRT_ADD_VIF").length, 3);
  table.delVif("dn1");
  assert.equal(table.addVif("dn3", 7), 1);
  assert.deepEqual(table.vifs(), [
    { name: "up0", vif: 0, ifindex: 2, threshold: 1 },
    { name: "dn3", vif: 1, ifindex: 7, threshold: 1 },
    { name: "dn2", vif: 2, ifindex: 4, threshold: 1 },
  ]);
  assert.equal(table.vifOf("dn3"), 1);
  assert.equal(table.vifOf("dn1"), null);
  assert.equal(table.linkOfVif(2), "dn2");
  assert.equal(table.linkOfVif(5), null);
});

test("a name with another ifindex, or an ifindex under another name, is refused (EEXIST)", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("dn1", 3);
  assert.throws(
    () => table.addVif("dn1", 9),
    (e: KernelError) => e.code === "EEXIST" && /dn1 already has VIF 0 on ifindex 3/.test(e.message),
  );
  assert.throws(
    () => table.addVif("dn9", 3),
    (e: KernelError) => e.code === "EEXIST" && /ifindex 3 already has VIF 0 for dn1/.test(e.message),
  );
  assert.equal(sys.callsOf("setsockopt", "MRT_ADD_VIF").length, 1);
});

test("IPv4 vifctl / IPv6 mif6ctl bytes and option numbers", () => {
  const v4 = setup("ipv4");
  v4.table.addVif("a", 5);
  v4.table.addVif("b", 9);
  const add = v4.sys.callsOf("setsockopt", "MRT_ADD_VIF")[1]!;
  assert.equal(add.level, "IPPROTO_IP");
  assert.equal(add.bytes?.length, 16);
  assert.equal(add.bytes?.readUInt16LE(0), 1); // vifc_vifi
  assert.equal(add.bytes?.[2], VIFF_USE_IFINDEX);
  assert.equal(add.bytes?.[3], 1); // TTL threshold
  assert.equal(add.bytes?.readInt32LE(8), 9); // vifc_lcl_ifindex
  v4.table.delVif("b");
  assert.deepEqual(v4.sys.callsOf("setsockopt", "MRT_DEL_VIF")[0]?.bytes, add.bytes);

  const v6 = setup("ipv6");
  v6.table.addVif("a", 4);
  v6.table.addVif("b", 9);
  const add6 = v6.sys.callsOf("setsockopt", "MRT6_ADD_MIF")[1]!;
  assert.equal(add6.level, "IPPROTO_IPV6");
  assert.equal(add6.bytes?.length, 12);
  assert.equal(add6.bytes?.readUInt16LE(0), 1); // mif6c_mifi
  assert.equal(add6.bytes?.[3], 1); // threshold
  assert.equal(add6.bytes?.readUInt16LE(4), 9); // mif6c_pifi
  v6.table.delVif("b");
  assert.deepEqual([...(v6.sys.callsOf("setsockopt", "MRT6_DEL_MIF")[0]?.bytes ?? [])], [1, 0]);
  assert.throws(() => v6.table.addVif("c", 70_000), { code: "ERANGE" });
});

test(`the ${MAXVIFS + 1}th VIF is refused without a syscall; kernel refusals are explained`, () => {
  for (const [family, word] of [
    ["ipv4", "VIF"],
    ["ipv6", "MIF"],
  ] as const) {
    const { sys, table } = setup(family);
    for (let i = 0; i < MAXVIFS; i++) assert.equal(table.addVif(`v${i}`, 100 + i), i);
    const before = sys.calls.length;
    assert.throws(
      () => table.addVif("one-more", 999),
      (e: KernelError) =>
        e.code === "ENFILE" &&
        e.message ===
          `adding a multicast ${word} for one-more (ifindex 999): the kernel allows at most 32 ${word}s per multicast routing table, all in use`,
    );
    assert.equal(sys.calls.length, before);
  }
  const { sys, table } = setup("ipv4");
  sys.fail("setsockopt", "ENFILE", { option: "MRT_ADD_VIF" });
  assert.throws(
    () => table.addVif("dn1", 3),
    /dn1 \(ifindex 3\): the kernel allows at most 32 VIFs per multicast routing table \(ENFILE\)/,
  );
  sys.fail("setsockopt", "EADDRNOTAVAIL", { option: "MRT_ADD_VIF" });
  assert.throws(
    () => table.addVif("dn1", 3),
    /no such interface, or it cannot do multicast \(EADDRNOTAVAIL\)/,
  );
  sys.fail("setsockopt", "EADDRINUSE", { option: "MRT_ADD_VIF" });
  assert.throws(() => table.addVif("dn1", 3), /VIF 0 is already in use in the kernel \(EADDRINUSE\)/);
  // A refused VIF is not recorded.
  assert.equal(table.vifOf("dn1"), null);
  assert.equal(table.addVif("dn1", 3), 0);
});

test("delVif tolerates a vanished interface, forgets the VIF either way, and rethrows other errors", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("dn1", 3);
  table.addVif("dn2", 4);
  sys.fail("setsockopt", "EADDRNOTAVAIL", { option: "MRT_DEL_VIF" });
  table.delVif("dn1");
  assert.equal(table.vifOf("dn1"), null);
  sys.fail("setsockopt", "EINVAL", { option: "MRT_DEL_VIF" });
  assert.throws(() => table.delVif("dn2"), { code: "EINVAL" });
  const calls = sys.calls.length;
  table.delVif("never-added");
  assert.equal(sys.calls.length, calls);
});

test("setRoute translates link names to VIFs: parent never listed, links without a VIF skipped", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("up0", 2);
  table.addVif("dn1", 3);
  table.addVif("dn2", 4);
  assert.equal(table.setRoute(S4, G4, "up0", ["dn2", "up0", "gone0", "dn1", "dn2"]), true);
  const add = sys.callsOf("setsockopt", "MRT_ADD_MFC")[0]!;
  assert.equal(add.level, "IPPROTO_IP");
  assert.equal(add.bytes?.length, 60);
  assert.deepEqual(add.bytes?.subarray(0, 4), Buffer.from(ipv4ToBytes(S4)));
  assert.deepEqual(add.bytes?.subarray(4, 8), Buffer.from(ipv4ToBytes(G4)));
  assert.equal(add.bytes?.readUInt16LE(8), 0); // mfcc_parent
  assert.deepEqual(mfcctlTtls(add.bytes!).slice(0, 4), [0, 1, 1, 0]);
  // Only links without VIFs: a drop entry (stops further NOCACHE upcalls).
  assert.equal(table.setRoute(S4, G4, "dn1", ["gone0"]), true);
  const drop = sys.callsOf("setsockopt", "MRT_ADD_MFC")[1]!;
  assert.equal(drop.bytes?.readUInt16LE(8), 1);
  assert.deepEqual(mfcctlTtls(drop.bytes!), Array(MAXVIFS).fill(0));
});

test("setRoute installs nothing and returns false when the incoming link has no VIF", () => {
  const { sys, table } = setup("ipv6");
  table.addVif("dn1", 3);
  assert.equal(table.setRoute(S6, G6, "up0", ["dn1"]), false);
  assert.equal(sys.callsOf("setsockopt").length, 1);
});

test("IPv6 setRoute: mf6cctl with sockaddr_in6 origin/group, parent and an output bitmap", () => {
  const { sys, table } = setup("ipv6");
  table.addVif("up0", 2);
  table.addVif("dn1", 3);
  table.addVif("dn2", 4);
  assert.equal(table.setRoute(S6, G6, "dn1", ["dn1", "up0", "dn2"]), true);
  const add = sys.callsOf("setsockopt", "MRT6_ADD_MFC")[0]!;
  assert.equal(add.level, "IPPROTO_IPV6");
  assert.equal(add.bytes?.length, 92);
  assert.equal(add.bytes?.readUInt16LE(0), 10); // AF_INET6
  assert.deepEqual(add.bytes?.subarray(8, 24), Buffer.from(ipv6ToBytes(S6)));
  assert.deepEqual(add.bytes?.subarray(36, 52), Buffer.from(ipv6ToBytes(G6)));
  assert.equal(add.bytes?.readUInt16LE(56), 1);
  assert.deepEqual(mf6cctlIfset(add.bytes!), [0, 2]);
});

test("kernel refusals of an MFC entry are explained", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("up0", 2);
  table.addVif("dn1", 3);
  sys.fail("setsockopt", "EINVAL", { option: "MRT_ADD_MFC" });
  assert.throws(
    () => table.setRoute(S4, G4, "up0", ["dn1"]),
    (e: KernelError) =>
      e.code === "EINVAL" &&
      e.message ===
        `setting forwarding entry (${S4}, ${G4}): the kernel rejected it (EINVAL); is VIF 0 (parent) or one of 1 not configured?`,
  );
});

test("delRoute needs no parent, tolerates ENOENT and rethrows other errors", () => {
  for (const [family, option, S, G] of [
    ["ipv4", "MRT_DEL_MFC", S4, G4],
    ["ipv6", "MRT6_DEL_MFC", S6, G6],
  ] as const) {
    const { sys, table } = setup(family);
    table.delRoute(S, G);
    const del = sys.callsOf("setsockopt", option)[0]!;
    assert.equal(del.bytes?.length, family === "ipv4" ? 60 : 92);
    sys.fail("setsockopt", "ENOENT", { option });
    assert.doesNotThrow(() => table.delRoute(S, G));
    sys.fail("setsockopt", "EINVAL", { option });
    assert.throws(() => table.delRoute(S, G), { code: "EINVAL" });
  }
});

test("routeCounters reads SIOCGETSGCNT (both families); null when the kernel has no entry", () => {
  for (const [family, S, G, size, at] of [
    ["ipv4", S4, G4, 32, 8],
    ["ipv6", S6, G6, 80, 56],
  ] as const) {
    const { sys, table } = setup(family);
    sys.on("ioctl", (_c, _fd, _req, buf) => {
      const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
      b.writeBigUInt64LE(5n, at);
      b.writeBigUInt64LE(500n, at + 8);
      b.writeBigUInt64LE(1n, at + 16);
    });
    assert.deepEqual(table.routeCounters(S, G), { packets: 5n, bytes: 500n, wrongIf: 1n });
    const call = sys.callsOf("ioctl", "SIOCGETSGCNT")[0]!;
    assert.equal(call.bytes?.length, size);
    sys.fail("ioctl", "EADDRNOTAVAIL");
    assert.equal(table.routeCounters(S, G), null);
    sys.fail("ioctl", "EFAULT");
    assert.throws(() => table.routeCounters(S, G), /reading counters of/);
  }
});

test("vifCounters reads SIOCGETVIFCNT by link name; null without a VIF or when the kernel has none", () => {
  const { sys, table } = setup("ipv6");
  assert.equal(table.vifCounters("dn1"), null);
  assert.equal(sys.callsOf("ioctl").length, 0);
  table.addVif("up0", 2);
  table.addVif("dn1", 3);
  sys.on("ioctl", (_c, _fd, _req, buf) => {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
    assert.equal(b.readUInt16LE(0), 1);
    b.writeBigUInt64LE(7n, 16);
  });
  assert.deepEqual(table.vifCounters("dn1"), { packetsIn: 0n, packetsOut: 7n, bytesIn: 0n, bytesOut: 0n });
  assert.equal(sys.callsOf("ioctl", "SIOCGETVIFCNT").length, 1);
  for (const code of ["EADDRNOTAVAIL", "EINVAL"]) {
    sys.fail("ioctl", code);
    assert.equal(table.vifCounters("dn1"), null);
  }
});

test("clear deletes every VIF, goes on past a failure and throws the first one afterwards", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("up0", 2);
  table.addVif("dn1", 3);
  table.addVif("dn2", 4);
  sys.fail("setsockopt", "EINVAL", { option: "MRT_DEL_VIF" });
  assert.throws(() => table.clear(), { code: "EINVAL" });
  assert.equal(sys.callsOf("setsockopt", "MRT_DEL_VIF").length, 3);
  assert.deepEqual(table.vifs(), []);
});

test("every operation on a closed socket is an EBADF KernelError", () => {
  const { sock, table } = setup("ipv4");
  table.addVif("dn1", 3);
  sock.fd = -1;
  for (const op of [
    () => table.addVif("dn2", 4),
    () => table.delVif("dn1"),
    () => table.setRoute(S4, G4, "dn1", []),
    () => table.delRoute(S4, G4),
    () => table.routeCounters(S4, G4),
  ]) {
    assert.throws(
      op,
      (e: KernelError) => e.code === "EBADF" && /ipv4 multicast routing socket is closed/.test(e.message),
    );
  }
});

test("TTL thresholds: in vifctl / mif6ctl, and as each outgoing VIF's TTL in IPv4 MFC entries", () => {
  const { sys, table } = setup("ipv4");
  table.addVif("up0", 2, 1);
  table.addVif("dn1", 3, 16);
  table.addVif("dn2", 4);
  assert.equal(sys.callsOf("setsockopt", "MRT_ADD_VIF")[1]!.bytes?.[3], 16);
  assert.equal(table.addVif("dn1", 3, 16), 1, "same name, ifindex and threshold: no-op");
  assert.throws(() => table.addVif("dn1", 3, 17), (e: KernelError) => e.code === "EEXIST");
  assert.throws(() => table.addVif("dn9", 9, 0), RangeError);
  assert.throws(() => table.addVif("dn9", 9, 256), RangeError);
  table.setRoute(S4, G4, "up0", ["dn1", "dn2"]);
  const ttls = mfcctlTtls(sys.callsOf("setsockopt", "MRT_ADD_MFC")[0]!.bytes!);
  assert.deepEqual(ttls.slice(0, 3), [0, 16, 1]);
  const v6 = setup("ipv6");
  v6.table.addVif("a", 4, 200);
  assert.equal(v6.sys.callsOf("setsockopt", "MRT6_ADD_MIF")[0]!.bytes?.[3], 200);
});
