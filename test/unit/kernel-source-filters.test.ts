import assert from "node:assert/strict";
import { test } from "node:test";
import { KernelError } from "../../src/kernel/errors.js";
import { type MembershipSyscalls, SourceFilterSockets } from "../../src/kernel/source-filters.js";
import {
  GF_SLIST_OFFSET,
  MCAST_JOIN_GROUP,
  MCAST_JOIN_SOURCE_GROUP,
  MCAST_LEAVE_GROUP,
  MCAST_MSFILTER,
  packGroupFilter,
  readSockaddr,
  unpackGroupFilter,
} from "../../src/kernel/structs/membership.js";

type Filter = { mode: "include" | "exclude"; sources: string[] };

function sysErr(code: string, errno: number, syscall: string): Error {
  return Object.assign(new Error(`${syscall}: ${code}`), { code, errno, syscall });
}

/** A fake kernel with Linux's per-socket rules (ip_mc_join_group / ip_mc_msfilter). */
class FakeKernel implements MembershipSyscalls {
  sockets = new Map<number, Map<string, Filter>>();
  calls: string[] = [];
  private nextFd = 100;
  constructor(
    public maxMemberships: number,
    public maxMsf: number,
  ) {}
  socket(): number {
    const fd = this.nextFd++;
    this.sockets.set(fd, new Map());
    this.calls.push(`socket ${fd}`);
    return fd;
  }
  close(fd: number): void {
    this.sockets.delete(fd);
    this.calls.push(`close ${fd}`);
  }
  setsockopt(fd: number, _level: number, name: number, value: Uint8Array | number): void {
    const s = this.sockets.get(fd);
    if (!s || typeof value === "number") throw sysErr("EBADF", 9, "setsockopt");
    const group = readSockaddr(value, 8)?.address ?? "?";
    this.calls.push(`${name} ${fd} ${group}`);
    if (name === MCAST_JOIN_GROUP || name === MCAST_JOIN_SOURCE_GROUP) {
      if (s.has(group)) throw sysErr("EADDRINUSE", 98, "setsockopt");
      if (s.size >= this.maxMemberships) throw sysErr("ENOBUFS", 105, "setsockopt");
      const src = name === MCAST_JOIN_SOURCE_GROUP ? [readSockaddr(value, 136)?.address ?? "?"] : [];
      s.set(group, { mode: src.length ? "include" : "exclude", sources: src });
    } else if (name === MCAST_LEAVE_GROUP) {
      if (!s.delete(group)) throw sysErr("EADDRNOTAVAIL", 99, "setsockopt");
    } else if (name === MCAST_MSFILTER) {
      const gf = unpackGroupFilter(value);
      if (!gf) throw sysErr("EINVAL", 22, "setsockopt");
      if (gf.numsrc > this.maxMsf) throw sysErr("ENOBUFS", 105, "setsockopt");
      if (!s.has(group)) throw sysErr("EINVAL", 22, "setsockopt");
      if (gf.mode === "include" && gf.sources.length === 0) s.delete(group);
      else s.set(group, { mode: gf.mode, sources: gf.sources });
    } else throw sysErr("ENOPROTOOPT", 92, "setsockopt");
  }
  getsockopt(fd: number, _level: number, name: number, buf: Uint8Array): number {
    const s = this.sockets.get(fd);
    assert.equal(name, MCAST_MSFILTER);
    const gf = unpackGroupFilter(buf);
    const f = gf && s?.get(gf.group);
    if (!gf || !f) throw sysErr("EADDRNOTAVAIL", 99, "getsockopt");
    // like ip_mc_gsfget(): the caller's gf_numsrc says how many slots it provides
    const cap = Math.min(gf.numsrc, Math.floor((buf.length - GF_SLIST_OFFSET) / 128));
    const out = packGroupFilter(gf.ifindex, gf.family, gf.group, f.mode, f.sources.slice(0, cap), cap);
    out.writeUInt32LE(f.sources.length, 140);
    Buffer.from(buf.buffer, buf.byteOffset, buf.length).set(out.subarray(0, buf.length));
    return Math.min(buf.length, GF_SLIST_OFFSET + Math.min(cap, f.sources.length) * 128);
  }
  /** The interface state the kernel would compute: per group, all sockets' filters. */
  memberships(group: string): Filter[] {
    return [...this.sockets.values()].flatMap((s) => (s.has(group) ? [s.get(group) as Filter] : []));
  }
  groupCount(): number {
    return new Set([...this.sockets.values()].flatMap((s) => [...s.keys()])).size;
  }
}

