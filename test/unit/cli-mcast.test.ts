import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { main } from "../../src/cli/main.js";
import { chooseInterface, interfaceArgument } from "../../src/cli/mcast/iface.js";
import { parseMcastOptions, UsageError } from "../../src/cli/mcast/options.js";
import { formatEvent } from "../../src/cli/mcast/output.js";
import { decodeProbe, encodeProbe, excerpt, HEADER_SIZE, nowMicros } from "../../src/cli/mcast/payload.js";
import { SequenceTracker } from "../../src/cli/mcast/sequence.js";

describe("payload", () => {
  test("layout: IMPX, u32 seq, u64 µs, u32 sender, zero padding", () => {
    const buf = encodeProbe({ seq: 0x01020304, sentMicros: 0x1122334455667788n, senderId: 0xdeadbeef }, 24);
    assert.equal(buf.length, 24);
    assert.equal(buf.toString("hex"), "494d50580102030411223344556677 88deadbeef00000000".replace(/ /g, ""));
    assert.deepEqual(decodeProbe(buf), {
      seq: 0x01020304,
      sentMicros: 0x1122334455667788n,
      senderId: 0xdeadbeef,
    });
  });

  test("round trip and size floor", () => {
    const p = { seq: 7, sentMicros: nowMicros(), senderId: 42 };
    const buf = encodeProbe(p, 3);
    assert.equal(buf.length, HEADER_SIZE);
    assert.deepEqual(decodeProbe(buf), p);
  });

  test("foreign or short datagrams decode to null", () => {
    assert.equal(decodeProbe(Buffer.from("hello world, this is not a probe")), null);
    assert.equal(decodeProbe(encodeProbe({ seq: 1, sentMicros: 1n, senderId: 1 }).subarray(0, 19)), null);
  });

  test("a foreign payload's excerpt: printable ASCII, line end dropped, long ones cut", () => {
    assert.equal(excerpt(Buffer.from("hello from mcast_test.py\n")), "hello from mcast_test.py");
    assert.equal(excerpt(Buffer.from([0x41, 0x00, 0xff, 0x42, 0x0a, 0x43])), "A..B.C");
    assert.equal(excerpt(Buffer.from("x".repeat(50))), `${"x".repeat(40)}...`);
    assert.equal(excerpt(Buffer.alloc(0)), "");
  });

  test("nowMicros is wall-clock microseconds", () => {
    const diff = Number(nowMicros()) / 1000 - Date.now();
    assert.ok(Math.abs(diff) < 50, `within 50 ms of Date.now(), got ${diff}`);
  });
});

describe("sequence gaps", () => {
  test("counts skipped numbers per sender; late arrivals repay gaps", () => {
    const t = new SequenceTracker();
    assert.deepEqual(t.record("a", 5), { gaps: 0, late: false }, "first seen is not a gap");
    assert.deepEqual(t.record("a", 6), { gaps: 0, late: false });
    assert.deepEqual(t.record("a", 9), { gaps: 2, late: false });
    assert.deepEqual(t.record("b", 1), { gaps: 0, late: false }, "senders are independent");
    assert.deepEqual(t.record("a", 8), { gaps: 1, late: true });
    assert.deepEqual(t.totals(), { senders: 2, received: 5, gaps: 1 });
  });
});

