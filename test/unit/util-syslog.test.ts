/**
 * The syslog log destination (src/util/syslog.ts, syslog-format.ts, src/kernel/syslog-socket.ts)
 * against a Unix datagram socket this test binds in a temporary directory with the addon:
 * the datagrams as a syslog daemon reads them, and what happens when there is none.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { hostname, } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { netio } from "../../src/kernel/addon.js";
import { sockaddrUn } from "../../src/kernel/structs/sockaddr.js";
import { SyslogSocket } from "../../src/kernel/syslog-socket.js";
import { createLogger } from "../../src/util/log.js";
import {
  EXIT_WAIT_MS,
  NOTE_INTERVAL_MS,
  processIo,
  type SyslogIo,
  type SyslogSettings,
  SyslogDestination,
} from "../../src/util/syslog.js";
import {
  fieldValue,
  messageText,
  rfc3164Timestamp,
  syslogDatagram,
  syslogHeader,
  TRUNCATED,
} from "../../src/util/syslog-format.js";
import { tempDir } from "../support/temp.js";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const dir = tempDir("improxy-syslog-");
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A syslog daemon's socket: bound at a fresh path; `read()` takes every datagram queued. */
function receiver(path = join(dir, `log${n++}`)) {
  const fd = netio.socket(AF_UNIX, SOCK_DGRAM, 0);
  netio.bind(fd, sockaddrUn(path));
  const buf = Buffer.alloc(65536);
  return {
    path,
    read(): string[] {
      const out: string[] = [];
      for (let r = netio.recvmsg(fd, buf); r !== null; r = netio.recvmsg(fd, buf)) {
        out.push(buf.subarray(0, r.bytes).toString("utf8"));
      }
      return out;
    },
    /** The daemon stops and leaves its socket file behind. */
    closeKeepFile() {
      netio.close(fd);
    },
    close() {
      try {
        netio.close(fd);
      } catch {
        // already closed by closeKeepFile
      }
      rmSync(path, { force: true });
    },
  };
}

/** A process stand-in: a clock moved by hand, stderr kept, timers and the exit hook run by hand. */
function fakeIo() {
  let t = 1_700_000_000_000;
  const err: string[] = [];
  let timers: Array<() => void> = [];
  let exitHook: (() => void) | undefined;
  const io: SyslogIo = {
    now: () => t,
    stderr: (s) => err.push(s),
    isSocket: processIo.isSocket,
    later: (fn) => timers.push(fn),
    atExit(fn) {
      exitHook = fn;
      return () => {
        exitHook = undefined;
      };
    },
    sleep(ms) {
      t += ms;
    },
    pid: 4242,
  };
  return {
    io,
    err,
    advance(ms: number) {
      t += ms;
    },
    runTimers() {
      const due = timers;
      timers = [];
      for (const fn of due) fn();
    },
    exit() {
      exitHook?.();
    },
  };
}

function settings(path: string, over: Partial<SyslogSettings> = {}): SyslogSettings {
  return { path, format: "rfc3164", facility: "daemon", tag: "improxy", ...over };
}

/** A logger on the destination with the fake process. */
function fakeLogger(path: string, fake = fakeIo(), over: Partial<SyslogSettings> = {}) {
  const socket = new SyslogSocket(path);
  const dest = new SyslogDestination({ ...settings(path, over), sender: socket, hostname: "r1" }, fake.io);
  return { log: pino({ level: "trace" }, dest), socket, fake };
}