const mk = (k: FakeKernel, family: "ipv4" | "ipv6" = "ipv4") =>
  new SourceFilterSockets(family, 4, { syscalls: k, maxGroupsPerSocket: k.maxMemberships, maxSourcesPerFilter: k.maxMsf });

test("INCLUDE {S}: one source-specific join, no transient any-source join; read back", () => {
  const k = new FakeKernel(20, 10);
  const m = mk(k);
  assert.equal(m.setFilter("232.1.1.1", { mode: "include", sources: ["10.0.0.1"] }), null);
  assert.deepEqual(k.calls, ["socket 100", `${MCAST_JOIN_SOURCE_GROUP} 100 232.1.1.1`]);
  assert.deepEqual(m.getFilter("232.1.1.1"), { mode: "include", sources: ["10.0.0.1"] });
  assert.deepEqual(m.groups(), ["232.1.1.1"]);
});

test("EXCLUDE {S}: any-source join then MSFILTER; unchanged filter makes no syscall", () => {
  const k = new FakeKernel(20, 10);
  const m = mk(k);
  m.setFilter("239.1.1.1", { mode: "exclude", sources: ["10.0.0.9"] });
  assert.deepEqual(k.memberships("239.1.1.1"), [{ mode: "exclude", sources: ["10.0.0.9"] }]);
  const before = k.calls.length;
  m.setFilter("239.1.1.1", { mode: "exclude", sources: ["10.0.0.9", "10.0.0.9"] });
  assert.equal(k.calls.length, before);
  m.setFilter("239.1.1.1", { mode: "include", sources: ["10.0.0.2", "10.0.0.1"] });
  assert.deepEqual(k.memberships("239.1.1.1"), [{ mode: "include", sources: ["10.0.0.1", "10.0.0.2"] }]);
  assert.deepEqual(m.getFilter("239.1.1.1"), { mode: "include", sources: ["10.0.0.1", "10.0.0.2"] });
});

test("INCLUDE {} leaves; leaving an unknown group does nothing", () => {
  const k = new FakeKernel(20, 10);
  const m = mk(k);
  m.setFilter("239.1.1.1", { mode: "exclude", sources: [] });
  m.setFilter("239.1.1.1", { mode: "include", sources: [] });
  assert.equal(k.groupCount(), 0);
  assert.equal(m.getFilter("239.1.1.1"), null);
  assert.deepEqual(m.groups(), []);
  const n = k.calls.length;
  m.setFilter("239.9.9.9", { mode: "include", sources: [] });
  assert.equal(k.calls.length, n);
});

test("groups spread over sockets at the per-socket membership limit; emptied slots reused", () => {
  const k = new FakeKernel(3, 10);
  const m = mk(k);
  for (let i = 0; i < 10; i++) m.setFilter(`239.0.0.${i}`, { mode: "exclude", sources: [] });
  assert.equal(m.socketCount(), 4);
  assert.equal(k.groupCount(), 10);
  for (const s of k.sockets.values()) assert.ok(s.size <= 3);
  m.setFilter("239.0.0.1", { mode: "include", sources: [] });
  m.setFilter("239.0.0.50", { mode: "exclude", sources: [] });
  assert.equal(m.socketCount(), 4, "the freed slot in the first socket is reused");
  assert.ok(k.sockets.get(100)?.has("239.0.0.50"));
});

