/**
 * Issue 12 item 6: the system call filter of contrib/improxy.service, tested against what
 * the daemon really calls. systemd is not PID 1 here, so the unit cannot be started; instead
 * the daemon runs under strace(1) in a lab (start, attach, forwarding, a reload, status,
 * stop), as does `improxy check-config` (the unit's ExecStartPre), and every system call
 * they made must be in the set the unit's SystemCallFilter= lines allow, as
 * `systemd-analyze syscall-filter` expands its groups (systemd.exec(5) "System Call
 * Filtering"). A call outside it would fail with EPERM under systemd
 * (SystemCallErrorNumber=EPERM).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology } from "../../src/lab/topology.js";
import { CLI, runCli, startDaemon } from "../support/daemon.js";
import { sleep } from "../support/scenario.js";
import { useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

const UNIT = resolve(import.meta.dirname, "../../contrib/improxy.service");
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** The system calls of a filter expression (`@group` expanded recursively, `~` ignored). */
function expand(item: string, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (!item.startsWith("@")) return out.add(item);
  if (seen.has(item)) return out;
  seen.add(item);
  const r = spawnSync("systemd-analyze", ["syscall-filter", "--no-pager", item], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  for (const line of r.stdout.split("\n").slice(1)) {
    const word = line.trim();
    if (!word || word.startsWith("#")) continue;
    for (const s of expand(word, seen)) out.add(s);
  }
  return out;
}

/** What the unit's SystemCallFilter= lines allow: the allow-lists, minus the `~` deny-lists. */
function allowedSyscalls(): Set<string> {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const m of readFileSync(UNIT, "utf8").matchAll(/^SystemCallFilter=(.*)$/gm)) {
    const value = m[1]!.trim();
    const deny = value.startsWith("~");
    for (const item of value.replace(/^~/, "").split(/\s+/)) {
      for (const s of expand(item)) (deny ? denied : allowed).add(s);
    }
  }
  for (const s of denied) allowed.delete(s);
  return allowed;
}

/** The system calls named in an strace -f output file. */
function tracedSyscalls(file: string): Set<string> {
  const calls = new Set<string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
    if (m) calls.add(m[1]!);
  }
  return calls;
}

const SKIP = !has("strace")
  ? "strace is not installed (Debian package strace)"
  : !has("systemd-analyze")
    ? "systemd-analyze is not installed (Debian package systemd)"
    : false;

describe("the unit's system call filter", { skip: SKIP, timeout: 120_000 }, () => {
  const topo = useLab(buildTopology);
  const dir = tempDir("improxy-syscalls-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("allows every system call the daemon and check-config make", async () => {
    const allowed = allowedSyscalls();
    assert.ok(
      allowed.has("setsockopt") && allowed.has("ioctl") && !allowed.has("setuid"),
      "the filter expanded",
    );
    chmodSync(dir, 0o755);
    const conf = join(dir, "improxy.yaml");
    writeFileSync(
      conf,
      `control-socket: ${join(dir, "improxy.sock")}\nmetrics: "127.0.0.1:9464"\nigmp: { query-max-response-time: 1 }\nmld: { query-max-response-time: 1 }\nupstream: up0\ndownstream: [dn1, dn2]\n`,
    );

    const check = spawnSync(
      "strace",
      ["-f", "-qq", "-o", join(dir, "check.trace"), "node", CLI, "check-config", conf],
      {
        encoding: "utf8",
      },
    );
    assert.equal(check.status, 0, check.stderr);

    const trace = join(dir, "daemon.trace");
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"], {
      asService: true,
      prefix: ["strace", "-f", "-qq", "-o", trace],
    });
    const rx = startReceiver(topo.h1, "239.12.6.1");
    const tx = startSender(topo.up, "239.12.6.1", { intervalMs: 10 });
    let pid = 0;
    try {
      await d.waitFor(
        (l) => l.msg === "interface attached" && l.interface === "dn1" && l.family === "ipv6",
        10_000,
        "attached",
      );
      for (let t = 0; rx.packets.length < 10; t++) {
        assert.ok(t < 500, `only ${rx.packets.length} datagrams forwarded`);
        await sleep(20);
      }
      const status = await runCli(topo.rtr, ["status", "--json", "--socket", join(dir, "improxy.sock")]);
      assert.equal(status.code, 0, status.stderr);
      pid = (JSON.parse(status.stdout) as { improxy: { pid: number } }).improxy.pid;
      const reload = await runCli(topo.rtr, ["reload", "--socket", join(dir, "improxy.sock")]);
      assert.equal(reload.code, 0, reload.stderr);
      process.kill(pid, "SIGUSR1");
      await d.waitFor((l) => l.msg === "state tables", 5000, "SIGUSR1 tables");
    } finally {
      await tx.stop();
      await rx.stop();
      // The daemon, not strace, gets SIGTERM: strace ends when the daemon does.
      if (pid > 0) process.kill(pid, "SIGTERM");
      assert.equal(await d.stop(), 0, d.stderr().slice(-1500));
    }

    for (const [what, file] of [
      ["improxy check-config", join(dir, "check.trace")],
      ["the daemon", trace],
    ] as const) {
      const used = tracedSyscalls(file);
      assert.ok(used.size > 20, `${what}: ${used.size} system calls traced`);
      process.stdout.write(
        `# ${what}: ${used.size} distinct system calls, all in the unit's filter (${allowed.size})\n`,
      );
      assert.deepEqual(
        [...used].filter((s) => !allowed.has(s)).sort(),
        [],
        `${what} calls outside the filter`,
      );
    }
  });
});
