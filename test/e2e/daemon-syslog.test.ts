/**
 * Issue 12 item 7: logs to syslog for systems without journald. The daemon runs in a lab
 * namespace with `--log-target syslog --syslog-path P`, P a Unix datagram socket this test
 * binds (with the addon) in a temporary directory, as a syslog daemon binds /dev/log; the
 * datagrams are checked as the syslog daemon would read them. Under igmpproxy's name it
 * logs to syslog as igmpproxy does (facility user, tag igmpproxy) unless -d.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { chmodSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { netio } from "../../src/kernel/addon.js";
import { sockaddrUn } from "../../src/kernel/structs/sockaddr.js";
import type { Netns } from "../../src/lab/netns.js";
import { buildTopology } from "../../src/lab/topology.js";
import { CLI, privateRunDir, testControlSocket } from "../support/daemon.js";
import { useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

const dir = tempDir("improxy-syslog-e2e-");
chmodSync(dir, 0o755);
const tempDirs: string[] = [dir];
after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A control socket of this test alone (its directory removed at the end). */
function controlSocket(): string {
  const socket = testControlSocket();
  tempDirs.push(dirname(socket));
  return socket;
}

/** A syslog daemon's socket at `path`: every datagram received, as text. */
function syslogd(path: string) {
  const fd = netio.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */, 0);
  netio.bind(fd, sockaddrUn(path));
  chmodSync(path, 0o666);
  const lines: string[] = [];
  const buf = Buffer.alloc(65536);
  netio.pollStart(fd, () => {
    for (let r = netio.recvmsg(fd, buf); r !== null; r = netio.recvmsg(fd, buf)) {
      lines.push(buf.subarray(0, r.bytes).toString("utf8"));
    }
  });
  return {
    lines,
    async waitFor(re: RegExp, what: string, timeoutMs = 10_000): Promise<string> {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const l = lines.find((x) => re.test(x));
        if (l !== undefined) return l;
        if (Date.now() > end)
          throw new Error(`no syslog datagram ${what} (${re}); got:\n${lines.join("\n")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close() {
      netio.close(fd);
      rmSync(path, { force: true });
    },
  };
}

/** The daemon, its stderr kept; stopped with SIGTERM. */
function daemon(ns: Netns, argv: string[], prefix: string[] = []) {
  const proc: ChildProcess = prefix.length
    ? ns.spawn(prefix[0]!, [...prefix.slice(1), "node", ...argv])
    : ns.spawn("node", argv);
  let stderr = "";
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  proc.stdout!.resume();
  const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
  return {
    proc,
    stderr: () => stderr,
    async waitStderr(re: RegExp, what: string, timeoutMs = 10_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!re.test(stderr)) {
        if (Date.now() > end) throw new Error(`nothing on stderr ${what} (${re}); stderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(): Promise<number | null> {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` (RFC 3164 as syslog(3) sends it to /dev/log). */
const rfc3164 = (pri: number, tag: string, pid: number, msg: string) =>
  new RegExp(`^<${pri}>[A-Z][a-z]{2} [ 1-3]\\d \\d\\d:\\d\\d:\\d\\d ${tag}\\[${pid}\\]: ${msg}`);

describe("logging to syslog (a Unix datagram socket bound by the test)", { timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);

  it("improxy --log-target syslog: RFC 3164 datagrams, daemon.warning <28> for a missing interface, info <30>, SIGUSR1 tables; nothing on stderr", async () => {
    const path = join(dir, "log-a");
    const log = syslogd(path);
    const conf = join(dir, "a.yaml");
    writeFileSync(conf, `control-socket: ${controlSocket()}\nupstream: up0\ndownstream: [dn1, dn9]\n`);
    const d = daemon(topo.rtr, [CLI, "-c", conf, "-d", "3", "--log-target", "syslog", "--syslog-path", path]);
    try {
      const pid = d.proc.pid!;
      await log.waitFor(rfc3164(30, "improxy", pid, "improxy starting"), "improxy starting");
      const warn = await log.waitFor(
        rfc3164(28, "improxy", pid, "interface does not exist"),
        "the dn9 warning",
      );
      assert.match(warn, / interface=dn9 /);
      assert.match(warn, / why="does not exist"/);
      await log.waitFor(rfc3164(30, "improxy", pid, "interface attached .*interface=dn1"), "dn1 attached");
      d.proc.kill("SIGUSR1");
      await log.waitFor(rfc3164(30, "improxy", pid, ".*\\bup0\\b"), "a table line naming up0");
      assert.equal(await d.stop(), 0);
      assert.equal(d.stderr(), "", "every line went to syslog");
      assert.ok(log.lines.every((l) => l.split("\n").length === 1 && Buffer.byteLength(l) <= 1024));
    } finally {
      await d.stop();
      log.close();
    }
  });

  it("rfc5424, facility local3, no socket at start: one note and the lines on stderr; the socket bound later gets the lines", async () => {
    const path = join(dir, "log-b");
    const conf = join(dir, "b.yaml");
    writeFileSync(conf, `control-socket: ${controlSocket()}\nupstream: up0\ndownstream: [dn1]\n`);
    const d = daemon(topo.rtr, [
      CLI,
      ...["-c", conf, "-d", "3", "--log-target", "syslog", "--syslog-path", path],
      ...["--syslog-format", "rfc5424", "--syslog-facility", "local3"],
    ]);
    let log: ReturnType<typeof syslogd> | undefined;
    try {
      const pid = d.proc.pid!;
      await d.waitStderr(/improxy starting/, "the first line");
      const note = `improxy: syslog socket ${path} does not exist (no syslog daemon yet?): log lines go to stderr until it does`;
      assert.equal(d.stderr().split("\n")[0], note);
      // local3 (19) * 8 + info (6) = 158, RFC 5424 header with version 1.
      assert.match(
        d.stderr(),
        new RegExp(
          `^<158>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\S+ improxy ${pid} - - improxy starting`,
          "m",
        ),
      );
      log = syslogd(path);
      d.proc.kill("SIGHUP");
      const line = await log.waitFor(/reloading the configuration/, "the reload line");
      assert.match(
        line,
        new RegExp(`^<158>1 \\S+Z \\S+ improxy ${pid} - - reloading the configuration signal=SIGHUP$`),
      );
      await log.waitFor(/configuration reloaded/, "the reload result");
      assert.equal(await d.stop(), 0);
      assert.equal(
        d
          .stderr()
          .split("\n")
          .filter((l) => l.startsWith("improxy: ")).length,
        1,
        "one note",
      );
      assert.doesNotMatch(
        d.stderr(),
        /reloading the configuration/,
        "lines after the socket appeared are not on stderr",
      );
    } finally {
      await d.stop();
      log?.close();
    }
  });

  it("as igmpproxy (no -d): to syslog as igmpproxy logs, facility user, tag igmpproxy; -d keeps stderr", async () => {
    const path = join(dir, "log-c");
    const log = syslogd(path);
    const bin = tempDir("improxy-bin-");
    const igmpproxy = join(bin, "igmpproxy");
    symlinkSync(CLI, igmpproxy);
    const conf = join(dir, "igmpproxy.conf");
    writeFileSync(
      conf,
      "quickleave\nphyint up0 upstream ratelimit 0 threshold 1\nphyint dn1 downstream ratelimit 0 threshold 1\n",
      {
        mode: 0o644,
      },
    );
    tempDirs.push(bin);
    const run = privateRunDir();
    tempDirs.push(dirname(run.socket));
    const d = daemon(topo.rtr, [igmpproxy, "-v", "--syslog-path", path, conf], run.prefix);
    let debug: ReturnType<typeof daemon> | undefined;
    try {
      const pid = d.proc.pid!;
      // user (1) * 8 + info (6) = 14
      await log.waitFor(rfc3164(14, "igmpproxy", pid, "improxy starting"), "igmpproxy's start line");
      await log.waitFor(rfc3164(14, "igmpproxy", pid, "interface attached .*interface=dn1"), "dn1 attached");
      assert.equal(await d.stop(), 0);
      assert.equal(d.stderr(), "");
      // -d: "Output all messages on stderr" (igmpproxy's usage); not to syslog.
      const before = log.lines.length;
      debug = daemon(topo.rtr, [igmpproxy, "-d", conf], run.prefix);
      await debug.waitStderr(/"interface":"dn1".*"msg":"interface attached"/, "dn1 attached, as a JSON line");
      assert.equal(await debug.stop(), 0);
      assert.doesNotMatch(debug.stderr(), /syslog socket/, "no syslog note");
      assert.equal(log.lines.length, before, "nothing more to the syslog socket");
    } finally {
      await d.stop();
      await debug?.stop();
      log.close();
    }
  });
});
