/**
 * The receive path against the real kernel (docs/kernel.md "Receiving reports"): which
 * socket the kernel hands each kind of packet to once the mroute socket carries upcalls
 * only and every link has its own report socket, in the lab topology:
 *   [up] eth0 --- up0 [rtr] dn1 --- eth0 [h1]
 *                          dn2 --- eth0 [h2]
 * The kernel layer runs in rtr through the agent fixture; crafted frames come from the
 * injector (AF_PACKET) in h1 / h2, data from the host fixture.
 *
 * Verified here:
 *  - upcalls (queued with sock_queue_rcv_skb) pass the mroute socket's filters: the IPv4
 *    classic BPF program and the IPv6 ICMP6_FILTER that blocks every type;
 *  - the filters keep every copy of a link's packets off the mroute socket in the kernel
 *    (its software discard count stays 0), and the IPv4 report socket's program keeps off
 *    what the mroute socket reads: each packet is read exactly once, on the right socket;
 *  - IGMP to a group without Router Alert reaches the mroute socket (and only it); with
 *    Router Alert it reaches the link's report socket (IP_ROUTER_ALERT, bound socket);
 *  - a bound report socket hears its own link only;
 *  - a full receive buffer shows in the socket's drop count (SO_MEMINFO).
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Netns } from "../../src/lab/netns.js";
import { buildTopology, type Topology } from "../../src/lab/topology.js";
import {
  type Address,
  type IpFamily,
  report,
  serialize,
  v3Report,
  RecordType,
} from "../../src/wire/index.js";
import { ipv4Frame, ipv6Frame } from "../support/fuzz-gen.js";
import { startInjector } from "../support/fuzz-inject.js";
import { sleep } from "../support/scenario.js";
import { type JsonLine, JsonProc } from "./fixtures/kernel-mroute-lib.js";
import { tempDir } from "../support/temp.js";

const AGENT = "test/e2e/fixtures/kernel-mroute-agent.ts";
const HOST = "test/e2e/fixtures/kernel-mroute-host.ts";

interface ReceiveStats {
  filter: string;
  discarded: number;
  drops: number | null;
}

/** One crafted packet and the socket that must read it (exactly once). */
interface Case {
  what: string;
  from: "h1" | "h2";
  frame: Uint8Array;
  /** The group in the payload: identifies the packet in the agent's events. */
  group: Address;
  socket: "mroute" | "dn1" | "dn2";
}

const RA = Uint8Array.of(0x94, 4, 0, 0);
const NO_OPTIONS = new Uint8Array(0);

function v4Cases(topo: Topology): Case[] {
  const h1 = topo.addr.h1.v4;
  const h2 = topo.addr.h2.v4;
  const v2 = (g: Address) => serialize("ipv4", report("ipv4", 2, g));
  const v1 = (g: Address) => serialize("ipv4", report("ipv4", 1, g));
  const v3 = (g: Address) =>
    serialize(
      "ipv4",
      v3Report("ipv4", [{ recordType: RecordType.CHANGE_TO_EXCLUDE_MODE, group: g, sources: [] }]),
    );
  return [
    {
      what: "IGMPv2 report with Router Alert",
      from: "h1",
      group: "239.7.0.1",
      socket: "dn1",
      frame: ipv4Frame({ src: h1, dst: "239.7.0.1", payload: v2("239.7.0.1"), options: RA }),
    },
    {
      what: "IGMPv2 report without Router Alert",
      from: "h1",
      group: "239.7.0.2",
      socket: "mroute",
      frame: ipv4Frame({ src: h1, dst: "239.7.0.2", payload: v2("239.7.0.2"), options: NO_OPTIONS }),
    },
    {
      what: "IGMPv1 report (no Router Alert)",
      from: "h1",
      group: "239.7.0.3",
      socket: "mroute",
      frame: ipv4Frame({ src: h1, dst: "239.7.0.3", payload: v1("239.7.0.3"), options: NO_OPTIONS }),
    },
    {
      what: "Router Alert with a non-zero value (no Router Alert to the kernel)",
      from: "h1",
      group: "239.7.0.4",
      socket: "mroute",
      frame: ipv4Frame({
        src: h1,
        dst: "239.7.0.4",
        payload: v2("239.7.0.4"),
        options: Uint8Array.of(0x94, 4, 0x12, 0x34),
      }),
    },
    {
      what: "NOP, then Router Alert",
      from: "h1",
      group: "239.7.0.5",
      socket: "dn1",
      frame: ipv4Frame({
        src: h1,
        dst: "239.7.0.5",
        payload: v2("239.7.0.5"),
        options: Uint8Array.of(1, 0x94, 4, 0, 0, 0, 0, 0),
      }),
    },
    {
      what: "IGMPv3 report to 224.0.0.22 with Router Alert",
      from: "h1",
      group: "239.7.0.6",
      socket: "dn1",
      frame: ipv4Frame({ src: h1, dst: "224.0.0.22", payload: v3("239.7.0.6"), options: RA }),
    },
    {
      what: "IGMPv3 report to 224.0.0.22 without Router Alert",
      from: "h1",
      group: "239.7.0.7",
      socket: "dn1",
      frame: ipv4Frame({ src: h1, dst: "224.0.0.22", payload: v3("239.7.0.7"), options: NO_OPTIONS }),
    },
    {
      what: "IGMPv2 report with Router Alert from h2",
      from: "h2",
      group: "239.7.0.8",
      socket: "dn2",
      frame: ipv4Frame({ src: h2, dst: "239.7.0.8", payload: v2("239.7.0.8"), options: RA }),
    },
    {
      what: "IGMPv2 report without Router Alert from h2",
      from: "h2",
      group: "239.7.0.9",
      socket: "mroute",
      frame: ipv4Frame({ src: h2, dst: "239.7.0.9", payload: v2("239.7.0.9"), options: NO_OPTIONS }),
    },
  ];
}

