/**
 * Every run-time error has an owner (src/daemon/errors.ts): each kind is injected into the
 * real socket / watcher / scheduler (over fake system calls, no root) and must reach the
 * log with its defined outcome — fatal (the daemon stops, exit 1) or survived — and never
 * escape as an exception.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RealScheduler } from "../../src/clock/index.js";
import { ErrorOwner } from "../../src/daemon/errors.js";
import { MrouteSocket } from "../../src/kernel/mroute-socket.js";
import { ReportSocket } from "../../src/kernel/report-socket.js";
import { LinkWatcher } from "../../src/kernel/rtnetlink.js";
import { FakeSyscalls } from "./fake-syscalls.js";
import { captureLogger } from "./log-capture.js";

const FATAL = 60;
const ERROR = 50;

function owner() {
  const { log, lines } = captureLogger();
  const fatal: Error[] = [];
  const errors = new ErrorOwner(log, (e) => fatal.push(e));
  return { errors, lines, fatal };
}

/**
 * A real receive socket (the mroute socket, or a link's report socket) over fake syscalls
 * whose errors go to the owner's socket handler.
 */
function openSocket(family: "ipv4" | "ipv6", errors: ErrorOwner, kind: "mroute" | "report" = "mroute") {
  const sys = new FakeSyscalls();
  const counted = { n: 0 };
  const onError = errors.socketHandler(family, () => counted.n++);
  const packets: Array<() => void> = [];
  const sock =
    kind === "mroute"
      ? MrouteSocket.open(family, { table: null, syscalls: sys, onError, reading: { now: () => 0 } })
      : ReportSocket.open({
          reading: { now: () => 0 },
          family,
          ifindex: 3,
          joinReportGroups: true,
          syscalls: sys,
          onError,
          onPacket: () => {
            for (const p of packets) p();
          },
        });
  return { sys, sock, counted, onPacket: (cb: () => void) => packets.push(cb) };
}

/** An IGMPv2 report in an IPv4 datagram with Router Alert, as a link's report socket reads it. */
function igmpDatagram(): Uint8Array {
  const ip = Buffer.from([
    0x46, 0, 0, 32, 0, 0, 0, 0, 1, 2, 0, 0, 10, 11, 0, 2, 239, 1, 1, 1, 0x94, 4, 0, 0,
  ]);
  const igmp = Buffer.from([0x16, 0, 0xfa, 0xfd, 239, 1, 1, 1]);
  return Buffer.concat([ip, igmp]);
}

describe("error ownership: the receive sockets (multicast routing, report)", () => {
  for (const family of ["ipv4", "ipv6"] as const) {
    for (const kind of ["mroute", "report"] as const) {
      const name = kind === "mroute" ? `the ${family} multicast routing socket` : `the ${family} report socket of ifindex 3`;
      it(`${family} ${kind}: a poll failure is logged at fatal and stops the daemon`, () => {
        const { errors, lines, fatal } = owner();
        const { sys, sock, counted } = openSocket(family, errors, kind);
        assert.doesNotThrow(() => sys.fire(sock.fd, false));
        assert.equal(fatal.length, 1);
        const line = lines.find((l) => l.level === FATAL);
        assert.equal(line?.msg, "a receive socket failed");
        assert.equal(line?.err, `polling ${name} failed`);
        assert.equal(line?.family, family);
        assert.equal(counted.n, 0);
      });

      it(`${family} ${kind}: a receive error is logged at error and counted; the socket reads on`, () => {
        const { errors, lines, fatal } = owner();
        const { sys, sock, counted } = openSocket(family, errors, kind);
        sys.fail("recvmsg", "ENOMEM", { fd: sock.fd });
        assert.doesNotThrow(() => sys.fire(sock.fd));
        assert.equal(counted.n, 1);
        assert.deepEqual(fatal, []);
        const line = lines.find((l) => l.level === ERROR);
        assert.equal(line?.msg, "receive error");
        assert.match(String(line?.err), new RegExp(`^receiving on ${name}`));
        assert.equal(line?.code, "ENOMEM");
      });
    }
  }

  it("a packet handler that throws is logged and counted; the next packets are still handled", () => {
    const { errors, lines, fatal } = owner();
    const { sys, sock, counted, onPacket } = openSocket("ipv4", errors, "report");
    let handled = 0;
    onPacket(() => {
      handled++;
      if (handled === 1) throw new TypeError("a bug in a handler");
    });
    sys.queue(sock.fd, { data: igmpDatagram(), ifindex: 3 });
    sys.queue(sock.fd, { data: igmpDatagram(), ifindex: 3 });
    assert.doesNotThrow(() => sys.fire(sock.fd));
    assert.equal(handled, 2);
    assert.equal(counted.n, 1);
    assert.deepEqual(fatal, []);
    assert.match(String(lines.find((l) => l.level === ERROR)?.err), /a bug in a handler/);
  });
});

describe("error ownership: the interface watcher (rtnetlink)", () => {
  it("a poll failure is logged at fatal and stops the daemon", () => {
    const { errors, lines, fatal } = owner();
    const sys = new FakeSyscalls();
    const w = LinkWatcher.open({ syscalls: sys, onError: (e) => errors.watcher(e) });
    const fd = sys.openFds()[0]!;
    assert.doesNotThrow(() => sys.fire(fd, false));
    assert.equal(fatal.length, 1);
    assert.equal(lines.find((l) => l.level === FATAL)?.msg, "the interface watcher (rtnetlink) failed");
    w.close();
  });

  it("a receive error is logged at error; the watcher goes on", () => {
    const { errors, lines, fatal } = owner();
    const sys = new FakeSyscalls();
    const w = LinkWatcher.open({ syscalls: sys, onError: (e) => errors.watcher(e) });
    const fd = sys.openFds()[0]!;
    sys.fail("recvmsg", "EBADF", { fd });
    assert.doesNotThrow(() => sys.fire(fd));
    assert.deepEqual(fatal, []);
    const line = lines.find((l) => l.level === ERROR);
    assert.equal(line?.msg, "error while following interface changes");
    assert.equal(line?.code, "EBADF");
    assert.ok(sys.polled(fd), "still polled");
    w.close();
  });
});

describe("error ownership: timers and the last resort", () => {
  it("a throwing timer callback is logged with its stack and counted; later timers still run", async () => {
    const { errors, lines, fatal } = owner();
    const scheduler = new RealScheduler({ onError: (err) => errors.timer(err) });
    let ran = false;
    scheduler.at(scheduler.now() + 1, () => {
      throw new RangeError("timer bug");
    });
    scheduler.at(scheduler.now() + 2, () => {
      ran = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    scheduler.close();
    assert.ok(ran);
    assert.equal(errors.internalErrors, 1);
    const line = lines.find((l) => l.level === ERROR);
    assert.equal(line?.msg, "internal error in a timer callback");
    assert.match(String(line?.stack), /RangeError: timer bug/);
    assert.deepEqual(fatal, []);
  });

  it("an uncaught exception or unhandled rejection is logged at fatal and stops the daemon", () => {
    const { errors, lines, fatal } = owner();
    errors.uncaught(new Error("boom"), "uncaughtException");
    errors.uncaught("a string reason", "unhandledRejection");
    assert.equal(fatal.length, 2);
    assert.equal(fatal[1]?.message, "a string reason");
    assert.deepEqual(
      lines.filter((l) => l.level === FATAL).map((l) => [l.msg, l.origin]),
      [
        ["internal error; stopping", "uncaughtException"],
        ["internal error; stopping", "unhandledRejection"],
      ],
    );
  });
});
