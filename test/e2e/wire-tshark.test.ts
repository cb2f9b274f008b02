/**
 * Known-answer test of the codecs against Wireshark's dissectors: every message type the
 * codecs serialize, wrapped as the kernel sends it (IPv4 TTL 1 + Router Alert, IPv6 hop
 * limit 1 + Hop-by-Hop Router Alert), written to a pcap and read back by tshark.
 * tshark must be installed (CI: `apt-get install -y tshark`); the test fails otherwise.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  ALL_ROUTERS,
  bytesToIpv6,
  ALL_SYSTEMS,
  ALL_V3_ROUTERS,
  generalQuery,
  groupQuery,
  groupSourceQuery,
  leave,
  parse,
  report,
  v3Report,
} from "../../src/wire/index.js";
import type { Message } from "../../src/wire/types.js";
import { igmpPacket, mldPacket, PcapWriter } from "../support/pcap.js";
import { tempDir } from "../support/temp.js";

interface Expect {
  /** IGMP type (hex as tshark prints it) or ICMPv6 type. */
  type: number;
  /** tshark's igmp.version (IGMP only). */
  igmpVersion?: number;
  group?: string;
  /** Max Resp Code / Maximum Response Code / Maximum Response Delay as raw numbers. */
  maxResp?: number;
  /** Query sources, or per-record source counts of a report. */
  numSources?: number;
  recordTypes?: number[];
  recordSources?: number[];
  sFlag?: number;
  qrv?: number;
  qqic?: number;
}

interface Case {
  name: string;
  packet: Uint8Array;
  message: Message;
  expect: Expect;
}

const H4 = "10.11.0.2";
const R4 = "10.11.0.1";
const H6 = "fe80::2";
const R6 = "fe80::1";

