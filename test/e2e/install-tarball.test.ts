/**
 * No compiler on the target (issue 12 item 2): the packed npm tarball carries prebuilt
 * addons (prebuilds/linux-x64/node.napi.glibc.node and .musl.node, scripts/prebuild.mjs),
 * and installing it with `npm install -g` into a temporary prefix, with a PATH that holds
 * only node, npm and sh (no cc, gcc, make), gives a working `improxy -v`, `improxy
 * check-config` and a loadable addon taken from the prebuild. The musl prebuild is checked
 * for what a musl system needs (its only library is musl's libc, no glibc symbol
 * versions); no musl Node runs here to load it.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { tempDir } from "../support/temp.js";

const ROOT = resolve(import.meta.dirname, "../..");
const ARCH_DIR = `linux-${process.arch}`;

function which(cmd: string): string {
  return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim();
}

describe("npm tarball with prebuilt addons, installed without a compiler", { timeout: 300_000 }, () => {
  const work = tempDir("improxy-install-");
  const prefix = join(work, "prefix");
  const bin = join(work, "bin");
  let tarball = "";
  let listing: string[] = [];
  /** PATH with node, npm and sh only. */
  const env = () => ({ ...process.env, PATH: bin, npm_config_update_notifier: "false" });

  before(() => {
    const out = execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, info[0]!.filename);
    listing = info[0]!.files.map((f) => f.path);
    execFileSync("mkdir", ["-p", bin]);
    for (const cmd of ["node", "npm", "sh"]) symlinkSync(which(cmd), join(bin, cmd));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test("the tarball carries the prebuilds, the sources for a fallback build, and leaves none in the checkout", () => {
    assert.ok(listing.includes(`prebuilds/${ARCH_DIR}/node.napi.glibc.node`), listing.join(" "));
    if (spawnSync("musl-gcc", ["--version"]).status === 0)
      assert.ok(listing.includes(`prebuilds/${ARCH_DIR}/node.napi.musl.node`), "musl prebuild");
    for (const f of ["native/netio.c", "native/layouts.c", "binding.gyp", "dist/src/cli/main.js"])
      assert.ok(listing.includes(f), f);
    assert.ok(!existsSync(join(ROOT, "prebuilds")), "postpack removed prebuilds/ from the checkout");
  });

  test("npm install -g with no compiler on PATH: improxy -v, check-config, the addon from the prebuild", () => {
    for (const tool of ["cc", "gcc", "make", "g++"])
      assert.notEqual(spawnSync("sh", ["-c", `command -v ${tool}`], { env: env() }).status, 0, `${tool} on PATH`);
    const install = spawnSync(
      "npm",
      ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-fund", "--no-audit", tarball],
      { env: env(), encoding: "utf8" },
    );
    assert.equal(install.status, 0, `npm install -g:\n${install.stdout}\n${install.stderr}`);
    const pkg = join(prefix, "lib", "node_modules", "improxy");
    assert.ok(!existsSync(join(pkg, "build")), "nothing was compiled at install");
    const improxy = join(prefix, "bin", "improxy");
    const version = spawnSync(improxy, ["-v"], { env: env(), encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
    const conf = join(work, "improxy.conf");
    writeFileSync(conf, "igmp enable version 3\nupstream lo\ndownstream dummy0\n");
    const ok = spawnSync(improxy, ["check-config", conf], { env: env(), encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /upstream lo/);
    const bad = join(work, "bad.conf");
    writeFileSync(bad, "upstream lo\nquickleave sometimes\n");
    const rejected = spawnSync(improxy, ["check-config", bad], { env: env(), encoding: "utf8" });
    assert.equal(rejected.status, 1, "a bad file is rejected");
    assert.match(rejected.stderr, /bad\.conf:2:/);
    assert.doesNotMatch(rejected.stderr, /\n\s+at /, "no stack trace");
    // The addon loads, from the prebuild, and its struct layouts match (checked at load).
    const probe = spawnSync(
      "node",
      [
        "--input-type=module",
        "-e",
        `import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(join(pkg, "package.json"))});
const m = await import(${JSON.stringify(join(pkg, "dist", "src", "kernel", "addon.js"))});
console.log(require("node-gyp-build").path(${JSON.stringify(pkg)}));
console.log(Object.keys(m.netio.layouts()).length);`,
      ],
      { env: env(), encoding: "utf8" },
    );
    assert.equal(probe.status, 0, probe.stderr);
    const [path, count] = probe.stdout.trim().split("\n");
    assert.equal(path, join(pkg, "prebuilds", ARCH_DIR, "node.napi.glibc.node"));
    assert.ok(Number(count) > 50);
    assert.deepEqual(readdirSync(join(pkg, "prebuilds")), [ARCH_DIR]);
  });

  test("the musl prebuild needs musl's libc only and no glibc symbol version", (t) => {
    if (spawnSync("musl-gcc", ["--version"]).status !== 0) {
      t.skip("musl-gcc missing (Debian: musl-tools)");
      return;
    }
    const dir = tempDir("improxy-musl-");
    try {
      execFileSync("tar", ["-xzf", tarball, "-C", dir, `package/prebuilds/${ARCH_DIR}/node.napi.musl.node`]);
      const file = join(dir, "package", "prebuilds", ARCH_DIR, "node.napi.musl.node");
      const needed = [...execFileSync("readelf", ["-d", file], { encoding: "utf8" }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
        (m) => m[1],
      );
      assert.deepEqual(needed, ["libc.so"]);
      assert.doesNotMatch(execFileSync("objdump", ["-T", file], { encoding: "utf8" }), /GLIBC_/);
      // It exports the N-API module entry point node looks for.
      assert.match(execFileSync("objdump", ["-T", file], { encoding: "utf8" }), /napi_register_module_v1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
