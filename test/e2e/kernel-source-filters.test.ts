/**
 * SourceFilterSockets against a real kernel: the driver fixture runs in the lab router
 * namespace and applies filters on up0; the test checks the kernel's own view
 * (/proc/net/igmp, /proc/net/mcfilter, /proc/net/igmp6, /proc/net/mcfilter6).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { test } from "node:test";
import type { Netns } from "../../src/lab/netns.js";
import { buildTopology } from "../../src/lab/topology.js";
import { bytesToIpv6 } from "../../src/wire/address.js";

type Reply = { ok: boolean; error?: string; code?: string | null; [k: string]: unknown };

/** Request/response over the driver's stdin/stdout JSON lines. */
class Driver {
  private readonly pending: Array<(r: Reply) => void> = [];
  private readonly stderr: string[] = [];
  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => this.pending.shift()?.(JSON.parse(l) as Reply));
    child.stderr?.on("data", (d: Buffer) => this.stderr.push(d.toString()));
  }
  static start(ns: Netns): Driver {
    return new Driver(ns.spawn("node", ["--import", "tsx", "test/e2e/fixtures/kernel-source-filters-driver.ts"]));
  }
  call(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`driver timeout on ${cmd.op}: ${this.stderr.join("")}`)), timeoutMs);
      this.pending.push((r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
    });
  }
  async ok(cmd: Record<string, unknown>, timeoutMs?: number): Promise<Reply> {
    const r = await this.call(cmd, timeoutMs);
    assert.equal(r.ok, true, `${String(cmd.op)} failed: ${r.error}`);
    return r;
  }
  stop(): void {
    this.child.stdin?.end();
    this.child.kill();
  }
}

interface McFilter {
  dev: string;
  group: string;
  source: string;
  inc: number;
  exc: number;
}

/** /proc/net/igmp prints the raw (network-order) u32 as a host-order hex number. */
function procIpv4(hex: string, raw: boolean): string {
  const v = Number.parseInt(hex.replace(/^0x/, ""), 16);
  const b = [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return (raw ? b.reverse() : b).join(".");
}

/** /proc/net/mcfilter: "Idx Device MCA SRC INC EXC" with ntohl()'d addresses. */
function mcfilter4(text: string): McFilter[] {
  return text
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 6)
    .map(([, dev, g, s, inc, exc]) => ({
      dev: dev!,
      group: procIpv4(g!, false),
      source: procIpv4(s!, false),
      inc: Number(inc),
      exc: Number(exc),
    }));
}

/** /proc/net/mcfilter6: "Idx Device Multicast-Address Source-Address INC EXC", addresses as 32 hex digits. */
function mcfilter6(text: string): McFilter[] {
  return text
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 6)
    .map(([, dev, g, s, inc, exc]) => ({
      dev: dev!,
      group: bytesToIpv6(Buffer.from(g!, "hex")),
      source: bytesToIpv6(Buffer.from(s!, "hex")),
      inc: Number(inc),
      exc: Number(exc),
    }));
}

/** Groups joined on `dev` according to /proc/net/igmp. */
function igmpGroups(text: string, dev: string): string[] {
  const groups: string[] = [];
  let cur = "";
  for (const line of text.split("\n")) {
    const head = /^\d+\s+(\S+)\s*:/.exec(line);
    if (head) {
      cur = head[1]!;
      continue;
    }
    const g = /^\s+([0-9A-Fa-f]{8})\s/.exec(line);
    if (g && cur === dev) groups.push(procIpv4(g[1]!, true));
  }
  return groups;
}

/** Groups joined on `dev` according to /proc/net/igmp6. */
function igmp6Groups(text: string, dev: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[1] === dev)
    .map((f) => bytesToIpv6(Buffer.from(f[2]!, "hex")));
}

const on = (rows: McFilter[], dev: string, group: string) =>
  rows.filter((r) => r.dev === dev && r.group === group).sort((a, b) => (a.source < b.source ? -1 : 1));

