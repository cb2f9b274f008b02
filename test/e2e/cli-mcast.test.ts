/**
 * `improxy mcast` between two hosts on one link of the lab topology: the sender runs in
 * `up` (eth0), the receiver in `rtr` (up0). No proxy runs: this tests the tool and the
 * kernel's host stack, any-source and source-specific, IPv4 and IPv6. For two sources on
 * one link `up` gets a second address (10.10.0.3 / fd00:10::3) and the second sender binds
 * to it.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Netns } from "../../src/lab/netns.js";
import { startCapture, tsharkFields } from "../support/capture.js";
import { buildProxyLab, eventually } from "../support/scenario.js";
import { useLab } from "../support/stage.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

type Line = Record<string, unknown> & { event: string };

interface Running {
  lines: Line[];
  stderr: string[];
  /** Resolves with the first line matching, rejects after `ms`. */
  waitFor(pred: (l: Line) => boolean, ms?: number): Promise<Line>;
  exited: Promise<number>;
  child: ChildProcess;
}

function mcast(ns: Netns, args: string[]): Running {
  const child = ns.spawn(process.execPath, ["--import", "tsx", MAIN, "mcast", "--json", ...args], {
    cwd: ROOT,
  });
  const lines: Line[] = [];
  const stderr: string[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = JSON.parse(buf.slice(0, i)) as Line;
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.pred(line))) w.resolve(line);
    }
  });
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  return {
    lines,
    stderr,
    child,
    exited,
    waitFor(pred, ms = 15_000) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`timeout; lines: ${JSON.stringify(lines)} stderr: ${stderr.join("")}`)),
          ms,
        );
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

const recvs = (r: Running) => r.lines.filter((l) => l.event === "recv");

/** `mcast` arguments of a sender on `up`'s eth0: `count` datagrams every `intervalMs`. */
const sendArgs = (group: string, port: string, count: number, intervalMs = 50) => [
  "-m",
  group,
  "-s",
  "--interface",
  "eth0",
  "--port",
  port,
  "--count",
  String(count),
  "--interval",
  String(intervalMs),
];