const RFC3164 = /^<(\d+)>([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) (\w+)\[(\d+)\]: (.*)$/s;
/** The MSG part of each RFC 3164 datagram a receiver got since the last read. */
const messages = (r: { read(): string[] }): string[] => r.read().map((l) => l.replace(RFC3164, "$5"));

describe("syslog message format", () => {
  it("RFC 3164 header: <PRI>Mmm dd hh:mm:ss TAG[PID]: , day padded with a space, local time", () => {
    const time = new Date(2026, 0, 5, 7, 8, 9);
    assert.equal(rfc3164Timestamp(time), "Jan  5 07:08:09");
    assert.equal(rfc3164Timestamp(new Date(2026, 10, 29, 21, 46, 34)), "Nov 29 21:46:34");
    const h = {
      format: "rfc3164",
      facility: "daemon",
      severity: 4,
      time,
      tag: "improxy",
      pid: 42,
      hostname: "r1",
    } as const;
    assert.equal(syslogHeader(h), "<28>Jan  5 07:08:09 improxy[42]: ");
    assert.equal(
      syslogHeader({ ...h, facility: "local7", severity: 3 }),
      "<187>Jan  5 07:08:09 improxy[42]: ",
    );
    assert.equal(
      syslogHeader({ ...h, facility: "user", severity: 6, tag: "igmpproxy" }),
      "<14>Jan  5 07:08:09 igmpproxy[42]: ",
    );
  });

  it("RFC 5424 header: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - ", () => {
    const time = new Date(Date.UTC(2026, 10, 29, 21, 46, 34, 576));
    const h = {
      format: "rfc5424",
      facility: "daemon",
      severity: 2,
      time,
      tag: "improxy",
      pid: 7,
      hostname: "r 1",
    } as const;
    assert.equal(syslogHeader(h), "<26>1 2026-11-29T21:46:34.576Z r1 improxy 7 - - ");
    assert.equal(
      syslogHeader({ ...h, hostname: "" }),
      "<26>1 2026-11-29T21:46:34.576Z - improxy 7 - - ",
      "NILVALUE",
    );
  });

  it("MSG: the message, then the fields as key=value; words bare, the rest quoted or JSON, one line", () => {
    assert.equal(
      messageText({
        level: 40,
        time: 1,
        name: "improxy",
        msg: "interface does not exist; waiting for it",
        family: "ipv4",
        interface: "dn9",
        why: "does not exist",
      }),
      'interface does not exist; waiting for it family=ipv4 interface=dn9 why="does not exist"',
    );
    assert.equal(
      messageText({ msg: "two\nlines", n: 3, ok: true, none: null }),
      "two\\nlines n=3 ok=true none=null",
    );
    assert.equal(fieldValue(["a", 1]), '["a",1]');
    assert.equal(fieldValue({ x: 1 }), '{"x":1}');
    assert.equal(fieldValue('say "hi"'), '"say \\"hi\\""');
    assert.equal(fieldValue("a=b"), '"a=b"');
    assert.equal(fieldValue(""), '""');
    assert.equal(
      fieldValue({ type: "Error", message: "boom", stack: "Error: boom\n    at x" }),
      '"boom"',
      "an error by its message",
    );
    assert.equal(messageText({ level: 30, a: 1 }), "a=1", "no message: the fields");
  });

  it("a datagram is cut to the limit at a character boundary and says so", () => {
    const header = "<30>Jan  1 00:00:00 improxy[1]: ";
    assert.equal(syslogDatagram(header, "short", 1024).toString(), `${header}short`);
    const long = syslogDatagram(header, "é".repeat(2000), 1024);
    assert.ok(long.length <= 1024 && long.length >= 1022, `${long.length} bytes`);
    const text = long.toString("utf8");
    assert.ok(text.endsWith(`é${TRUNCATED}`), "whole characters, then the marker");
    assert.ok(!text.includes("\ufffd"), "no half character");
  });
});

describe("syslog destination on a Unix datagram socket", () => {
  it("a warning reaches the socket as RFC 3164: <28> (daemon.warning), timestamp, improxy[pid], message and fields", () => {
    const r = receiver();
    const socket = new SyslogSocket(r.path);
    try {
      const log = createLogger({
        debugLevel: 3,
        format: "json",
        syslog: { ...settings(r.path), sender: socket, hostname: hostname() },
      });
      log.warn({ interface: "dn9", why: "does not exist" }, "interface does not exist; waiting for it");
      log.info("improxy starting");
      log.debug("not at -d 3");
      log.fatal("cannot start");
      const got = r.read();
      assert.equal(got.length, 3, got.join("\n"));
      const m = RFC3164.exec(got[0]!);
      assert.ok(m, got[0]);
      assert.equal(m[1], "28");
      const [mon, day] = m[2]!.split(/ +/);
      const now = new Date();
      assert.equal(mon, rfc3164Timestamp(now).slice(0, 3));
      assert.ok(Math.abs(Number(day) - now.getDate()) <= 1);
      assert.equal(m[3], "improxy");
      assert.equal(Number(m[4]), process.pid);
      assert.equal(m[5], 'interface does not exist; waiting for it interface=dn9 why="does not exist"');
      assert.match(got[1]!, /^<30>.* improxy\[\d+\]: improxy starting$/);
      assert.match(got[2]!, /^<26>.* improxy\[\d+\]: cannot start$/, "fatal is crit (2)");
    } finally {
      socket.close();
      r.close();
    }
  });

  it("RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG, the chosen facility", () => {
    const r = receiver();
    const socket = new SyslogSocket(r.path);
    try {
      const log = createLogger({
        debugLevel: 3,
        format: "json",
        syslog: {
          ...settings(r.path, { format: "rfc5424", facility: "local3" }),
          sender: socket,
          hostname: "router-1",
        },
      });
      const before = Date.now();
      log.error({ err: new Error("EPERM") }, "cannot add VIF");
      const [line] = r.read();
      const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\d+) - - (.*)$/.exec(line ?? "");
      assert.ok(m, line);
      assert.equal(m[1], String(19 * 8 + 3));
      assert.ok(Math.abs(Date.parse(m[2]!) - before) < 5000, m[2]);
      assert.match(m[2]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(m[3], "router-1");
      assert.equal(m[4], "improxy");
      assert.equal(Number(m[5]), process.pid);
      assert.equal(m[6], 'cannot add VIF err="EPERM"');
    } finally {
      socket.close();
      r.close();
    }
  });

  it("a long line is one datagram of at most 1024 bytes (rfc3164) / 2048 (rfc5424)", () => {
    const r = receiver();
    const a = fakeLogger(r.path);
    const b = fakeLogger(r.path, fakeIo(), { format: "rfc5424" });
    try {
      a.log.info({ state: "x".repeat(5000) }, "state tables");
      b.log.info({ state: "x".repeat(5000) }, "state tables");
      const [three, five] = r.read();
      assert.equal(Buffer.byteLength(three!), 1024);
      assert.equal(Buffer.byteLength(five!), 2048);
      assert.ok(three!.endsWith(TRUNCATED) && five!.endsWith(TRUNCATED));
      assert.deepEqual(a.fake.err, [], "nothing on stderr");
    } finally {
      a.socket.close();
      b.socket.close();
      r.close();
    }
  });

  it("no socket at start: one note on stderr, the lines on stderr; a socket that appears later gets the lines then", () => {
    const path = join(dir, `late${n++}`);
    const { log, socket, fake } = fakeLogger(path);
    try {
      assert.deepEqual(fake.err, [
        `improxy: syslog socket ${path} does not exist (no syslog daemon yet?): log lines go to stderr until it does\n`,
      ]);
      log.warn("first");
      log.warn("second");
      assert.equal(fake.err.length, 3, "no second note");
      assert.match(fake.err[1]!, /^<28>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d improxy\[4242\]: first\n$/);
      assert.match(fake.err[2]!, /improxy\[4242\]: second\n$/);
      const r = receiver(path);
      try {
        log.warn("third");
        assert.deepEqual(messages(r), ["third"]);
        assert.equal(fake.err.length, 3, "nothing more on stderr within the minute");
        fake.advance(NOTE_INTERVAL_MS);
        log.warn("fourth");
        assert.deepEqual(messages(r), ["fourth"]);
        assert.equal(
          fake.err[3],
          `improxy: the syslog socket ${path} takes log lines again; 2 went to stderr meanwhile\n`,
        );
      } finally {
        r.close();
      }
    } finally {
      socket.close();
    }
  });

  it("the syslog daemon stops (ECONNREFUSED) and comes back: stderr meanwhile, notes at most once a minute", () => {
    const path = join(dir, `restart${n++}`);
    const first = receiver(path);
    const { log, socket, fake } = fakeLogger(path);
    let second: ReturnType<typeof receiver> | undefined;
    try {
      log.warn("one");
      assert.equal(first.read().length, 1);
      first.closeKeepFile(); // stopped: its socket file is left behind
      log.warn("two");
      log.warn("three");
      const why = "ECONNREFUSED, the syslog daemon stopped?";
      assert.equal(fake.err.length, 3, fake.err.join(""));
      assert.equal(
        fake.err[0],
        `improxy: cannot send to the syslog socket ${path} (${why}): log lines go to stderr until it can be reached\n`,
      );
      assert.match(fake.err[1]!, /improxy\[4242\]: two\n$/);
      assert.match(fake.err[2]!, /improxy\[4242\]: three\n$/);
      fake.advance(NOTE_INTERVAL_MS);
      log.warn("four");
      assert.equal(
        fake.err[3],
        `improxy: still cannot send to the syslog socket ${path} (${why}): 2 log lines went to stderr since the last note\n`,
      );
      assert.match(fake.err[4]!, /: four\n$/);
      rmSync(path);
      second = receiver(path); // restarted: a new socket at the same path, no reconnect needed
      log.warn("five");
      assert.deepEqual(messages(second), ["five"]);
      assert.equal(fake.err.length, 5, "no note within the minute");
      fake.advance(NOTE_INTERVAL_MS);
      log.warn("six");
      assert.deepEqual(messages(second), ["six"]);
      assert.deepEqual(fake.err.slice(5), [
        `improxy: the syslog socket ${path} takes log lines again; 1 went to stderr meanwhile\n`,
      ]);
    } finally {
      socket.close();
      second?.close();
      rmSync(path, { force: true });
    }
  });

  it("a full receive queue (EAGAIN): the lines wait in order and go when the syslog daemon reads", () => {
    const r = receiver();
    const { log, socket, fake } = fakeLogger(r.path);
    try {
      for (let i = 0; i < 40; i++) log.info(`line ${i}`);
      const got: string[] = r.read();
      assert.ok(got.length < 40, `the queue took ${got.length} at once`);
      for (let round = 0; round < 20 && got.length < 40; round++) {
        fake.runTimers();
        got.push(...r.read());
      }
      assert.deepEqual(
        got.map((l) => l.replace(RFC3164, "$5")),
        Array.from({ length: 40 }, (_, i) => `line ${i}`),
      );
      assert.deepEqual(fake.err, [], "nothing went to stderr");
    } finally {
      socket.close();
      r.close();
    }
  });

  it("at exit, lines still waiting for room get EXIT_WAIT_MS, then go to stderr with a note", () => {
    const r = receiver();
    const { log, socket, fake } = fakeLogger(r.path);
    try {
      for (let i = 0; i < 40; i++) log.info(`line ${i}`);
      fake.exit(); // nobody reads: the fake sleep moves the clock to the deadline
      const sent = messages(r);
      const note = fake.err[0] ?? "";
      assert.match(
        note,
        /^improxy: cannot send to the syslog socket .* \(EAGAIN, the syslog daemon does not keep up\)/,
      );
      const onStderr = fake.err.slice(1).map((l) => l.replace(RFC3164, "$5").trimEnd());
      assert.deepEqual(
        [...sent, ...onStderr],
        Array.from({ length: 40 }, (_, i) => `line ${i}`),
        "every line, once, in order",
      );
      assert.ok(EXIT_WAIT_MS > 0);
    } finally {
      socket.close();
      r.close();
    }
  });

  it("whatever the sender throws (EMSGSIZE, a bug), the code that logs never sees it: the line goes to stderr", () => {
    for (const thrown of [
      Object.assign(new Error("sendmsg: Message too long"), { code: "EMSGSIZE" }),
      new TypeError("bad"),
    ]) {
      const fake = fakeIo();
      const sender = {
        send() {
          throw thrown;
        },
      };
      const log = pino(
        {},
        new SyslogDestination({ ...settings("/nonexistent/log"), sender, hostname: "r1" }, fake.io),
      );
      assert.doesNotThrow(() => log.error("still logged"));
      assert.match(fake.err.at(-1)!, /^<27>.* improxy\[4242\]: still logged\n$/);
    }
  });

  it("SyslogSocket refuses a path that does not fit sun_path", () => {
    assert.throws(() => new SyslogSocket(`/${"x".repeat(107)}`), RangeError);
  });
});
