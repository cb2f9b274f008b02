#!/usr/bin/env node
/**
 * Builds the prebuilt native addons the npm package carries, so that installing improxy
 * needs no compiler (docs/kernel.md "Native layer"):
 *
 *   prebuilds/linux-<arch>/node.napi.glibc.node   node-gyp's build (gcc, glibc)
 *   prebuilds/linux-<arch>/node.napi.musl.node    the same sources compiled by musl-gcc
 *
 * The names follow the prebuildify / node-gyp-build convention: node-gyp-build picks the
 * file whose tags match the running Node (N-API, so any Node >= 20) and C library (musl
 * on Alpine/OpenWrt). Run by `npm pack` (prepack); `postpack` removes the directory again.
 * A target whose compiler is missing is skipped with a note (musl-gcc: Debian musl-tools);
 * installing on such a target falls back to node-gyp.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const SOURCES = ["native/netio.c", "native/layouts.c"].map((f) => join(ROOT, f));
const OUT = join(ROOT, "prebuilds", `${process.platform}-${process.arch}`);
/** The multiarch directory of the kernel's asm headers (Debian). */
const MULTIARCH = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu", arm: "arm-linux-gnueabihf", ia32: "i386-linux-gnu" };

function say(line) {
  process.stderr.write(`prebuild: ${line}\n`);
}

/** Node's headers (node_api.h): next to the binary, else node-gyp's download cache. */
function nodeHeaders() {
  const candidates = [
    join(dirname(process.execPath), "..", "include", "node"),
    join(process.env.HOME ?? "/root", ".cache", "node-gyp", process.versions.node, "include", "node"),
  ];
  const found = candidates.find((d) => existsSync(join(d, "node_api.h")));
  if (!found) throw new Error(`no Node headers (node_api.h) in ${candidates.join(", ")}`);
  return found;
}

function glibc() {
  const built = join(ROOT, "build", "Release", "netio.node");
  if (!existsSync(built)) {
    say("no build/Release/netio.node: running node-gyp rebuild");
    execFileSync("npx", ["--no-install", "node-gyp", "rebuild"], { cwd: ROOT, stdio: "inherit" });
  }
  const out = join(OUT, "node.napi.glibc.node");
  copyFileSync(built, out);
  return out;
}

function musl() {
  if (spawnSync("musl-gcc", ["--version"]).status !== 0) {
    say("musl-gcc not found (Debian: musl-tools): no musl prebuild");
    return null;
  }
  // musl-gcc searches musl's headers only: give it the kernel's UAPI headers, nothing of glibc.
  const kernel = mkdtempSync(join(tmpdir(), "improxy-kh-"));
  try {
    symlinkSync("/usr/include/linux", join(kernel, "linux"));
    symlinkSync("/usr/include/asm-generic", join(kernel, "asm-generic"));
    symlinkSync(join("/usr/include", MULTIARCH[process.arch] ?? "", "asm"), join(kernel, "asm"));
    const out = join(OUT, "node.napi.musl.node");
    execFileSync(
      "musl-gcc",
      [
        "-shared",
        "-fPIC",
        "-O2",
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-DNAPI_VERSION=8",
        "-DNODE_GYP_MODULE_NAME=netio",
        "-DBUILDING_NODE_EXTENSION",
        `-I${nodeHeaders()}`,
        "-idirafter",
        kernel,
        "-o",
        out,
        ...SOURCES,
      ],
      { stdio: "inherit" },
    );
    execFileSync("strip", ["--strip-unneeded", out]);
    return out;
  } finally {
    rmSync(kernel, { recursive: true, force: true });
  }
}

if (process.platform !== "linux") {
  say(`nothing to build on ${process.platform}`);
  process.exit(0);
}
rmSync(join(ROOT, "prebuilds"), { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
for (const f of [glibc(), musl()]) if (f) say(`built ${f.slice(ROOT.length + 1)}`);