describe("improxy mcast on one link", () => {
  const started: Running[] = [];
  const run = (ns: Netns, args: string[]) => {
    const r = mcast(ns, args);
    started.push(r);
    return r;
  };
  after(async () => {
    for (const r of started) if (r.child.exitCode === null) r.child.kill("SIGTERM");
    await Promise.all(started.map((r) => r.exited));
  });
  // The standard lab with a second source address on `up` (10.10.0.3, fd00:10::3).
  const topo = useLab(buildProxyLab);

  for (const fam of [
    { name: "IPv4", group: "239.1.2.3", s1: "10.10.0.2", port: "5101" },
    { name: "IPv6", group: "ff05::1:3", s1: "fd00:10::2", port: "5102" },
  ]) {
    test(`${fam.name} any-source: sequence, delay, no gaps`, async () => {
      const rx = run(topo.rtr, [
        "-m",
        fam.group,
        "-r",
        "--interface",
        "up0",
        "--port",
        fam.port,
        "--count",
        "5",
        "--duration",
        "15",
      ]);
      await rx.waitFor((l) => l.event === "joined");
      const tx = run(topo.up, [
        ...sendArgs(fam.group, fam.port, 5),
        "--size",
        "64",
        "--id",
        "7",
        "--bind",
        fam.s1,
      ]);
      assert.equal(await tx.exited, 0, tx.stderr.join(""));
      assert.deepEqual(
        tx.lines.filter((l) => l.event === "sent").map((l) => l.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(await rx.exited, 0, rx.stderr.join(""));
      const got = recvs(rx);
      assert.deepEqual(
        got.map((l) => [l.from, l.seq, l.senderId, l.gaps, l.bytes]),
        [1, 2, 3, 4, 5].map((s) => [fam.s1, s, 7, 0, 64]),
      );
      for (const l of got) {
        const d = l.delayMs as number;
        assert.ok(d >= 0 && d < 1000, `one-way delay ${d} ms is plausible on one host`);
      }
      const summary = rx.lines.find((l) => l.event === "summary");
      assert.deepEqual([summary?.packets, summary?.senders, summary?.gaps], [5, 1, 0]);
    });
  }

  for (const fam of [
    { name: "IPv4", group: "232.1.2.3", s1: "10.10.0.2", s2: "10.10.0.3", port: "5103" },
    { name: "IPv6", group: "ff3e::1:4", s1: "fd00:10::2", s2: "fd00:10::3", port: "5104" },
  ]) {
    test(`${fam.name} source-specific: (S1,G) sees only S1, (S2,G) only S2`, async () => {
      const common = ["-m", fam.group, "-r", "--interface", "up0", "--port", fam.port, "--duration", "4"];
      const r1 = run(topo.rtr, [...common, "--source", fam.s1]);
      const r2 = run(topo.rtr, [...common, "--source", fam.s2]);
      await r1.waitFor((l) => l.event === "joined");
      await r2.waitFor((l) => l.event === "joined");
      const send = sendArgs(fam.group, fam.port, 4);
      const t1 = run(topo.up, [...send, "--bind", fam.s1, "--id", "1"]);
      const t2 = run(topo.up, [...send, "--bind", fam.s2, "--id", "2"]);
      assert.equal(await t1.exited, 0, t1.stderr.join(""));
      assert.equal(await t2.exited, 0, t2.stderr.join(""));
      await r1.waitFor((l) => l.event === "recv" && l.seq === 4);
      await r2.waitFor((l) => l.event === "recv" && l.seq === 4);
      assert.equal(await r1.exited, 0);
      assert.equal(await r2.exited, 0);
      assert.deepEqual(
        recvs(r1).map((l) => [l.from, l.senderId, l.seq]),
        [1, 2, 3, 4].map((s) => [fam.s1, 1, s]),
        "the (S1,G) receiver printed nothing from S2",
      );
      assert.deepEqual(
        recvs(r2).map((l) => [l.from, l.senderId, l.seq]),
        [1, 2, 3, 4].map((s) => [fam.s2, 2, s]),
        "the (S2,G) receiver printed nothing from S1",
      );
    });
  }

  test("an any-source receiver hears both sources (the control for the test above)", async () => {
    const rx = run(topo.rtr, [
      "-m",
      "239.1.2.5",
      "-r",
      "--interface",
      "up0",
      "--port",
      "5105",
      "--duration",
      "30",
    ]);
    await rx.waitFor((l) => l.event === "joined");
    const send = sendArgs("239.1.2.5", "5105", 2);
    const t1 = run(topo.up, [...send, "--bind", "10.10.0.2"]);
    const t2 = run(topo.up, [...send, "--bind", "10.10.0.3"]);
    await Promise.all([t1.exited, t2.exited]);
    // Until both senders' last datagram arrived (a loaded machine starts the senders late:
    // a fixed receive duration could end first), then a clean stop.
    const heard = new Set<string>();
    await rx.waitFor((l) => {
      if (l.event === "recv" && l.seq === 2) heard.add(String(l.from));
      return heard.size === 2;
    });
    rx.child.kill("SIGTERM");
    assert.equal(await rx.exited, 0);
    const from = new Set(recvs(rx).map((l) => l.from));
    assert.deepEqual([...from].sort(), ["10.10.0.2", "10.10.0.3"]);
  });

  test("SIGTERM ends a receiver cleanly with a summary", async () => {
    const rx = run(topo.rtr, ["-m", "239.1.2.6", "-r", "--interface", "up0", "--port", "5106"]);
    await rx.waitFor((l) => l.event === "joined");
    rx.child.kill("SIGTERM");
    assert.equal(await rx.exited, 0);
    assert.equal(rx.lines.at(-1)?.event, "summary");
  });

  test("mcast_test.py's flags: -p 1234 on both sides, -l, the sender's default TTL 2 on the wire", async () => {
    const cap = await startCapture(topo.rtr, "up0", "udp port 1234");
    try {
      const rx = run(topo.rtr, "-m 239.1.2.7 -r -p 1234 -l 10.10.0.1 --count 3 --duration 15".split(" "));
      const joined = await rx.waitFor((l) => l.event === "joined");
      assert.deepEqual([joined.port, joined.interface], [1234, "up0"]);
      // No -p, no -t: mcast_test.py's defaults, port 1234 and TTL 2.
      const tx = run(topo.up, "-m 239.1.2.7 -s -l 10.10.0.3 --count 3 --interval 50".split(" "));
      assert.equal(await tx.exited, 0, tx.stderr.join(""));
      const sending = tx.lines.find((l) => l.event === "sending");
      assert.deepEqual([sending?.port, sending?.ttl, sending?.interface], [1234, 2, "eth0"]);
      assert.equal(await rx.exited, 0, rx.stderr.join(""));
      assert.deepEqual(
        recvs(rx).map((l) => [l.from, l.seq]),
        [1, 2, 3].map((s) => ["10.10.0.3", s]),
      );
      // dumpcap writes as it goes: read the live file until the three are there.
      await eventually(async () => {
        const rows = await tsharkFields(cap.file, "udp.dstport == 1234", ["ip.src", "ip.ttl"]);
        assert.deepEqual(
          rows,
          [1, 2, 3].map(() => ["10.10.0.3", "2"]),
          "three datagrams from -l's address, TTL 2",
        );
      }, 5000);
    } finally {
      await cap.stop();
      rmSync(dirname(cap.file), { recursive: true, force: true });
    }
  });

  test("a plain-text payload (mcast_test.py's sender) is received and printed", async () => {
    const rx = run(topo.rtr, "-m 239.1.2.8 -r -p 1234 --interface up0 --count 2 --duration 15".split(" "));
    await rx.waitFor((l) => l.event === "joined");
    // A raw UDP socket, as mcast_test.py sends: text, TTL 2.
    const script = `
      const s = require("node:dgram").createSocket("udp4");
      s.bind({ address: "10.10.0.2" }, () => {
        s.setMulticastTTL(2);
        s.send("hello from mcast_test.py 1\\n", 1234, "239.1.2.8", () =>
          s.send(Buffer.concat([Buffer.from("bin"), Buffer.from([0, 1, 255])]), 1234, "239.1.2.8", () => s.close()));
      });`;
    await topo.up.exec(process.execPath, ["-e", script]);
    assert.equal(await rx.exited, 0, rx.stderr.join(""));
    assert.deepEqual(
      recvs(rx).map((l) => [l.from, l.bytes, l.text, l.seq]),
      [
        ["10.10.0.2", 27, "hello from mcast_test.py 1", null],
        ["10.10.0.2", 6, "bin...", null],
      ],
    );
  });
});
