import assert from "node:assert/strict";
import { test } from "node:test";
import type { KernelError } from "../../src/kernel/errors.js";
import { ReportGroups } from "../../src/kernel/report-groups.js";
import { ipv4ToBytes, ipv6ToBytes } from "../../src/wire/address.js";
import type { IpFamily } from "../../src/wire/types.js";
import { type FakeCall, FakeSyscalls, syscallError } from "./fake-syscalls.js";

/**
 * Report groups on a fake mroute socket whose kernel allows `limit` memberships per socket
 * (net.ipv4.igmp_max_memberships) and drops them with the interface when `vanished` has it.
 */
function setup(family: IpFamily, limit = 20) {
  const sys = new FakeSyscalls();
  const sock = { family, fd: sys.socket(family === "ipv4" ? 2 : 10, 3, 2), syscalls: sys };
  const members = new Map<number, Set<string>>();
  const vanished = new Set<number>();
  const key = (c: FakeCall) => {
    const b = c.bytes!;
    return family === "ipv4"
      ? `${b.readInt32LE(8)}|${[...b.subarray(0, 4)].join(".")}`
      : `${b.readInt32LE(16)}|${b.subarray(0, 16).toString("hex")}`;
  };
  sys.on("setsockopt", (c, fd) => {
    const set = members.get(fd) ?? new Set<string>();
    members.set(fd, set);
    const k = key(c);
    if (c.option?.endsWith("ADD_MEMBERSHIP")) {
      if (set.size >= limit) throw syscallError("ENOBUFS", "setsockopt");
      set.add(k);
    } else if (c.option?.endsWith("DROP_MEMBERSHIP")) {
      set.delete(k);
      if (vanished.has(Number(k.split("|")[0]))) throw syscallError("ENODEV", "setsockopt");
    }
  });
  sys.calls.length = 0;
  return { sys, sock, members, vanished, groups: new ReportGroups(sock) };
}

test("join: 224.0.0.22 and 224.0.0.2 on the mroute socket, ip_mreqn for the ifindex; idempotent", () => {
  const { sys, sock, groups } = setup("ipv4");
  groups.join(4);
  groups.join(4);
  const joins = sys.callsOf("setsockopt", "IP_ADD_MEMBERSHIP");
  assert.equal(joins.length, 2);
  assert.ok(joins.every((c) => c.fd === sock.fd && c.level === "IPPROTO_IP" && c.bytes?.length === 12));
  assert.deepEqual(
    joins.map((c) => [...c.bytes!.subarray(0, 4)]),
    [[...ipv4ToBytes("224.0.0.22")], [...ipv4ToBytes("224.0.0.2")]],
  );
  assert.equal(joins[0]?.bytes?.readInt32LE(8), 4);
  assert.equal(groups.socketCount(), 1);
});

test("IPv6 joins ff02::16 and ff02::2 with ipv6_mreq", () => {
  const { sys, groups } = setup("ipv6");
  groups.join(7);
  const joins = sys.callsOf("setsockopt", "IPV6_ADD_MEMBERSHIP");
  assert.deepEqual(
    joins.map((c) => [c.level, c.bytes?.subarray(0, 16).toString("hex"), c.bytes?.readInt32LE(16)]),
    [
      ["IPPROTO_IPV6", Buffer.from(ipv6ToBytes("ff02::16")).toString("hex"), 7],
      ["IPPROTO_IPV6", Buffer.from(ipv6ToBytes("ff02::2")).toString("hex"), 7],
    ],
  );
});

test("ENOBUFS moves further joins to a helper UDP socket; leave closes an emptied helper", () => {
  const { sys, sock, members, groups } = setup("ipv4", 3);
  groups.join(4);
  groups.join(5); // 224.0.0.22 fits (3rd), 224.0.0.2 does not
  assert.equal(groups.socketCount(), 2);
  const helper = sys.openFds().find((fd) => fd !== sock.fd)!;
  assert.deepEqual(sys.texts("socket").slice(-1), ["socket 2,2,0"]);
  assert.equal(members.get(sock.fd)?.size, 3);
  assert.equal(members.get(helper)?.size, 1);
  groups.join(6); // the full mroute socket is not retried: both on the helper
  assert.equal(members.get(helper)?.size, 3);
  assert.equal(groups.socketCount(), 2);
  groups.leave(5);
  assert.equal(groups.socketCount(), 2); // 6's joins still hold it
  groups.leave(6);
  assert.equal(groups.socketCount(), 1);
  assert.deepEqual(sys.openFds(), [sock.fd]);
  // leave(5) made room for one membership on the mroute socket again.
  assert.equal(members.get(sock.fd)?.size, 2);
  groups.join(8);
  assert.equal(members.get(sock.fd)?.size, 3);
  assert.equal(groups.socketCount(), 2);
});

test("a helper that cannot take one membership is explained and closed", () => {
  const { sys, sock, groups } = setup("ipv4", 0);
  assert.throws(
    () => groups.join(4),
    (e: KernelError) =>
      e.code === "ENOBUFS" &&
      /the kernel refuses even one membership per socket \(net.ipv4.igmp_max_memberships is 0\?\)/.test(
        e.message,
      ),
  );
  assert.deepEqual(sys.openFds(), [sock.fd]);
  assert.equal(groups.socketCount(), 1);
});

test("other join errors are thrown with the interface named", () => {
  const { sys, groups } = setup("ipv4");
  sys.interfaces.set(4, "dn1");
  sys.fail("setsockopt", "ENODEV", { option: "IP_ADD_MEMBERSHIP" });
  assert.throws(() => groups.join(4), /joining 224.0.0.22 on dn1 \(ifindex 4\) to hear reports/);
});

test("leave tolerates a vanished interface and other leave errors are thrown", () => {
  const { sys, vanished, groups } = setup("ipv4");
  groups.join(4);
  vanished.add(4);
  assert.doesNotThrow(() => groups.leave(4));
  assert.equal(sys.callsOf("setsockopt", "IP_DROP_MEMBERSHIP").length, 2);
  groups.join(5);
  sys.fail("setsockopt", "EINVAL", { option: "IP_DROP_MEMBERSHIP" });
  assert.throws(() => groups.leave(5), { code: "EINVAL" });
  const calls = sys.calls.length;
  groups.leave(99); // never joined
  assert.equal(sys.calls.length, calls);
});

test("close leaves every group and closes the helpers", () => {
  const { sys, sock, members, groups } = setup("ipv4", 2);
  groups.join(4);
  groups.join(5);
  assert.equal(groups.socketCount(), 2);
  groups.close();
  assert.equal(groups.socketCount(), 1);
  assert.deepEqual(sys.openFds(), [sock.fd]);
  assert.equal(members.get(sock.fd)?.size, 0);
  assert.equal(sys.callsOf("setsockopt", "IP_DROP_MEMBERSHIP").length, 4);
});
