/**
 * Hostile packets against the pure receive path: every regression fixture of
 * test/fixtures/fuzz/*.hex (one Ethernet frame each, see test/support/fuzz-fixtures.ts) and
 * a sample of the fuzzer's generated packets go through the codec (src/wire `parse`) and
 * the ingress classification (src/daemon/ingress.ts `classifyIngress`), which must never
 * throw, and the messages among them through a LinkRouter on virtual time (neither); plus the generators' own contract (test/support/fuzz-gen.ts): deterministic per
 * (seed, link, index), frames that fit the link, and every class of hostility present.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { classifyIngress, type IngressContext } from "../../src/daemon/ingress.js";
import type { ReceivedPacket } from "../../src/kernel/mroute-socket.js";
import { parse } from "../../src/wire/index.js";
import type { IpFamily } from "../../src/wire/types.js";
import { FIXTURE_DIR, representativeFixtures } from "../support/fuzz-fixtures.js";
import { Fixture, V4, V6 } from "./router-harness.js";
import {
  type DecodedFrame,
  decodeFrame,
  type FuzzLink,
  fuzzPacket,
  formatHexFixture,
  parseHexFixture,
} from "../support/fuzz-gen.js";

const ROUTER: Record<IpFamily, string[]> = {
  ipv4: ["10.11.0.1", "10.10.0.1"],
  ipv6: ["fd00:11::1", "fe80::1"],
};

/** Ingress contexts: the packet on a downstream link, on the upstream, on an unconfigured one. */
function contexts(family: IpFamily): IngressContext[] {
  const own = (a: string) => ROUTER[family].includes(a);
  return [
    { family, isOwnAddress: own, attachedLink: () => ({ name: "dn1", role: "downstream" }) },
    { family, isOwnAddress: own, attachedLink: () => ({ name: "up0", role: "upstream" }) },
    { family, isOwnAddress: own, attachedLink: () => undefined },
    { family, isOwnAddress: () => false, attachedLink: () => ({ name: "dn1", role: "downstream" }) },
  ];
}

/**
 * Parses and classifies `d` (and its payload as the other family's message); a message for
 * a downstream link also goes to `router` (a LinkRouter on virtual time), as the daemon
 * would hand it over. Nothing may throw.
 */
function feed(d: DecodedFrame, router?: Fixture): void {
  const pseudo = d.family === "ipv6" ? { source: d.source, destination: d.destination } : undefined;
  const r = parse(d.family, d.payload, pseudo);
  assert.equal(typeof r.ok, "boolean");
  parse(d.family, d.payload);
  parse(d.family === "ipv4" ? "ipv6" : "ipv4", d.payload);
  const p: ReceivedPacket = {
    ifindex: 3,
    source: d.source,
    destination: d.destination,
    ttl: d.ttl,
    routerAlert: d.routerAlert,
    payload: d.payload,
  };
  for (const [i, ctx] of contexts(d.family).entries()) {
    const c = classifyIngress(p, ctx);
    assert.ok(["own", "unconfigured-interface", "upstream", "parse-error", "message"].includes(c.kind));
    if (router && c.kind === "message" && i === 0) {
      router.router.handle(c.message, c.meta);
      router.advance(50);
    }
  }
}

const fixtureFiles = readdirSync(FIXTURE_DIR)
  .filter((f) => f.endsWith(".hex"))
  .sort();

describe("fuzz regression fixtures (test/fixtures/fuzz)", () => {
  it("the folder holds at least the representative hostile packets", () => {
    for (const name of Object.keys(representativeFixtures()))
      assert.ok(fixtureFiles.includes(`${name}.hex`), name);
  });

  it("the representative fixtures are what test/support/fuzz-fixtures.ts writes", () => {
    for (const [name, [comment, frame]] of Object.entries(representativeFixtures())) {
      const text = readFileSync(join(FIXTURE_DIR, `${name}.hex`), "utf8");
      assert.deepEqual(parseHexFixture(text).bytes, frame, name);
      assert.ok(
        text.startsWith(formatHexFixture([comment], new Uint8Array(0)).trimEnd()),
        `${name}: comment`,
      );
    }
  });

  for (const file of fixtureFiles) {
    it(`${file}: codec and ingress never throw, on the packet, its truncations and its bit flips`, () => {
      const { comments, bytes } = parseHexFixture(readFileSync(join(FIXTURE_DIR, file), "utf8"));
      assert.ok(comments.length > 0, "a comment line says what the packet is");
      const d = decodeFrame(bytes);
      assert.ok(d, "an unfragmented IGMP or ICMPv6 frame");
      const router = new Fixture(d.family === "ipv4" ? V4 : V6);
      feed(d, router);
      for (let n = 0; n < d.payload.length; n++) feed({ ...d, payload: d.payload.slice(0, n) }, router);
      for (let i = 0; i < Math.min(d.payload.length, 64) * 8; i++) {
        const flipped = d.payload.slice();
        flipped[i >> 3]! ^= 1 << (i & 7);
        feed({ ...d, payload: flipped }, router);
      }
    });
  }
});

