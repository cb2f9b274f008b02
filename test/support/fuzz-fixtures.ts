/**
 * Writes the representative hostile packets of test/fixtures/fuzz/ (one Ethernet frame per
 * `.hex` file, `# ` comment lines first): `node --import tsx test/support/fuzz-fixtures.ts`.
 * Packets the fuzzer finds that crash the daemon or make it log an error are added there
 * too, by hand, with the fuzzer's description and replay command as comments.
 * test/unit/fuzz-fixtures.test.ts feeds every file to the codec and to ingress.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ipv4ToBytes, ipv6ToBytes, serialize, v3Report } from "../../src/wire/index.js";
import { formatHexFixture, ipv4Frame, ipv6Frame } from "./fuzz-gen.js";

export const FIXTURE_DIR = resolve(import.meta.dirname, "../fixtures/fuzz");

function bytes(...parts: Array<number[] | Uint8Array>): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}
const u16 = (n: number) => [n >> 8, n & 0xff];

/** name -> [comment, frame] */
export function representativeFixtures(): Record<string, [string, Uint8Array]> {
  return {
    "igmpv3-report-truncated-huge-source-count": [
      "IGMPv3 report, 1 record MODE_IS_INCLUDE 239.77.0.1 claiming 65535 sources with 2 present; 10.11.0.2 -> 224.0.0.22, TTL 1, Router Alert",
      ipv4Frame({
        src: "10.11.0.2",
        dst: "224.0.0.22",
        payload: bytes(
          [0x22, 0, 0, 0, 0, 0, ...u16(1)],
          [1, 0, ...u16(0xffff)],
          ipv4ToBytes("239.77.0.1"),
          ipv4ToBytes("10.10.0.2"),
          ipv4ToBytes("10.10.0.3"),
        ),
      }),
    ],
    "igmpv3-report-65535-records": [
      "IGMPv3 report claiming 65535 records with one present (CHANGE_TO_EXCLUDE 239.77.0.2, no sources); 10.11.0.2 -> 224.0.0.22",
      ipv4Frame({
        src: "10.11.0.2",
        dst: "224.0.0.22",
        payload: bytes([0x22, 0, 0, 0, 0, 0, ...u16(0xffff)], [4, 0, 0, 0], ipv4ToBytes("239.77.0.2")),
      }),
    ],
    "igmpv3-report-aux-255-words": [
      "IGMPv3 report, 1 record with Aux Data Len 255 words (1020 bytes) and 8 bytes present; 10.11.0.2 -> 224.0.0.22",
      ipv4Frame({
        src: "10.11.0.2",
        dst: "224.0.0.22",
        payload: bytes(
          [0x22, 0, 0, 0, 0, 0, ...u16(1)],
          [2, 255, 0, 0],
          ipv4ToBytes("239.77.0.3"),
          new Uint8Array(8),
        ),
      }),
    ],
    "igmpv3-query-qqic255-qrv7-from-network-address": [
      "IGMPv3 General Query, Max Resp Code 100, S=0, QRV 7, QQIC 255 (31744 s), from the link's network address 10.11.0.0 -> 224.0.0.1, TTL 1, Router Alert",
      ipv4Frame({
        src: "10.11.0.0",
        dst: "224.0.0.1",
        payload: bytes([0x11, 100, 0, 0], ipv4ToBytes("0.0.0.0"), [0x07, 255, ...u16(0)]),
      }),
    ],
    "igmpv3-query-qqic255-huge-source-count-from-broadcast": [
      "IGMPv3 group-and-source query for 239.77.0.1 claiming 65535 sources with 1 present, QRV 7, QQIC 255, from the link's broadcast address 10.11.0.255 -> 239.77.0.1",
      ipv4Frame({
        src: "10.11.0.255",
        dst: "239.77.0.1",
        payload: bytes(
          [0x11, 255, 0, 0],
          ipv4ToBytes("239.77.0.1"),
          [0x0f, 255, ...u16(0xffff)],
          ipv4ToBytes("10.10.0.2"),
        ),
      }),
    ],
    "igmpv2-report-off-link-source-no-router-alert": [
      "IGMPv2 report 239.77.0.4 from an off-link source 10.99.0.1, TTL 64, no Router Alert, bad checksum",
      ipv4Frame({
        src: "10.99.0.1",
        dst: "239.77.0.4",
        ttl: 64,
        options: new Uint8Array(0),
        payload: bytes([0x16, 0, 0x12, 0x34], ipv4ToBytes("239.77.0.4")),
        fixChecksum: false,
      }),
    ],
    "mldv2-report-routing-header-chain": [
      "MLDv2 report, 1 record MODE_IS_EXCLUDE ff05::77:1; chain hop-by-hop (Router Alert) -> destination options -> routing type 0 (segments left 0) -> ICMPv6; fe80::2 -> ff02::16, hop limit 1",
      ipv6Frame({
        src: "fe80::2",
        dst: "ff02::16",
        chain: ["hbh-ra", "dstopts", "routing0"],
        payload: serialize("ipv6", v3Report("ipv6", [{ recordType: 2, group: "ff05::77:1", sources: [] }])),
      }),
    ],
    "mldv2-report-truncated-huge-source-count-fragment-header": [
      "MLDv2 report, 1 record ALLOW ff05::77:2 claiming 65535 sources with 1 present; chain hop-by-hop (Router Alert) -> atomic fragment header -> routing type 4; fe80::2 -> ff02::16",
      ipv6Frame({
        src: "fe80::2",
        dst: "ff02::16",
        chain: ["hbh-ra", "fragment-atomic", "routing4"],
        payload: bytes(
          [143, 0, 0, 0, 0, 0, ...u16(1)],
          [5, 0, ...u16(0xffff)],
          ipv6ToBytes("ff05::77:2"),
          ipv6ToBytes("fd00:10::2"),
        ),
      }),
    ],
    "mldv2-query-qqic255-qrv7-huge-source-count": [
      "MLDv2 query for ff05::77:3 claiming 65535 sources with none present, Max Resp Code 0xffff, QRV 7, QQIC 255, from the unspecified address :: -> ff02::1",
      ipv6Frame({
        src: "::",
        dst: "ff02::1",
        payload: bytes([130, 0, 0, 0, 0xff, 0xff, 0, 0], ipv6ToBytes("ff05::77:3"), [
          0x07,
          255,
          ...u16(0xffff),
        ]),
      }),
    ],
    "mldv2-report-unknown-record-types": [
      "MLDv2 report with records of types 0, 7, 255 and 1 (ff05::77:4 INCLUDE {fd00:10::2}); fe80::2 -> ff02::16; no Router Alert (hop-by-hop PadN only)",
      ipv6Frame({
        src: "fe80::2",
        dst: "ff02::16",
        chain: ["hbh-pad"],
        payload: serialize(
          "ipv6",
          v3Report("ipv6", [
            { recordType: 0, group: "ff05::77:4" },
            { recordType: 7, group: "ff05::77:4", sources: ["fd00:10::3"] },
            { recordType: 255, group: "ff02::1" },
            { recordType: 1, group: "ff05::77:4", sources: ["fd00:10::2"] },
          ]),
        ),
      }),
    ],
  };
}

const argv1 = process.argv[1];
if (argv1 !== undefined && import.meta.url === pathToFileURL(argv1).href) {
  for (const [name, [comment, frame]] of Object.entries(representativeFixtures())) {
    writeFileSync(
      join(FIXTURE_DIR, `${name}.hex`),
      formatHexFixture(
        [comment, "representative hostile packet (test/support/fuzz-fixtures.ts); Ethernet frame"],
        frame,
      ),
    );
  }
}