describe("options", () => {
  test("receiver: family from the group, source-specific join", () => {
    const o = parseMcastOptions({ group: "232.1.1.1", receive: true, source: "10.0.0.1", interface: "eth0" });
    assert.deepEqual(o, {
      mode: "receive",
      group: "232.1.1.1",
      family: 4,
      port: 1234,
      interface: "eth0",
      local: undefined,
      count: 0,
      duration: 0,
      json: false,
      source: "10.0.0.1",
    });
    const v6 = parseMcastOptions({
      group: "ff3e::1",
      receive: true,
      source: "fd00::1",
      count: "3",
      duration: "1.5",
    });
    assert.equal(v6.family, 6);
    assert.equal(v6.count, 3);
    assert.equal(v6.duration, 1.5);
  });

  test("sender defaults and limits", () => {
    const o = parseMcastOptions({ group: "ff05::1", send: true, local: "fd00::3", ttl: "4", size: "100" });
    assert.equal(o.mode, "send");
    if (o.mode !== "send") return;
    assert.equal(o.ttl, 4);
    assert.equal(o.interval, 100);
    assert.equal(o.size, 100);
    assert.equal(o.local, "fd00::3");
    assert.equal(o.senderId, undefined);
  });

  test("mcast_test.py's defaults: port 1234, TTL 2", () => {
    const s = parseMcastOptions({ group: "239.1.1.1", send: true });
    assert.deepEqual([s.port, s.mode === "send" ? s.ttl : undefined, s.local], [1234, 2, undefined]);
    assert.equal(parseMcastOptions({ group: "ff05::1", receive: true }).port, 1234);
  });

  test("--bind is the old name of -l", () => {
    assert.equal(parseMcastOptions({ group: "239.1.1.1", send: true, bind: "10.0.0.1" }).local, "10.0.0.1");
    assert.equal(
      parseMcastOptions({ group: "239.1.1.1", receive: true, bind: "10.0.0.1" }).local,
      "10.0.0.1",
    );
    assert.equal(
      parseMcastOptions({ group: "239.1.1.1", send: true, bind: "10.0.0.1", local: "10.0.0.1" }).local,
      "10.0.0.1",
    );
  });

  test("rejections name the problem", () => {
    const bad: [Parameters<typeof parseMcastOptions>[0], string][] = [
      [{ receive: true }, "-m GROUP is required"],
      [{ group: "10.0.0.1", receive: true }, '"10.0.0.1" is not a multicast group'],
      [{ group: "239.1.1.1" }, "give exactly one of -r (receive) or -s (send)"],
      [{ group: "239.1.1.1", receive: true, send: true }, "give exactly one of -r (receive) or -s (send)"],
      [{ group: "nope", send: true }, '"nope" is not an IP address'],
      [{ group: "239.1.1.1", receive: true, source: "fd00::1" }, '--source "fd00::1" is not an IPv4 address'],
      [
        { group: "239.1.1.1", receive: true, source: "239.0.0.1" },
        '--source "239.0.0.1" must be a unicast address',
      ],
      [{ group: "239.1.1.1", receive: true, ttl: "3" }, "-t is for senders (-s) only"],
      [
        { group: "239.1.1.1", send: true, source: "10.0.0.1" },
        "--source is for receivers (-r); senders use -l",
      ],
      [{ group: "239.1.1.1", send: true, ttl: "0" }, '-t must be an integer from 1 to 255, got "0"'],
      [
        { group: "239.1.1.1", send: true, size: "19" },
        '--size must be an integer from 20 to 65507, got "19"',
      ],
      [
        { group: "239.1.1.1", send: true, port: "70000" },
        '-p must be an integer from 1 to 65535, got "70000"',
      ],
      [{ group: "239.1.1.1", send: true, local: "fd00::1" }, '-l "fd00::1" is not an IPv4 address'],
      [{ group: "239.1.1.1", receive: true, bind: "fd00::1" }, '-l "fd00::1" is not an IPv4 address'],
      [{ group: "239.1.1.1", send: true, local: "239.0.0.1" }, '-l "239.0.0.1" must be a unicast address'],
      [
        { group: "239.1.1.1", send: true, local: "10.0.0.1", bind: "10.0.0.2" },
        "-l and --bind name the same address (--bind is its old name): give one",
      ],
      [{ group: "239.1.1.1", send: true, duration: "-1" }, '--duration must be a number >= 0, got "-1"'],
    ];
    for (const [raw, msg] of bad) {
      assert.throws(
        () => parseMcastOptions(raw),
        (e: unknown) => e instanceof UsageError && e.message === msg,
        msg,
      );
    }
  });
});

describe("interface argument", () => {
  const table = {
    eth0: [
      { address: "fe80::1", family: "IPv6", netmask: "", mac: "", internal: false, cidr: null, scopeid: 2 },
      { address: "10.1.0.2", family: "IPv4", netmask: "", mac: "", internal: false, cidr: null },
    ],
    v6only: [
      { address: "fe80::2", family: "IPv6", netmask: "", mac: "", internal: false, cidr: null, scopeid: 3 },
    ],
  } as Parameters<typeof interfaceArgument>[0];

  test("IPv4 uses the interface's address, IPv6 its scope", () => {
    assert.deepEqual(interfaceArgument(table, "eth0", 4), { ok: true, value: "10.1.0.2" });
    assert.deepEqual(interfaceArgument(table, "eth0", 6), { ok: true, value: "::%eth0" });
    assert.deepEqual(interfaceArgument(table, "v6only", 4), {
      ok: false,
      reason: 'interface "v6only" has no IPv4 address',
    });
    assert.deepEqual(interfaceArgument(table, "nope", 6), { ok: false, reason: 'no interface named "nope"' });
  });

  test("-l names the interface that has the address; with --interface it must be that one's", () => {
    const choose = (family: 4 | 6, iface: string | undefined, local: string | undefined) =>
      chooseInterface(table, { family, interface: iface, local });
    assert.deepEqual(choose(4, undefined, "10.1.0.2"), {
      ok: true,
      value: { name: "eth0", arg: "10.1.0.2" },
    });
    assert.deepEqual(choose(6, undefined, "fe80:0::2"), {
      ok: true,
      value: { name: "v6only", arg: "::%v6only" },
    });
    assert.deepEqual(choose(4, "eth0", "10.1.0.2"), { ok: true, value: { name: "eth0", arg: "10.1.0.2" } });
    assert.deepEqual(choose(4, "eth0", undefined), { ok: true, value: { name: "eth0", arg: "10.1.0.2" } });
    assert.deepEqual(choose(4, undefined, undefined), { ok: true, value: undefined });
    assert.deepEqual(choose(6, "eth0", "fe80::2"), {
      ok: false,
      reason: "-l fe80::2 is an address of v6only, not of eth0",
    });
    assert.deepEqual(choose(4, undefined, "10.9.9.9"), {
      ok: false,
      reason: "no local interface has the address 10.9.9.9",
    });
  });
});

