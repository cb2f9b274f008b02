/**
 * Which IPv4 receive socket reads which IGMP datagram (src/kernel/igmp-paths.ts): the
 * TypeScript decision on hand-made headers, and the BPF programs against it, instruction by
 * instruction in an interpreter (test/unit/bpf-interpreter.ts), on those headers, on the
 * fuzzer's IPv4 packets and on random option bytes. The kernel's side (which socket the
 * kernel hands each kind to, and that upcalls pass the filter) is
 * test/e2e/kernel-report-socket.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { igmpFilter, igmpPath, type IgmpPath, keeps } from "../../src/kernel/igmp-paths.js";
import {
  assemble,
  BPF_MAXINSNS,
  ja,
  jeq,
  packBpf,
  ret,
  SOCK_FILTER_SIZE,
} from "../../src/kernel/structs/bpf.js";
import { ipv4ToBytes } from "../../src/wire/address.js";
import { type FuzzLink, fuzzPacket, Prng } from "../support/fuzz-gen.js";
import { runBpf } from "./bpf-interpreter.js";

/** An IPv4 header (protocol IGMP unless told) with `options`, then 8 bytes of IGMP. */
function datagram(dst: string, options: number[] = [], protocol = 2): Uint8Array {
  const header = 20 + options.length;
  const b = new Uint8Array(header + 8);
  b[0] = 0x40 | (header >> 2);
  b[3] = b.length;
  b[8] = 1;
  b[9] = protocol;
  b.set(ipv4ToBytes("10.11.0.2"), 12);
  b.set(ipv4ToBytes(dst), 16);
  b.set(options, 20);
  b[header] = 0x16;
  return b;
}

const RA = [0x94, 4, 0, 0];

const CASES: Array<[string, Uint8Array, IgmpPath]> = [
  ["an upcall (igmpmsg: byte 9 is 0)", datagram("239.1.1.1", [], 0), "upcall"],
  ["IGMPv2 report to the group with Router Alert", datagram("239.1.1.1", RA), "link"],
  ["IGMPv2 report to the group without Router Alert", datagram("239.1.1.1"), "mroute"],
  ["IGMPv3 report to 224.0.0.22 with Router Alert", datagram("224.0.0.22", RA), "link"],
  ["IGMPv3 report to 224.0.0.22 without Router Alert", datagram("224.0.0.22"), "link"],
  ["a query to 224.0.0.1 without Router Alert", datagram("224.0.0.1"), "link"],
  ["224.0.1.1 (outside 224.0.0.0/24) without Router Alert", datagram("224.0.1.1"), "mroute"],
  ["unicast to the router", datagram("10.11.0.1"), "link"],
  ["limited broadcast", datagram("255.255.255.255"), "link"],
  [
    "Router Alert with a non-zero value (not one for the kernel)",
    datagram("239.1.1.1", [0x94, 4, 0x12, 0x34]),
    "mroute",
  ],
  ["NOP then Router Alert", datagram("239.1.1.1", [1, ...RA, 0, 0, 0]), "link"],
  ["Record Route then Router Alert", datagram("239.1.1.1", [7, 7, 4, 0, 0, 0, 0, ...RA, 0]), "link"],
  ["End of Option List before a Router Alert", datagram("239.1.1.1", [0, ...RA, 0, 0, 0]), "mroute"],
  ["only NOPs", datagram("239.1.1.1", [1, 1, 1, 1]), "mroute"],
  ["an option of length 1 (malformed)", datagram("239.1.1.1", [7, 1, 0, 0]), "none"],
  ["Router Alert of length 2 (malformed)", datagram("239.1.1.1", [0x94, 2, 0, 0]), "none"],
  ["40 NOPs then nothing", datagram("239.1.1.1", Array(40).fill(1)), "mroute"],
  ["39 NOPs then End", datagram("239.1.1.1", [...Array(39).fill(1), 0]), "mroute"],
  ["36 NOPs then Router Alert", datagram("239.1.1.1", [...Array(36).fill(1), ...RA]), "link"],
  [
    "header length beyond the datagram",
    Uint8Array.from([0x4f, ...datagram("239.1.1.1").subarray(1, 24)]),
    "none",
  ],
  ["9 bytes", new Uint8Array(9), "none"],
  ["a short upcall", new Uint8Array(12), "upcall"],
  ["15 bytes, protocol 2", Uint8Array.from([0x45, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0]), "none"],
];

const PROGRAMS = { mroute: igmpFilter("mroute"), link: igmpFilter("link") };