function v6Cases(): Case[] {
  const v1 = (g: Address, src: Address) =>
    serialize("ipv6", report("ipv6", 1, g), { source: src, destination: g });
  const v2 = (g: Address, src: Address) =>
    serialize(
      "ipv6",
      v3Report("ipv6", [{ recordType: RecordType.CHANGE_TO_EXCLUDE_MODE, group: g, sources: [] }]),
      {
        source: src,
        destination: "ff02::16",
      },
    );
  const h1 = "fe80::2";
  return [
    {
      what: "MLDv1 report to the group",
      from: "h1",
      group: "ff0e::7:1",
      socket: "dn1",
      frame: ipv6Frame({ src: h1, dst: "ff0e::7:1", payload: v1("ff0e::7:1", h1) }),
    },
    {
      what: "MLDv2 report to ff02::16",
      from: "h1",
      group: "ff0e::7:2",
      socket: "dn1",
      frame: ipv6Frame({ src: h1, dst: "ff02::16", payload: v2("ff0e::7:2", h1) }),
    },
    {
      what: "MLDv2 report to ff02::16 from h2",
      from: "h2",
      group: "ff0e::7:3",
      socket: "dn2",
      frame: ipv6Frame({ src: h1, dst: "ff02::16", payload: v2("ff0e::7:3", h1) }),
    },
  ];
}

/** The group a packet event's payload is about (v1/v2 reports: bytes 4..7 / 8..23; v3/v2 reports: the first record). */
function groupOf(family: IpFamily, l: JsonLine): string {
  const b = Buffer.from(String(l.payload), "hex");
  const at = (o: number) =>
    family === "ipv4" ? [...b.subarray(o, o + 4)].join(".") : ipv6Text(b.subarray(o, o + 16));
  if (family === "ipv4") return b[0] === 0x22 ? at(12) : at(4);
  return b[0] === 143 ? at(12) : at(8);
}

