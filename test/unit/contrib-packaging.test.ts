/**
 * What the npm tarball and the Debian package ship besides the program: the license, the
 * examples, the man pages, no source maps (README "Running it on a router"); the systemd
 * unit (its start check, ordering and hardening, measured by systemd-analyze) and the bash
 * completion (contrib/).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const UNIT = join(ROOT, "contrib/improxy.service");
const COMPLETION = join(ROOT, "contrib/bash-completion/improxy");
const has = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { encoding: "utf8" }).status === 0;

/**
 * Highest exposure `systemd-analyze security` may rate the unit (0 best, 10 worst). The
 * unit before the hardening was rated 4.0; this one 1.7 (systemd 252).
 */
const MAX_EXPOSURE = 2.0;

describe("npm tarball", () => {
  test("ships LICENSE (GPL-2), examples/, man/, the completion and no source maps", () => {
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of [
      "LICENSE",
      "man/improxy.8",
      "man/improxy.conf.5",
      "contrib/bash-completion/improxy",
      "contrib/improxy.service",
    ]) {
      assert.ok(files.includes(f), f);
    }
    for (const f of readdirSync(join(ROOT, "examples")))
      assert.ok(files.includes(`examples/${f}`), `examples/${f}`);
    assert.deepEqual(
      files.filter((f) => f.endsWith(".map")),
      [],
    );
    assert.ok(files.includes("dist/src/cli/main.js"));
    assert.match(
      readFileSync(join(ROOT, "LICENSE"), "utf8"),
      /GNU GENERAL PUBLIC LICENSE\s+Version 2, June 1991/,
    );
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      license: string;
      man: string[];
    };
    assert.equal(pkg.license, "GPL-2.0-or-later");
    assert.deepEqual(pkg.man, ["./man/improxy.8", "./man/improxy.conf.5"]);
  });
});

describe("systemd unit", () => {
  const unit = readFileSync(UNIT, "utf8");
  const directives = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!.trim());

  test("checks the config before the start, reloads synchronously, runs the package's program", () => {
    assert.deepEqual(directives("ExecStartPre"), [
      "/usr/sbin/improxy check-config /etc/improxy/improxy.conf",
    ]);
    assert.deepEqual(directives("ExecReload"), ["/usr/sbin/improxy reload -c /etc/improxy/improxy.conf"]);
    assert.match(directives("ExecStart")[0]!, /^\/usr\/sbin\/improxy -c \/etc\/improxy\/improxy\.conf /);
  });

  test("orders itself after network.target without pulling it in (systemd.special(7))", () => {
    assert.deepEqual(directives("After"), ["network.target"]);
    assert.deepEqual(directives("Wants"), []);
    assert.deepEqual(directives("Requires"), []);
  });

  test("runs as the sysusers.d user with the two capabilities and the hardening", () => {
    assert.deepEqual(directives("User"), ["improxy"]);
    assert.match(readFileSync(join(ROOT, "contrib/improxy.sysusers"), "utf8"), /^u improxy - /m);
    assert.deepEqual(directives("AmbientCapabilities"), ["CAP_NET_ADMIN CAP_NET_RAW"]);
    for (const [key, value] of [
      ["ProtectKernelLogs", "yes"],
      ["RestrictSUIDSGID", "yes"],
      ["UMask", "0077"],
      ["ProtectProc", "invisible"],
      ["SystemCallErrorNumber", "EPERM"],
    ]) {
      assert.deepEqual(directives(key!), [value], key);
    }
    assert.ok(directives("SystemCallFilter").includes("@system-service"));
    assert.deepEqual(
      directives("MemoryDenyWriteExecute"),
      [],
      "V8's JIT needs writable, then executable memory",
    );
    assert.deepEqual(directives("ProcSubset"), [], "the daemon reads /proc/sys (src/kernel/sysctl.ts)");
  });

  test(`systemd-analyze security rates its exposure at most ${MAX_EXPOSURE}`, {
    skip: has("systemd-analyze", "--version")
      ? false
      : "systemd-analyze is not installed (Debian package systemd)",
  }, () => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=true", "--no-pager", UNIT], {
      encoding: "utf8",
    });
    const m = /Overall exposure level for improxy\.service: (\d+\.\d)/.exec(r.stdout);
    assert.ok(m, `no exposure line: ${r.stdout.slice(-500)} ${r.stderr}`);
    console.log(`# systemd-analyze security: exposure ${m[1]} (before the hardening: 4.0)`);
    assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]} > ${MAX_EXPOSURE}`);
  });
});

describe("bash completion", () => {
  /** COMPREPLY of `_improxy` for the command line WORDS, the last one being completed. */
  function complete(...words: string[]): string[] {
    const script = [
      'source "$0"',
      'COMP_WORDS=("$@")',
      "COMP_CWORD=$(($# - 1))",
      "_improxy",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash expansion, not a template
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join("; ");
    const r = spawnSync("bash", ["--norc", "--noprofile", "-c", script, COMPLETION, ...words], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    return r.stdout.split("\n").filter((l) => l !== "");
  }

  test("completes the subcommands, then the show views", () => {
    assert.deepEqual(complete("improxy", ""), ["status", "show", "reload", "check-config", "mcast", "lab"]);
    assert.deepEqual(complete("improxy", "s"), ["status", "show"]);
    assert.deepEqual(complete("improxy", "-c", "/etc/improxy/improxy.conf", "sh"), ["show"]);
    assert.deepEqual(complete("improxy", "show", ""), ["interfaces", "groups", "sources", "routes", "stats"]);
    assert.deepEqual(complete("improxy", "show", "--json", "r"), ["routes"]);
  });

  test("completes interface names after a view and after mcast --interface", () => {
    assert.ok(complete("improxy", "show", "groups", "").includes("lo"));
    assert.deepEqual(complete("improxy", "show", "routes", "--group", "239.1.1.1", "l"), ["lo"]);
    assert.deepEqual(complete("improxy", "mcast", "-m", "239.1.1.1", "-r", "--interface", "l"), ["lo"]);
    assert.deepEqual(complete("improxy", "show", "groups", "lo", ""), []);
  });

  test("completes options and their values, and file names for config files", () => {
    assert.ok(complete("improxy", "show", "groups", "--").includes("--group"));
    assert.deepEqual(complete("improxy", "status", "--family", ""), ["ipv4", "ipv6"]);
    assert.deepEqual(complete("improxy", "--log-format", ""), ["pretty", "json"]);
    assert.deepEqual(complete("improxy", "check-config", "--to", ""), ["yaml"]);
    assert.deepEqual(complete("improxy", "check-config", join(ROOT, "examples/improxy.y")), [
      join(ROOT, "examples/improxy.yaml"),
    ]);
    assert.deepEqual(complete("improxy", "-c", join(ROOT, "examples/igmpp")), [
      join(ROOT, "examples/igmpproxy.conf"),
    ]);
    assert.ok(complete("improxy", "mcast", "-").includes("--receive"));
  });
});