const ALL_RECORDS = [
  { recordType: 1, group: "239.1.1.1", sources: ["10.10.0.2", "10.10.0.3"] },
  { recordType: 2, group: "239.1.1.2", sources: [] },
  { recordType: 3, group: "239.1.1.3", sources: ["10.10.0.4"] },
  { recordType: 4, group: "239.1.1.4", sources: [], auxData: new Uint8Array([1, 2, 3, 4]) },
  { recordType: 5, group: "232.1.1.1", sources: ["10.10.0.2", "10.10.0.3", "10.10.0.4"] },
  { recordType: 6, group: "232.1.1.1", sources: ["10.10.0.5"] },
];
const ALL_RECORDS6 = [
  { recordType: 1, group: "ff3e::8000:1", sources: ["fd00:10::2", "fd00:10::3"] },
  { recordType: 2, group: "ff05::1:3", sources: [] },
  { recordType: 3, group: "ff05::1:4", sources: ["fd00:10::4"] },
  { recordType: 4, group: "ff05::1:5", sources: [], auxData: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
  { recordType: 5, group: "ff3e::8000:2", sources: ["fd00:10::2", "fd00:10::3", "fd00:10::4"] },
  { recordType: 6, group: "ff3e::8000:2", sources: ["fd00:10::5"] },
];

function v4(name: string, src: string, dst: string, message: Message, expect: Expect): Case {
  return { name, packet: igmpPacket(src, dst, message), message, expect };
}
function v6(name: string, src: string, dst: string, message: Message, expect: Expect): Case {
  return { name, packet: mldPacket(src, dst, message), message, expect };
}

const S6 = Array.from({ length: 5 }, (_, i) => `fd00:10::${i + 10}`);

const CASES: Case[] = [
  v4("IGMPv1 general query", R4, ALL_SYSTEMS.ipv4, generalQuery("ipv4", 1), {
    type: 0x11,
    igmpVersion: 1,
    maxResp: 0,
  }),
  v4("IGMPv2 general query", R4, ALL_SYSTEMS.ipv4, generalQuery("ipv4", 2, { maxRespTimeMs: 10_000 }), {
    type: 0x11,
    igmpVersion: 2,
    maxResp: 100,
  }),
  v4("IGMPv2 group query", R4, "239.1.1.1", groupQuery("ipv4", 2, "239.1.1.1", { maxRespTimeMs: 1000 }), {
    type: 0x11,
    igmpVersion: 2,
    group: "239.1.1.1",
    maxResp: 10,
  }),
  v4(
    "IGMPv3 general query",
    R4,
    ALL_SYSTEMS.ipv4,
    generalQuery("ipv4", 3, { maxRespTimeMs: 25_000, qqiSeconds: 125 }),
    {
      type: 0x11,
      igmpVersion: 3,
      maxResp: 0x8f,
      numSources: 0,
      sFlag: 0,
      qrv: 2,
      qqic: 125,
    },
  ),
  v4(
    "IGMPv3 Q(G)",
    R4,
    "239.1.1.1",
    groupQuery("ipv4", 3, "239.1.1.1", { maxRespTimeMs: 1000, sFlag: true }),
    {
      type: 0x11,
      igmpVersion: 3,
      group: "239.1.1.1",
      maxResp: 10,
      numSources: 0,
      sFlag: 1,
    },
  ),
  v4(
    "IGMPv3 Q(G,S)",
    R4,
    "232.1.1.1",
    groupSourceQuery("ipv4", "232.1.1.1", ["10.10.0.2", "10.10.0.3", "10.10.0.4"], {
      maxRespTimeMs: 1000,
      qrv: 3,
    }),
    { type: 0x11, igmpVersion: 3, group: "232.1.1.1", numSources: 3, qrv: 3 },
  ),
  v4("IGMPv1 report", H4, "239.1.1.1", report("ipv4", 1, "239.1.1.1"), {
    type: 0x12,
    igmpVersion: 1,
    group: "239.1.1.1",
  }),
  v4("IGMPv2 report", H4, "239.1.1.1", report("ipv4", 2, "239.1.1.1"), {
    type: 0x16,
    igmpVersion: 2,
    group: "239.1.1.1",
  }),
  v4("IGMPv2 leave", H4, ALL_ROUTERS.ipv4, leave("ipv4", "239.1.1.1"), {
    type: 0x17,
    igmpVersion: 2,
    group: "239.1.1.1",
  }),
  v4("IGMPv3 report, all record types", H4, ALL_V3_ROUTERS.ipv4, v3Report("ipv4", ALL_RECORDS), {
    type: 0x22,
    igmpVersion: 3,
    recordTypes: [1, 2, 3, 4, 5, 6],
    recordSources: [2, 0, 1, 0, 3, 1],
  }),
  v6("MLDv1 general query", R6, ALL_SYSTEMS.ipv6, generalQuery("ipv6", 1, { maxRespTimeMs: 10_000 }), {
    type: 130,
    maxResp: 10_000,
  }),
  v6("MLDv1 group query", R6, "ff05::1:3", groupQuery("ipv6", 1, "ff05::1:3", { maxRespTimeMs: 1000 }), {
    type: 130,
    group: "ff05::1:3",
    maxResp: 1000,
  }),
  v6("MLDv2 general query", R6, ALL_SYSTEMS.ipv6, generalQuery("ipv6", 2, { maxRespTimeMs: 40_000 }), {
    type: 130,
    maxResp: 0x8388, // 40,000 ms = (0x1000 | 0x388) << 3: exponent 0, mantissa 0x388
    numSources: 0,
    qrv: 2,
    qqic: 125,
  }),
  v6(
    "MLDv2 Q(G)",
    R6,
    "ff05::1:3",
    groupQuery("ipv6", 2, "ff05::1:3", { maxRespTimeMs: 1000, sFlag: true }),
    {
      type: 130,
      group: "ff05::1:3",
      maxResp: 1000,
      numSources: 0,
      sFlag: 1,
    },
  ),
  v6(
    "MLDv2 Q(G,S)",
    R6,
    "ff3e::8000:1",
    groupSourceQuery("ipv6", "ff3e::8000:1", S6, { maxRespTimeMs: 1000 }),
    {
      type: 130,
      group: "ff3e::8000:1",
      maxResp: 1000,
      numSources: 5,
    },
  ),
  v6("MLDv1 report", H6, "ff05::1:3", report("ipv6", 1, "ff05::1:3"), { type: 131, group: "ff05::1:3" }),
  v6("MLDv1 done", H6, ALL_ROUTERS.ipv6, leave("ipv6", "ff05::1:3"), { type: 132, group: "ff05::1:3" }),
  v6("MLDv2 report, all record types", H6, ALL_V3_ROUTERS.ipv6, v3Report("ipv6", ALL_RECORDS6), {
    type: 143,
    recordTypes: [1, 2, 3, 4, 5, 6],
    recordSources: [2, 0, 1, 0, 3, 1],
  }),
];

const FIELDS = [
  "frame.number",
  "_ws.malformed",
  "_ws.expert.severity",
  "ip.ttl",
  "ip.checksum.status",
  "ip.opt.ra",
  "igmp.type",
  "igmp.version",
  "igmp.checksum.status",
  "igmp.max_resp",
  "igmp.maddr",
  "igmp.s",
  "igmp.qrv",
  "igmp.qqic",
  "igmp.num_src",
  "igmp.num_grp_recs",
  "igmp.record_type",
  "ipv6.hlim",
  "ipv6.opt.router_alert",
  "icmpv6.type",
  "icmpv6.checksum.status",
  "icmpv6.mld.maximum_response_delay",
  "icmpv6.mld.maximum_response_code",
  "icmpv6.mld.multicast_address",
  "icmpv6.mld.flag.s",
  "icmpv6.mld.flag.qrv",
  "icmpv6.mld.qqi",
  "icmpv6.mld.nb_sources",
  "icmpv6.mldr.nb_mcast_records",
  "icmpv6.mldr.mar.record_type",
  "icmpv6.mldr.mar.nb_sources",
  "icmpv6.mldr.mar.multicast_address",
] as const;
type Field = (typeof FIELDS)[number];

function tshark(args: string[]): string {
  return execFileSync("tshark", ["-o", "ip.check_checksum:TRUE", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** One row per frame: field -> all occurrences. */
function dissect(file: string): Array<Record<Field, string[]>> {
  const out = tshark([
    "-r",
    file,
    "-T",
    "fields",
    "-E",
    "separator=/t",
    "-E",
    "occurrence=a",
    "-E",
    "aggregator=|",
    ...FIELDS.flatMap((f) => ["-e", f]),
  ]);
  return out
    .trimEnd()
    .split("\n")
    .map((line) => {
      const cols = line.split("\t");
      const row = {} as Record<Field, string[]>;
      FIELDS.forEach((f, i) => {
        const v = cols[i] ?? "";
        row[f] = v === "" ? [] : v.split("|");
      });
      return row;
    });
}

/** Wireshark PROTO_CHECKSUM_E_GOOD (BAD 0, GOOD 1, UNVERIFIED 2). */
const CHECKSUM_GOOD = "1";

const num = (s: string | undefined): number => (s === undefined ? Number.NaN : Number(s));

describe("codecs against tshark", () => {
  let dir = "";
  before(() => {
    try {
      execFileSync("tshark", ["--version"], { stdio: "ignore" });
    } catch {
      assert.fail("tshark is not installed (apt-get install -y tshark)");
    }
    dir = tempDir("wire-tshark-");
  });
  after(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("our own parser accepts every packet it serialized", () => {
    for (const c of CASES) {
      const ipHeader = c.message.family === "ipv4" ? 24 : 48;
      const payload = c.packet.subarray(ipHeader);
      const src = c.message.family === "ipv4" ? "" : c.message.type === "query" ? R6 : H6;
      const dst = new Uint8Array(c.packet.subarray(24, 40));
      const r = parse(
        c.message.family,
        payload,
        c.message.family === "ipv6" ? { source: src, destination: bytesToIpv6(dst) } : undefined,
      );
      assert.ok(r.ok, c.name);
      assert.deepEqual(r.message, c.message, c.name);
    }
  });

  it("expert info: no malformed packets, no checksum problems, no warnings", () => {
    const file = join(dir, "all.pcap");
    const w = new PcapWriter();
    for (const c of CASES) w.add(c.packet);
    w.writeFile(file);
    const expert = tshark(["-r", file, "-q", "-z", "expert"]);
    assert.doesNotMatch(expert, /malformed|checksum|error|warn/i, expert);
    const rows = dissect(file);
    assert.equal(rows.length, CASES.length);
    for (const row of rows) {
      assert.deepEqual(row["_ws.malformed"], [], `frame ${row["frame.number"][0]}`);
      assert.deepEqual(row["_ws.expert.severity"], [], `frame ${row["frame.number"][0]}`);
    }
  });

  it("the expert check does detect a bad checksum and a truncated record", () => {
    const file = join(dir, "bad.pcap");
    const bad = new Uint8Array(CASES[9]!.packet);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff; // last source byte: IGMP checksum no longer verifies
    const cut = new Uint8Array(CASES[17]!.packet);
    // Claim 9 sources in the first MLDv2 record (48 bytes of IPv6 headers + 8 + 2).
    cut[48 + 8 + 3] = 9;
    new PcapWriter().add(bad).add(cut).writeFile(file);
    const expert = tshark(["-r", file, "-q", "-z", "expert"]);
    assert.match(expert, /checksum/i);
    assert.match(expert, /malformed|error/i);
  });

  for (const [i, c] of CASES.entries()) {
    it(`dissects ${c.name}`, () => {
      const file = join(dir, `case${i}.pcap`);
      new PcapWriter().add(c.packet).writeFile(file);
      const [row] = dissect(file);
      assert.ok(row !== undefined);
      const e = c.expect;
      if (e.maxResp !== undefined && c.message.type === "query")
        assert.equal(c.message.maxRespCode, e.maxResp, "raw code");
      if (c.message.family === "ipv4") {
        assert.deepEqual(row["ip.ttl"], ["1"]);
        assert.deepEqual(row["ip.checksum.status"], [CHECKSUM_GOOD], "IP header checksum good");
        assert.equal(row["ip.opt.ra"].length, 1, "Router Alert option");
        assert.equal(num(row["igmp.type"][0]), e.type);
        assert.deepEqual(row["igmp.checksum.status"], [CHECKSUM_GOOD], "IGMP checksum good");
        if (e.igmpVersion !== undefined) assert.equal(num(row["igmp.version"][0]), e.igmpVersion);
        if (e.group !== undefined) assert.deepEqual(row["igmp.maddr"].slice(0, 1), [e.group]);
        if (c.message.type === "query") {
          if (c.message.version === 1) {
            assert.ok(
              row["igmp.max_resp"].length === 0 || row["igmp.max_resp"][0] === "0",
              "v1: no max resp",
            );
          } else {
            // tshark shows the decoded Max Resp Time in units of 1/10 s.
            assert.equal(num(row["igmp.max_resp"][0]), c.message.maxRespTimeMs / 100);
          }
        }
        if (e.numSources !== undefined) assert.deepEqual(row["igmp.num_src"], [String(e.numSources)]);
        if (e.sFlag !== undefined)
          assert.equal(row["igmp.s"][0] === "True" || row["igmp.s"][0] === "1" ? 1 : 0, e.sFlag);
        if (e.qrv !== undefined) assert.equal(num(row["igmp.qrv"][0]), e.qrv);
        if (e.qqic !== undefined) assert.equal(num(row["igmp.qqic"][0]), e.qqic);
        if (e.recordTypes !== undefined) {
          assert.deepEqual(row["igmp.num_grp_recs"], [String(e.recordTypes.length)]);
          assert.deepEqual(row["igmp.record_type"].map(num), e.recordTypes);
          assert.deepEqual(row["igmp.num_src"].map(num), e.recordSources);
        }
      } else {
        assert.deepEqual(row["ipv6.hlim"], ["1"]);
        assert.equal(row["ipv6.opt.router_alert"].length, 1, "Hop-by-Hop Router Alert");
        assert.equal(num(row["icmpv6.type"][0]), e.type);
        assert.deepEqual(row["icmpv6.checksum.status"], [CHECKSUM_GOOD], "ICMPv6 checksum good");
        if (e.group !== undefined) assert.deepEqual(row["icmpv6.mld.multicast_address"], [e.group]);
        if (c.message.type === "query") {
          const shown =
            c.message.version === 1
              ? row["icmpv6.mld.maximum_response_delay"][0]
              : row["icmpv6.mld.maximum_response_code"][0];
          assert.equal(num(shown), c.message.maxRespTimeMs, "max response time in ms");
        }
        if (e.numSources !== undefined)
          assert.deepEqual(row["icmpv6.mld.nb_sources"], [String(e.numSources)]);
        if (e.sFlag !== undefined) {
          assert.equal(
            row["icmpv6.mld.flag.s"][0] === "True" || row["icmpv6.mld.flag.s"][0] === "1" ? 1 : 0,
            e.sFlag,
          );
        }
        if (e.qrv !== undefined) assert.equal(num(row["icmpv6.mld.flag.qrv"][0]), e.qrv);
        if (e.qqic !== undefined) assert.equal(num(row["icmpv6.mld.qqi"][0]), e.qqic);
        if (e.recordTypes !== undefined) {
          assert.deepEqual(row["icmpv6.mldr.nb_mcast_records"], [String(e.recordTypes.length)]);
          assert.deepEqual(row["icmpv6.mldr.mar.record_type"].map(num), e.recordTypes);
          assert.deepEqual(row["icmpv6.mldr.mar.nb_sources"].map(num), e.recordSources);
        }
      }
    });
  }
});