/**
 * Sets a one-source filter on up0, then checks it twice: the kernel's own row in
 * /proc/net/mcfilter(6) and the filter read back through MCAST_MSFILTER.
 */
async function setOneSource(
  d: Driver,
  id: string,
  mcf: () => Promise<McFilter[]>,
  group: string,
  mode: "include" | "exclude",
  source: string,
): Promise<void> {
  await d.ok({ op: "set", id, group, mode, sources: [source] });
  const inc = mode === "include" ? 1 : 0;
  assert.deepEqual(on(await mcf(), "up0", group), [{ dev: "up0", group, source, inc, exc: 1 - inc }]);
  assert.deepEqual((await d.ok({ op: "get", id, group })).filter, { mode, sources: [source] });
}

test("IPv4 upstream filters on up0: INCLUDE, EXCLUDE, change, leave, source-limit split, close", async () => {
  const topo = await buildTopology();
  const d = Driver.start(topo.rtr);
  try {
    const opened = await d.ok({ op: "open", id: "v4", family: "ipv4", ifname: "up0" });
    assert.deepEqual(opened.limits, { maxGroupsPerSocket: 20, maxSourcesPerFilter: 10 });
    const mcf = async () => mcfilter4(await topo.rtr.readProc("/proc/net/mcfilter"));
    const igmp = async () => igmpGroups(await topo.rtr.readProc("/proc/net/igmp"), "up0");

    await setOneSource(d, "v4", mcf, "232.1.1.1", "include", "10.10.0.2");

    await setOneSource(d, "v4", mcf, "239.2.2.2", "exclude", "10.10.0.9");
    assert.ok((await igmp()).includes("239.2.2.2"));

    // change INCLUDE {S1} -> INCLUDE {S1, S3}; then leave with INCLUDE {}
    await d.ok({ op: "set", id: "v4", group: "232.1.1.1", mode: "include", sources: ["10.10.0.3", "10.10.0.2"] });
    assert.deepEqual(
      on(await mcf(), "up0", "232.1.1.1").map((r) => r.source),
      ["10.10.0.2", "10.10.0.3"],
    );
    await d.ok({ op: "set", id: "v4", group: "232.1.1.1", mode: "include", sources: [] });
    assert.deepEqual(on(await mcf(), "up0", "232.1.1.1"), []);
    assert.ok(!(await igmp()).includes("232.1.1.1"));
    assert.equal((await d.ok({ op: "get", id: "v4", group: "232.1.1.1" })).filter, null);

    // INCLUDE with 25 sources > igmp_max_msf (10): split over 3 sockets, the kernel holds all 25
    const many = Array.from({ length: 25 }, (_, i) => `10.10.1.${i + 1}`);
    await d.ok({ op: "set", id: "v4", group: "232.5.5.5", mode: "include", sources: many });
    const rows = on(await mcf(), "up0", "232.5.5.5");
    assert.equal(rows.length, 25);
    assert.ok(rows.every((r) => r.inc === 1 && r.exc === 0));
    const back = (await d.ok({ op: "get", id: "v4", group: "232.5.5.5" })).filter as { sources: string[] };
    assert.equal(back.sources.length, 25);

    // EXCLUDE with 12 sources: the first 10 are excluded and a warning names the sysctl
    const twelve = Array.from({ length: 12 }, (_, i) => `10.10.2.${i + 1}`);
    const w = await d.ok({ op: "set", id: "v4", group: "239.6.6.6", mode: "exclude", sources: twelve });
    assert.equal((w.warning as { limit: string }).limit, "net.ipv4.igmp_max_msf");
    assert.equal(on(await mcf(), "up0", "239.6.6.6").length, 10);

    await d.ok({ op: "close", id: "v4" });
    assert.deepEqual(await igmp(), ["224.0.0.1"]);
    assert.deepEqual(
      (await mcf()).filter((r) => r.dev === "up0"),
      [],
    );
  } finally {
    d.stop();
    await topo.destroy();
  }
});