test("INCLUDE beyond the source limit is split over sockets: the kernel's union is exact", () => {
  const k = new FakeKernel(20, 2);
  const m = mk(k);
  const src = ["10.0.0.5", "10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1"];
  assert.equal(m.setFilter("232.0.0.1", { mode: "include", sources: src }), null);
  const parts = k.memberships("232.0.0.1");
  assert.equal(parts.length, 3);
  assert.ok(parts.every((p) => p.mode === "include" && p.sources.length <= 2));
  assert.deepEqual(parts.flatMap((p) => p.sources).sort(), [...src].sort());
  assert.deepEqual(m.getFilter("232.0.0.1")?.sources, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]);
  // shrink: extra parts leave, remaining parts updated
  m.setFilter("232.0.0.1", { mode: "include", sources: ["10.0.0.7"] });
  assert.deepEqual(k.memberships("232.0.0.1"), [{ mode: "include", sources: ["10.0.0.7"] }]);
  // to EXCLUDE: one part
  m.setFilter("232.0.0.1", { mode: "exclude", sources: [] });
  assert.deepEqual(k.memberships("232.0.0.1"), [{ mode: "exclude", sources: [] }]);
});

test("EXCLUDE beyond the source limit excludes the first N and warns with the sysctl name", () => {
  const k = new FakeKernel(20, 2);
  const m = mk(k);
  const w = m.setFilter("239.2.2.2", { mode: "exclude", sources: ["10.0.0.3", "10.0.0.1", "10.0.0.2"] });
  assert.ok(w);
  assert.equal(w.limit, "net.ipv4.igmp_max_msf");
  assert.equal(w.value, 2);
  assert.equal(w.requested, 3);
  assert.match(w.message, /net\.ipv4\.igmp_max_msf/);
  assert.deepEqual(k.memberships("239.2.2.2"), [{ mode: "exclude", sources: ["10.0.0.1", "10.0.0.2"] }]);
  const w6 = mk(new FakeKernel(20, 1), "ipv6").setFilter("ff3e::1", { mode: "exclude", sources: ["fd00::1", "fd00::2"] });
  assert.equal(w6?.limit, "net.ipv6.mld_max_msf");
});

test("ENOBUFS from the kernel becomes a KernelError naming the limit", () => {
  const k = new FakeKernel(20, 10);
  const m = mk(k);
  k.maxMsf = 1; // the sysctl was lowered behind our back
  assert.throws(
    () => m.setFilter("239.3.3.3", { mode: "exclude", sources: ["10.0.0.1", "10.0.0.2"] }),
    (err: unknown) => err instanceof KernelError && err.code === "ENOBUFS" && /igmp_max_msf/.test(err.message),
  );
  assert.equal(k.groupCount(), 0, "the half-done join was rolled back");
  k.maxMsf = 10;
  m.setFilter("239.3.3.3", { mode: "exclude", sources: ["10.0.0.1", "10.0.0.2"] });
  assert.equal(k.memberships("239.3.3.3").length, 1);
});

test("a lowered group limit: a full socket is detected and a new one opened", () => {
  const k = new FakeKernel(20, 10);
  const m = mk(k);
  m.setFilter("239.0.0.1", { mode: "exclude", sources: [] });
  m.setFilter("239.0.0.2", { mode: "exclude", sources: [] });
  k.maxMemberships = 2;
  m.setFilter("239.0.0.3", { mode: "exclude", sources: [] });
  assert.equal(m.socketCount(), 2);
  assert.equal(k.groupCount(), 3);
  k.maxMemberships = 0;
  assert.throws(
    () => m.setFilter("239.0.0.4", { mode: "exclude", sources: [] }),
    (err: unknown) => err instanceof KernelError && /igmp_max_memberships/.test(err.message),
  );
});

test("setInterface re-applies every filter on the new ifindex; close() closes every socket", () => {
  const k = new FakeKernel(2, 10);
  const m = mk(k);
  for (let i = 0; i < 5; i++) m.setFilter(`239.0.0.${i}`, { mode: "include", sources: ["10.0.0.1"] });
  m.setInterface(9);
  assert.equal(m.interfaceIndex, 9);
  assert.equal(k.groupCount(), 5);
  assert.equal(m.socketCount(), 3);
  m.close();
  assert.equal(k.sockets.size, 0);
  assert.throws(() => m.setFilter("239.0.0.1", { mode: "exclude", sources: [] }), KernelError);
});