function ipv6Text(b: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return words.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

async function inject(dir: string, ns: Netns, frames: Uint8Array[], count = frames.length): Promise<void> {
  const framesFile = join(dir, `frames-${ns.name}-${count}.hex`);
  writeFileSync(framesFile, `${frames.map((x) => Buffer.from(x).toString("hex")).join("\n")}\n`);
  await startInjector(ns, { framesFile, count }).result;
}

for (const family of ["ipv4", "ipv6"] as const) {
  test(`${family} receive path: upcalls only on the mroute socket, each link's packets once on its own socket`, {
    timeout: 180_000,
  }, async (t) => {
    const topo = await buildTopology();
    const dir = tempDir("improxy-rs-");
    const procs: JsonProc[] = [];
    try {
      const agent = JsonProc.spawn(topo.rtr, AGENT);
      procs.push(agent);
      await agent.waitFor((l) => l.event === "ready", 20_000, "agent ready");
      const opened = (await agent.call({ op: "open", name: "a", family, table: null })) as {
        filterError: string | null;
      };
      assert.equal(opened.filterError, null, "the kernel takes the mroute socket's filter");
      for (const ifname of ["up0", "dn1", "dn2"]) await agent.call({ op: "addVif", name: "a", ifname });
      for (const [ifname, join] of [
        ["up0", false],
        ["dn1", true],
        ["dn2", true],
      ] as const) {
        const r = (await agent.call({ op: "openReportSocket", name: "a", ifname, join })) as {
          filterError: string | null;
        };
        assert.equal(r.filterError, null, `the kernel takes ${ifname}'s filter`);
      }
      const packets = () => agent.lines.filter((l) => l.event === "packet");
      const stats = async () =>
        (await agent.call({ op: "stats", name: "a" })) as Record<string, ReceiveStats>;
      // Copies queued before a filter was attached (a host's own reports) are not the filters' fault.
      const initial = await stats();

      await t.test("each crafted packet is read once, on the socket the kernel gives it to", async () => {
        const cases = family === "ipv4" ? v4Cases(topo) : v6Cases();
        for (const from of ["h1", "h2"] as const) {
          const frames = cases.filter((c) => c.from === from).map((c) => c.frame);
          if (frames.length > 0) await inject(dir, topo[from], frames);
        }
        await agent.waitFor(
          () => cases.every((c) => packets().some((l) => groupOf(family, l) === c.group)),
          10_000,
          "every crafted packet read",
        );
        await sleep(500); // duplicates would come right behind
        for (const c of cases) {
          const got = packets().filter((l) => groupOf(family, l) === c.group);
          assert.deepEqual(
            got.map((l) => [l.socket, l.ifname]),
            [[c.socket, c.from === "h1" ? "dn1" : "dn2"]],
            c.what,
          );
        }
      });

      await t.test(
        "data without an MFC entry: the NOCACHE upcall passes the mroute socket's filter",
        async () => {
          const G = family === "ipv4" ? "239.7.1.1" : "ff0e::7:101";
          const iface = family === "ipv4" ? topo.addr.h1.v4 : "::%eth0";
          const sender = JsonProc.spawn(topo.h1, HOST, [
            "send",
            family === "ipv4" ? "udp4" : "udp6",
            G,
            "5000",
            "3",
            "100",
            iface,
            "8",
          ]);
          procs.push(sender);
          const up = await agent.waitFor(
            (l) => l.event === "upcall" && l.group === G,
            10_000,
            "NOCACHE upcall",
          );
          assert.deepEqual([up.type, up.vif, up.socket], ["nocache", 1, "mroute"]);
          await sender.waitFor((l) => l.event === "sent" && l.n === 3, 10_000, "sender done");
        },
      );

      await t.test(
        "no copy reached the mroute socket, nor another link's socket: the kernel filtered them",
        async () => {
          for (const [socket, s] of Object.entries(await stats())) {
            assert.equal(s.filter, "kernel", socket);
            assert.equal(
              s.discarded,
              initial[socket]?.discarded,
              `${socket} read no copy meant for another socket`,
            );
            assert.equal(s.drops, 0, socket);
          }
        },
      );

      await t.test("a full receive buffer shows in the socket's drop count (SO_MEMINFO)", async () => {
        await agent.call({ op: "closeReportSocket", name: "a", ifname: "dn2" });
        await agent.call({ op: "openReportSocket", name: "a", ifname: "dn2", join: true, receiveBuffer: 1 });
        const mark = agent.lines.length;
        const c = (family === "ipv4" ? v4Cases(topo) : v6Cases()).find((x) => x.socket === "dn2")!;
        const sent = 20_000;
        await inject(dir, topo.h2, [c.frame], sent);
        await sleep(1000);
        const read = agent.lines
          .slice(mark)
          .filter((l) => l.event === "packet" && l.socket === "dn2" && groupOf(family, l) === c.group).length;
        const drops = (await stats()).dn2?.drops ?? 0;
        t.diagnostic(`${family}: ${sent} sent, ${read} read, ${drops} dropped by the kernel`);
        assert.ok(drops > 0, "drops counted");
        // The count also holds the host stacks' own reports that met a full buffer.
        assert.ok(read < sent && read + drops >= sent, `${read} read + ${drops} dropped, ${sent} sent`);
      });

      await agent.call({ op: "exit" });
    } finally {
      for (const p of procs) await p.stop().catch(() => undefined);
      await topo.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