describe("output lines", () => {
  test("text and JSON", () => {
    const e = {
      event: "recv" as const,
      from: "10.0.0.2",
      port: 4000,
      bytes: 20,
      text: null,
      seq: 3,
      senderId: 9,
      delayMs: 0.25,
      gaps: 1,
      late: false,
    };
    assert.equal(formatEvent(e, false), "from 10.0.0.2 seq 3 delay 0.250 ms gaps 1 (20 bytes, sender 9)");
    assert.deepEqual(JSON.parse(formatEvent(e, true)), e);
    assert.equal(
      formatEvent(
        { event: "joined", group: "232.1.1.1", source: "10.0.0.2", interface: "eth0", port: 5001 },
        false,
      ),
      "joined (10.0.0.2, 232.1.1.1) port 5001 on eth0",
    );
    const foreign = { ...e, bytes: 6, text: "hello", seq: null, senderId: null, delayMs: null, gaps: null };
    assert.equal(formatEvent(foreign, false), '6 bytes from 10.0.0.2 port 4000: "hello"');
    assert.equal(
      formatEvent(
        {
          event: "sending",
          group: "239.1.1.1",
          port: 1234,
          interface: "eth0",
          local: "10.0.0.1",
          ttl: 2,
          senderId: 5,
        },
        false,
      ),
      "sending to 239.1.1.1 port 1234 on eth0 from 10.0.0.1 TTL 2 as sender 5",
    );
  });
});

/** `improxy mcast ...` through the real command line, on the loopback interface only. */
async function mcastCli(
  ...argv: string[]
): Promise<{ code: number; lines: Record<string, unknown>[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["mcast", "--json", ...argv], {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    stderrIsTty: false,
  });
  return { code, lines: out.map((l) => JSON.parse(l) as Record<string, unknown>), err };
}

describe("command line: mcast_test.py's flags", () => {
  test("-p PORT is mcast's port, not the program's pid file; default 1234", async () => {
    const r = await mcastCli("-m", "239.1.2.3", "-r", "-p", "4321", "-l", "127.0.0.1", "--duration", "0.1");
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual(r.lines[0], {
      event: "joined",
      group: "239.1.2.3",
      source: null,
      interface: "lo",
      port: 4321,
    });
    const d = await mcastCli("-m", "239.1.2.3", "-r", "-l", "127.0.0.1", "--duration", "0.1");
    assert.equal(d.lines[0]?.port, 1234);
  });

  test("sender: -t TTL (default 2), -p PORT, -l ADDR to send from", async () => {
    const d = await mcastCli("-m", "239.1.2.3", "-s", "-l", "127.0.0.1", "--count", "1");
    assert.equal(d.code, 0, d.err.join("\n"));
    const sending = d.lines.find((l) => l.event === "sending");
    assert.deepEqual(
      [sending?.port, sending?.ttl, sending?.local, sending?.interface],
      [1234, 2, "127.0.0.1", "lo"],
    );
    const t = await mcastCli(
      "-m",
      "239.1.2.3",
      "-s",
      "-t",
      "5",
      "-p",
      "4322",
      "-l",
      "127.0.0.1",
      "--count",
      "1",
    );
    const s2 = t.lines.find((l) => l.event === "sending");
    assert.deepEqual([s2?.port, s2?.ttl], [4322, 5]);
    assert.deepEqual(
      t.lines.filter((l) => l.event === "sent").map((l) => l.port),
      [4322],
    );
  });

  test("long forms --port, --ttl, --local and the old --bind still work", async () => {
    const r = await mcastCli(
      "-m",
      "239.1.2.3",
      "-s",
      "--ttl",
      "3",
      "--port",
      "4323",
      "--bind",
      "127.0.0.1",
      "--count",
      "1",
    );
    assert.equal(r.code, 0, r.err.join("\n"));
    const s = r.lines.find((l) => l.event === "sending");
    assert.deepEqual([s?.port, s?.ttl, s?.local], [4323, 3, "127.0.0.1"]);
  });

  test("-l with an address no interface has: one line, exit 1", async () => {
    const r = await mcastCli("-m", "239.1.2.3", "-r", "-l", "10.255.255.254", "--duration", "0.1");
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, ["improxy mcast: no local interface has the address 10.255.255.254"]);
  });
});
