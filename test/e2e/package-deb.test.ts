/**
 * Issue 12 item 4: the Debian package. Builds it (scripts/package-deb.mjs, from the built
 * tree), checks it with lintian, installs it with `dpkg -i`, runs the installed program
 * (`improxy check-config /etc/improxy/improxy.conf`, the daemon as the package's user in a
 * lab), verifies the installed unit with `systemd-analyze verify`, then `dpkg --purge`
 * and checks that nothing is left. The package is purged whatever happens (`after`).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { startReceiver, startSender } from "../../src/lab/hosts.js";
import { buildTopology } from "../../src/lab/topology.js";
import { packageVersion } from "../../src/util/version.js";
import { startDaemon } from "../support/daemon.js";
import { sleep } from "../support/scenario.js";
import { useLab } from "../support/stage.js";
import { tempDir } from "../support/temp.js";

const ROOT = resolve(import.meta.dirname, "../..");
const APP = "/usr/lib/improxy";

/** Every path the package installs (and the directories only it uses). */
const INSTALLED = [
  APP,
  "/usr/sbin/improxy",
  "/etc/improxy",
  "/usr/lib/systemd/system/improxy.service",
  "/usr/lib/sysusers.d/improxy.conf",
  "/usr/share/man/man8/improxy.8.gz",
  "/usr/share/man/man5/improxy.conf.5.gz",
  "/usr/share/doc/improxy",
  "/usr/share/bash-completion/completions/improxy",
];