test("IPv6 upstream filters on up0: INCLUDE, EXCLUDE, leave, close", async () => {
  const topo = await buildTopology();
  const d = Driver.start(topo.rtr);
  try {
    const opened = await d.ok({ op: "open", id: "v6", family: "ipv6", ifname: "up0" });
    assert.deepEqual(opened.limits, { maxGroupsPerSocket: 64, maxSourcesPerFilter: 64 });
    const mcf = async () => mcfilter6(await topo.rtr.readProc("/proc/net/mcfilter6"));
    const mld = async () => igmp6Groups(await topo.rtr.readProc("/proc/net/igmp6"), "up0");

    await setOneSource(d, "v6", mcf, "ff3e::8000:1", "include", "fd00:10::2");

    await setOneSource(d, "v6", mcf, "ff15::2", "exclude", "fd00:10::9");
    assert.ok((await mld()).includes("ff15::2"));
    await d.ok({ op: "set", id: "v6", group: "ff15::2", mode: "exclude", sources: [] });
    assert.deepEqual(on(await mcf(), "up0", "ff15::2"), []);
    assert.ok((await mld()).includes("ff15::2"));

    await d.ok({ op: "set", id: "v6", group: "ff3e::8000:1", mode: "include", sources: [] });
    assert.ok(!(await mld()).includes("ff3e::8000:1"));
    assert.equal((await d.ok({ op: "get", id: "v6", group: "ff3e::8000:1" })).filter, null);

    await d.ok({ op: "close", id: "v6" });
    assert.ok(!(await mld()).includes("ff15::2"));
    assert.deepEqual(
      (await mcf()).filter((r) => r.dev === "up0"),
      [],
    );
  } finally {
    d.stop();
    await topo.destroy();
  }
});

test("scale: 100 then 10,000 IPv4 groups spread over sockets (igmp_max_memberships 20), 10,000 IPv6 groups", async () => {
  const topo = await buildTopology();
  const d = Driver.start(topo.rtr);
  try {
    await d.ok({ op: "open", id: "v4", family: "ipv4", ifname: "up0" });
    const g4 = (i: number) => `239.100.${i >> 8}.${i & 255}`;
    const first = await d.ok({ op: "bulk", id: "v4", groups: Array.from({ length: 100 }, (_, i) => g4(i)) });
    assert.equal(first.sockets, 5);
    let joined = igmpGroups(await topo.rtr.readProc("/proc/net/igmp"), "up0");
    assert.equal(joined.filter((g) => g.startsWith("239.100.")).length, 100);

    const rest = Array.from({ length: 9900 }, (_, i) => g4(i + 100));
    const big = await d.ok({ op: "bulk", id: "v4", groups: rest }, 120_000);
    assert.equal(big.groups, 10_000);
    assert.equal(big.sockets, 500);
    joined = igmpGroups(await topo.rtr.readProc("/proc/net/igmp"), "up0");
    const set = new Set(joined);
    assert.equal(joined.filter((g) => g.startsWith("239.100.")).length, 10_000);
    for (let i = 0; i < 10_000; i++) assert.ok(set.has(g4(i)), `missing ${g4(i)}`);
    const ms4 = Number(big.ms) + Number(first.ms);
    console.log(
      `# IPv4: 10,000 groups joined on up0 in ${ms4.toFixed(0)} ms (${Math.round(10_000 / (ms4 / 1000))} setFilter/s, ${big.sockets} sockets)`,
    );

    await d.ok({ op: "open", id: "v6", family: "ipv6", ifname: "up0" });
    const g6 = (i: number) => `ff15::a:${i.toString(16)}`;
    const big6 = await d.ok({ op: "bulk", id: "v6", groups: Array.from({ length: 10_000 }, (_, i) => g6(i)) }, 120_000);
    const joined6 = igmp6Groups(await topo.rtr.readProc("/proc/net/igmp6"), "up0");
    assert.equal(joined6.filter((g) => g.startsWith("ff15::a:")).length, 10_000);
    console.log(
      `# IPv6: 10,000 groups joined on up0 in ${Number(big6.ms).toFixed(0)} ms (${Math.round(10_000 / (Number(big6.ms) / 1000))} setFilter/s, ${big6.sockets} sockets)`,
    );

    // close() leaves everything
    await d.ok({ op: "close", id: "v4" }, 120_000);
    await d.ok({ op: "close", id: "v6" }, 120_000);
    assert.deepEqual(igmpGroups(await topo.rtr.readProc("/proc/net/igmp"), "up0"), ["224.0.0.1"]);
    const left6 = igmp6Groups(await topo.rtr.readProc("/proc/net/igmp6"), "up0");
    assert.equal(left6.filter((g) => g.startsWith("ff15::")).length, 0);
  } finally {
    d.stop();
    await topo.destroy();
  }
});