/** Whether the program of `role` keeps `d`, per the interpreter. */
const bpfKeeps = (role: "mroute" | "link", d: Uint8Array) => runBpf(PROGRAMS[role], d) !== 0;

function agree(d: Uint8Array, what: string): void {
  const path = igmpPath(d);
  for (const role of ["mroute", "link"] as const) {
    assert.equal(bpfKeeps(role, d), keeps(role, path), `${what}: ${role} program vs igmpPath (${path})`);
  }
}

describe("IPv4 receive paths (igmp-paths.ts)", () => {
  it("decides by upcall, destination and the kernel's notion of Router Alert", () => {
    for (const [what, d, path] of CASES) assert.equal(igmpPath(d), path, what);
  });

  it("the mroute socket keeps upcalls and multicast without Router Alert; a link's socket the rest; neither keeps 'none'", () => {
    assert.deepEqual(
      (["upcall", "mroute", "link", "none"] as const).map((p) => [p, keeps("mroute", p), keeps("link", p)]),
      [
        ["upcall", true, false],
        ["mroute", true, false],
        ["link", false, true],
        ["none", false, false],
      ],
    );
  });

  it("both BPF programs keep exactly what igmpPath gives their socket: hand-made headers", () => {
    for (const [what, d] of CASES) agree(d, what);
  });

  it("both BPF programs agree with igmpPath on the fuzzer's IPv4 packets", () => {
    const mac = Uint8Array.of(2, 0, 0, 0, 0x11, 2);
    for (const role of ["downstream", "upstream"] as const) {
      const link: FuzzLink = {
        family: "ipv4",
        role,
        hostMac: mac,
        routerMac: mac,
        host: "10.11.0.2",
        router: "10.11.0.1",
        prefix: "10.11.0",
      };
      for (let i = 0; i < 1500; i++) {
        for (const frame of fuzzPacket(3, link, i).frames) agree(frame.subarray(14), `fuzz ${role} #${i}`);
      }
    }
  });

  it("both BPF programs agree with igmpPath on random option bytes and lengths", () => {
    const r = new Prng(11);
    const picks = [0, 1, 0x94, 7, 0x44, 0x83];
    const seen: Record<IgmpPath, number> = { upcall: 0, mroute: 0, link: 0, none: 0 };
    for (let i = 0; i < 20_000; i++) {
      const optLen = r.range(0, 40);
      const opts = Array.from({ length: optLen }, () =>
        r.chance(0.6) ? picks[r.range(0, picks.length - 1)]! : r.range(0, 255),
      );
      const dst = r.chance(0.5) ? `239.1.${r.range(0, 255)}.1` : r.chance(0.5) ? "224.0.0.22" : "10.11.0.1";
      const d = datagram(dst, opts, r.chance(0.05) ? 0 : 2);
      if (r.chance(0.2)) d[0] = 0x40 | r.range(0, 15); // a header length that lies
      const sample = r.chance(0.1) ? d.subarray(0, r.range(0, d.length)) : d;
      seen[igmpPath(sample)]++;
      agree(sample, `random #${i}`);
    }
    for (const [path, n] of Object.entries(seen)) assert.ok(n > 500, `only ${n} samples on path ${path}`);
  });

  it("the programs fit the kernel's limits and pack as struct sock_filter", () => {
    for (const role of ["mroute", "link"] as const) {
      const prog = igmpFilter(role);
      assert.ok(prog.length <= BPF_MAXINSNS, `${prog.length} instructions`);
      assert.equal(packBpf(prog).length, prog.length * SOCK_FILTER_SIZE);
    }
    const b = packBpf([jeq(0x94, 1, 2), ret(0xffffffff)]);
    assert.deepEqual([...b.subarray(0, 8)], [0x15, 0, 1, 2, 0x94, 0, 0, 0]);
  });

  it("the assembler resolves labels and refuses unknown labels, backward and too long jumps", () => {
    assert.deepEqual(
      assemble([jeq(1, "a", "b"), { label: "a" }, ret(1), { label: "b" }, ret(0)]).map((x) => [x.jt, x.jf]),
      [
        [0, 1],
        [0, 0],
        [0, 0],
      ],
    );
    assert.throws(() => assemble([jeq(1, "nowhere"), ret(0)]), /not defined/);
    assert.throws(() => assemble([{ label: "back" }, ret(0), ja("back")]), /not forward/);
    const far = [jeq(1, "end"), ...Array.from({ length: 300 }, () => ret(0)), { label: "end" }, ret(1)];
    assert.throws(() => assemble(far), /out of range/);
  });
});
