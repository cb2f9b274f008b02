/** Ingress classification (src/daemon/ingress.ts): one case per outcome, both families. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  classifyIngress,
  type IngressContext,
  type UpstreamPacketType,
  upstreamPacketType,
} from "../../src/daemon/ingress.js";
import type { ReceivedPacket } from "../../src/kernel/mroute-socket.js";
import { report, serialize } from "../../src/wire/index.js";
import type { IpFamily } from "../../src/wire/types.js";

const FAMILIES = [
  { family: "ipv4" as IpFamily, own: "10.11.0.1", host: "10.11.0.2", group: "239.1.1.1", version: 2 as const },
  { family: "ipv6" as IpFamily, own: "fe80::1", host: "fe80::2", group: "ff05::1:1", version: 1 as const },
];

for (const f of FAMILIES) {
  describe(`classifyIngress (${f.family})`, () => {
    const ctx: IngressContext = {
      family: f.family,
      isOwnAddress: (a) => a === f.own,
      attachedLink: (ifindex) =>
        ifindex === 2
          ? { name: "up0", role: "upstream" }
          : ifindex === 3
            ? { name: "dn1", role: "downstream" }
            : ifindex === 5
              ? { name: "wan0", role: "upstream" }
              : undefined,
    };
    const pseudo = { source: f.host, destination: f.group };
    const bytes = serialize(f.family, report(f.family, f.version, f.group), pseudo);
    const packet = (over: Partial<ReceivedPacket> = {}): ReceivedPacket => ({
      ifindex: 3,
      source: f.host,
      destination: f.group,
      ttl: 1,
      routerAlert: true,
      payload: bytes,
      ...over,
    });

    it("a packet from one of our own addresses is ours, whatever the interface", () => {
      assert.deepEqual(classifyIngress(packet({ source: f.own, ifindex: 99 }), ctx), { kind: "own" });
    });
    it("a packet on an interface that is not an attached link is from an unconfigured interface", () => {
      assert.deepEqual(classifyIngress(packet({ ifindex: 99 }), ctx), { kind: "unconfigured-interface" });
    });
    it("a packet on the upstream link is not parsed as downstream membership", () => {
      assert.deepEqual(classifyIngress(packet({ ifindex: 2 }), ctx), {
        kind: "upstream",
        link: { name: "up0", role: "upstream" },
        type: "report",
      });
    });
    it("a packet on a second upstream link is an upstream packet too (several upstreams)", () => {
      assert.deepEqual(classifyIngress(packet({ ifindex: 5 }), ctx), {
        kind: "upstream",
        link: { name: "wan0", role: "upstream" },
        type: "report",
      });
    });
    it("an upstream packet is typed by its type byte alone (checksum, length and fields unread)", () => {
      const v4 = f.family === "ipv4";
      const cases: Array<[number[], UpstreamPacketType]> = v4
        ? [
            [[0x11], "query"],
            [[0x12], "report"],
            [[0x16], "report"],
            [[0x22, 0xff], "report"],
            [[0x17], "leave"],
            [[0x13], "other"],
            [[130], "other"],
            [[], "other"],
          ]
        : [
            [[130], "query"],
            [[131], "report"],
            [[143, 0xff], "report"],
            [[132], "leave"],
            [[0x11], "other"],
            [[128], "other"],
            [[], "other"],
          ];
      for (const [bytes, type] of cases) {
        const r = classifyIngress(packet({ ifindex: 2, payload: new Uint8Array(bytes) }), ctx);
        assert.equal(r.kind === "upstream" && r.type, type, `${JSON.stringify(bytes)}`);
        assert.equal(upstreamPacketType(f.family, new Uint8Array(bytes)), type);
      }
    });
    it("bytes the codec rejects are a parse error with its reason", () => {
      const r = classifyIngress(packet({ payload: bytes.subarray(0, 4) }), ctx);
      assert.equal(r.kind, "parse-error");
      assert.equal(r.kind === "parse-error" && r.reason, "truncated");
    });
    it("a valid report on a downstream is a message with its receive metadata", () => {
      const r = classifyIngress(packet({ ttl: 1, routerAlert: false }), ctx);
      assert.equal(r.kind, "message");
      if (r.kind !== "message") return;
      assert.equal(r.link.name, "dn1");
      assert.deepEqual(r.message, report(f.family, f.version, f.group));
      assert.deepEqual(r.meta, { source: f.host, destination: f.group, ttl: 1, routerAlert: false });
    });
    if (f.family === "ipv6") {
      it("the MLD checksum is checked against the packet's own addresses (pseudo-header)", () => {
        const r = classifyIngress(packet({ source: "fe80::3" }), ctx);
        assert.equal(r.kind === "parse-error" && r.reason, "bad-checksum");
      });
    }
  });
}