const mac = (s: string) => Uint8Array.from(s.split(":").map((h) => Number.parseInt(h, 16)));
const LINKS: FuzzLink[] = (["ipv4", "ipv6"] as const).flatMap((family) =>
  (["downstream", "upstream"] as const).map((role) => ({
    family,
    role,
    hostMac: mac("02:00:00:00:11:02"),
    routerMac: mac("02:00:00:00:11:01"),
    host: family === "ipv4" ? "10.11.0.2" : "fd00:11::2",
    router: family === "ipv4" ? "10.11.0.1" : "fd00:11::1",
    prefix: family === "ipv4" ? "10.11.0" : "fd00:11:",
  })),
);

describe("fuzz generators (test/support/fuzz-gen.ts)", () => {
  it("a packet is a function of (seed, link, index)", () => {
    for (const link of LINKS) {
      for (const i of [0, 1, 17, 99_999, 1_000_000]) {
        assert.deepEqual(fuzzPacket(7, link, i), fuzzPacket(7, link, i));
      }
      const a = Array.from({ length: 50 }, (_, i) => fuzzPacket(7, link, i).desc);
      const b = Array.from({ length: 50 }, (_, i) => fuzzPacket(8, link, i).desc);
      assert.notDeepEqual(a, b, "another seed, other packets");
    }
  });

  for (const link of LINKS.filter((l) => l.role === "downstream")) {
    it(`${link.family}: frames fit the link, every hostility class occurs, and codec and ingress never throw`, () => {
      const descs: string[] = [];
      let multi = 0;
      const router = new Fixture(link.family === "ipv4" ? V4 : V6);
      for (let i = 0; i < 4000; i++) {
        const p = fuzzPacket(42, link, i);
        descs.push(p.desc);
        if (p.frames.length > 1) multi++;
        for (const f of p.frames) {
          assert.ok(f.length >= 14 && f.length <= 1514, `frame ${i} is ${f.length} bytes`);
          const ethertype = (f[12]! << 8) | f[13]!;
          assert.equal(ethertype, link.family === "ipv4" ? 0x0800 : 0x86dd);
          const d = decodeFrame(f);
          if (d) feed(d, router);
        }
      }
      const all = descs.join("\n");
      const want =
        link.family === "ipv4"
          ? [
              "valid ",
              "random(",
              "bitflip(",
              "truncate(",
              "extend(",
              "absurd ",
              "unknown-record-types(",
              " ra",
              "no-ra",
              "ttl=1 ",
              "ttl=64",
              "network=",
              "broadcast=",
              "off-link=",
              "unspecified=",
              "router-spoof=",
              "router-unicast=",
              "fragments(",
              "bad-ip-checksum",
              "v3report(",
              "general-query-v1",
              "report-v2",
              "leave ",
            ]
          : [
              "valid ",
              "random(",
              "bitflip(",
              "absurd ",
              "unknown-record-types(",
              "hbh-ra",
              "no-ext",
              "dstopts",
              "routing(",
              "fragment-atomic",
              "hop=1 ",
              "hop=255",
              "network=",
              "off-link=",
              "unspecified=",
              "router-spoof=",
              "router-link-local=",
              "fragments(",
              "v3report(",
              "general-query-v2",
              "report-v1",
              "leave ",
            ];
      for (const w of want) assert.ok(all.includes(w), `no packet with "${w}"`);
      assert.ok(multi > 0, "some packets are fragmented into several frames");
    });
  }
});