test("the kernel reports the upstream filters to the upstream link (IGMPv3 captured on the upstream host)", async () => {
  const topo = await buildTopology();
  const d = Driver.start(topo.rtr);
  const cap = topo.up.spawn("tshark", [
    "-l",
    "-n",
    "-i",
    "eth0",
    "-f",
    "igmp",
    "-T",
    "fields",
    "-e",
    "ip.src",
    "-e",
    "igmp.type",
    "-e",
    "igmp.maddr",
    "-e",
    "igmp.record_type",
    "-e",
    "igmp.saddr",
  ]);
  const seen: string[] = [];
  createInterface({ input: cap.stdout! }).on("line", (l) => seen.push(l));
  try {
    // wait for the capture to run
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("tshark did not start")), 20_000);
      cap.stderr?.on("data", (b: Buffer) => {
        if (/Capture started|Capturing on/.test(b.toString())) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    await new Promise((r) => setTimeout(r, 500));
    await d.ok({ op: "open", id: "v4", family: "ipv4", ifname: "up0" });
    await d.ok({ op: "set", id: "v4", group: "232.9.9.9", mode: "include", sources: ["10.10.0.2"] });
    await d.ok({ op: "set", id: "v4", group: "239.9.9.9", mode: "exclude", sources: ["10.10.0.9"] });
    /** A v3 report (0x22) from the router holding a record (group, type) and the source. */
    const hasRecord = (line: string, group: string, type: number, source: string) => {
      const [src, igmpType, maddrs, types, saddrs] = line.split("\t");
      if (src !== "10.10.0.1" || igmpType !== "0x22") return false;
      const g = (maddrs ?? "").split(",");
      const t = (types ?? "").split(",");
      return g.some((x, i) => x === group && t[i] === String(type)) && (saddrs ?? "").split(",").includes(source);
    };
    const want = (group: string, type: number, source: string, what: string) =>
      new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const iv = setInterval(() => {
          if (seen.some((l) => hasRecord(l, group, type, source))) {
            clearInterval(iv);
            resolve();
          } else if (Date.now() - t0 > 10_000) {
            clearInterval(iv);
            reject(new Error(`no ${what} captured; saw: ${seen.join(" | ")}`));
          }
        }, 100);
      });
    // RFC 3376 §5.1 state-change records from the router's upstream address:
    // ALLOW_NEW_SOURCES (5) {10.10.0.2} for 232.9.9.9, CHANGE_TO_EXCLUDE_MODE (4) {10.10.0.9} for 239.9.9.9
    await want("232.9.9.9", 5, "10.10.0.2", "ALLOW(10.10.0.2) for 232.9.9.9");
    await want("239.9.9.9", 4, "10.10.0.9", "TO_EX(10.10.0.9) for 239.9.9.9");
    await d.ok({ op: "close", id: "v4" });
    // leaving INCLUDE {S}: BLOCK_OLD_SOURCES (6)
    await want("232.9.9.9", 6, "10.10.0.2", "BLOCK(10.10.0.2) for 232.9.9.9");
  } finally {
    cap.kill("SIGTERM");
    await new Promise((r) => (cap.exitCode !== null ? r(null) : cap.once("exit", r)));
    d.stop();
    await topo.destroy();
  }
});