function sh(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const has = (cmd: string) => sh("sh", ["-c", `command -v ${cmd}`]).status === 0;
const installed = (pkg: string) => /^Status: install ok installed$/m.test(sh("dpkg", ["-s", pkg]).stdout);

/** dpkg, retried while another dpkg or apt (another test worker) holds its lock. */
async function dpkg(...args: string[]) {
  for (let i = 0; ; i++) {
    const r = sh("dpkg", args);
    if (r.status === 0 || !/lock/i.test(r.stderr) || i >= 60) return r;
    await sleep(2000);
  }
}

function why(): string | false {
  if (process.getuid?.() !== 0) return "needs root (dpkg -i)";
  for (const [cmd, pkg] of [
    ["dpkg-deb", "dpkg"],
    ["dpkg-shlibdeps", "dpkg-dev"],
    ["lintian", "lintian"],
    ["strip", "binutils"],
    ["setpriv", "util-linux"],
  ]) {
    if (!has(cmd!)) return `${cmd} is not installed (Debian package ${pkg})`;
  }
  if (installed("improxy"))
    return "an improxy package is installed on this machine; the test would replace it";
  return false;
}

const SKIP = why();

describe("Debian package", { skip: SKIP, timeout: 180_000 }, () => {
  const work = tempDir("improxy-deb-test-");
  let deb = "";
  // Debian keeps a package's system user when the package is purged (files it owned may
  // remain); the test removes the user it caused to be created, to leave the machine as
  // it found it.
  const userBefore = sh("getent", ["passwd", "improxy"]).status === 0;
  const topo = useLab(buildTopology);

  before(async () => {
    const r = sh("node", [join(ROOT, "scripts/package-deb.mjs"), "--out", work]);
    assert.equal(r.status, 0, r.stderr);
    deb = r.stdout.trim();
    assert.match(deb, new RegExp(`/improxy_${packageVersion().replace(/\./g, "\\.")}-\\d+_[a-z0-9]+\\.deb$`));
  });

  after(async () => {
    if (installed("improxy") || /config-files/.test(sh("dpkg", ["-s", "improxy"]).stdout))
      await dpkg("--purge", "improxy");
    if (!userBefore && sh("getent", ["passwd", "improxy"]).status === 0) sh("userdel", ["improxy"]);
    if (!userBefore && sh("getent", ["group", "improxy"]).status === 0) sh("groupdel", ["improxy"]);
    rmSync(work, { recursive: true, force: true });
  });

  it("lintian reports no error", () => {
    const r = sh("lintian", ["--no-tag-display-limit", deb]);
    const lines = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /^[EWX]: /.test(l));
    for (const l of lines) process.stdout.write(`# lintian ${l}\n`);
    assert.deepEqual(
      lines.filter((l) => /^[EX]: /.test(l)),
      [],
    );
  });

  it("installs with dpkg -i: program, conffile, unit, user, man pages, completion", async () => {
    // The package depends on the Debian package nodejs (>= 20). Where Node.js was installed
    // another way (no nodejs package), dpkg would refuse: the test then forces that one
    // dependency, and only here; /usr/bin/node must exist all the same.
    const force = installed("nodejs") ? [] : ["--force-depends"];
    const r = await dpkg("-i", ...force, deb);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    for (const p of INSTALLED) assert.ok(existsSync(p), p);
    assert.equal(sh("/usr/sbin/improxy", ["-v"]).stdout.trim(), packageVersion());
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query field, not a template
    const conffiles = sh("dpkg-query", ["-W", "-f", "${Conffiles}", "improxy"]).stdout;
    assert.equal(conffiles.trim().split(" ")[0], "/etc/improxy/improxy.conf", "registered as a conffile");
    assert.equal(sh("getent", ["passwd", "improxy"]).status, 0, "the user improxy exists");
    const files = sh("dpkg", ["-L", "improxy"]).stdout.split("\n");
    assert.deepEqual(
      files.filter((f) => f.endsWith(".map")),
      [],
      "no source maps",
    );
    assert.ok(files.includes(`${APP}/build/Release/netio.node`));
  });

  it("runs improxy check-config /etc/improxy/improxy.conf through /usr/sbin/improxy", () => {
    const r = sh("/usr/sbin/improxy", ["check-config", "/etc/improxy/improxy.conf"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^config \/etc\/improxy\/improxy\.conf \(improxy format\)$/m);
    assert.match(r.stdout, /^ {2}upstream eth0 /m);
  });

  it("systemd-analyze verify accepts the installed unit", {
    skip: has("systemd-analyze") ? false : "systemd-analyze is not installed (Debian package systemd)",
  }, () => {
    const r = sh("systemd-analyze", ["verify", "/usr/lib/systemd/system/improxy.service"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "");
  });

  it("the installed daemon runs as the user improxy with the unit's two capabilities and forwards", async () => {
    const uid = sh("id", ["-u", "improxy"]).stdout.trim();
    const gid = sh("id", ["-g", "improxy"]).stdout.trim();
    // Config and control socket in a directory the user improxy can read and write.
    const dir = tempDir("improxy-pkg-run-");
    chmodSync(dir, 0o777);
    const conf = join(dir, "improxy.yaml");
    writeFileSync(
      conf,
      `control-socket: ${join(dir, "improxy.sock")}\nmetrics: "127.0.0.1:9464"\nigmp: { query-max-response-time: 1 }\nmld: { enabled: false }\nupstream: up0\ndownstream: [dn1, dn2]\n`,
    );
    const d = startDaemon(topo.rtr, ["-c", conf, "-d", "3"], {
      script: `${APP}/dist/src/cli/main.js`,
      asService: true,
      prefix: [
        "setpriv",
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--clear-groups",
        "--inh-caps=-all,+net_admin,+net_raw",
        "--ambient-caps=-all,+net_admin,+net_raw",
        "--bounding-set=-all,+net_admin,+net_raw",
      ],
    });
    const rx = startReceiver(topo.h1, "239.12.4.1");
    const tx = startSender(topo.up, "239.12.4.1", { intervalMs: 10 });
    try {
      await d.waitFor((l) => l.msg === "interface attached" && l.interface === "dn1", 8000, "attached");
      await d.waitFor((l) => /^metrics endpoint listening/.test(l.msg), 8000, "metrics endpoint");
      const status = await topo.rtr.readProc(`/proc/${d.proc.pid}/status`);
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, "m"));
      for (let t = 0; rx.packets.length < 10; t++) {
        assert.ok(t < 500, `only ${rx.packets.length} datagrams forwarded`);
        await sleep(20);
      }
      assert.deepEqual(
        d.lines.filter((l) => l.level >= 50).map((l) => l.msg),
        [],
        "no error logged",
      );
    } finally {
      await tx.stop();
      await rx.stop();
      assert.equal(await d.stop(), 0, d.stderr().slice(-1500));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("dpkg --purge leaves nothing behind", async () => {
    const r = await dpkg("--purge", "improxy");
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(
      INSTALLED.filter((p) => existsSync(p)),
      [],
    );
    assert.match(sh("dpkg", ["-s", "improxy"]).stderr, /not installed/);
    assert.deepEqual(
      readdirSync("/etc/systemd/system", { recursive: true }).filter((f) => String(f).includes("improxy")),
      [],
    );
    // The system user stays, as Debian does for system users (the postrm says why).
    assert.equal(sh("getent", ["passwd", "improxy"]).status, 0);
  });
});
