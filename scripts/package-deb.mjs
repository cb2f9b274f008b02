#!/usr/bin/env node
/**
 * Builds the Debian package improxy_VERSION_ARCH.deb from the built tree (`npm run
 * package:deb` runs the build first), without network: a staging tree laid out as the
 * installed system, then `dpkg-deb --root-owner-group --build`.
 *
 *   node scripts/package-deb.mjs [--out DIR]      (default DIR: the repository root)
 *
 * Prints the path of the package. Needs dpkg-deb and dpkg-shlibdeps (dpkg-dev), gzip and
 * strip (binutils). What goes where: README "Debian package"; Debian policy §10 (files),
 * §12 (documentation: copyright, changelog, man pages), deb-control(5), deb-conffiles(5).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const MAINTAINER = "improxy developers <improxy@users.noreply.github.com>";
const APP = "usr/lib/improxy";

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

/** The Debian revision comes from contrib/debian/changelog, whose first entry must be this version. */
function debianVersion() {
  const changelog = readFileSync(join(ROOT, "contrib/debian/changelog"), "utf8");
  const m = /^improxy \(([^)]+)\)/.exec(changelog);
  if (!m) throw new Error("contrib/debian/changelog: no first entry");
  const version = m[1];
  if (!version.startsWith(`${pkg.version}-`)) {
    throw new Error(
      `contrib/debian/changelog: its first entry is ${version}, package.json says ${pkg.version}: add an entry ${pkg.version}-1`,
    );
  }
  return { version, changelog };
}

/** Every file must exist before anything is staged (a missing build is the usual cause). */
function requireBuilt() {
  for (const f of [
    "dist/src/cli/main.js",
    "build/Release/netio.node",
    "man/improxy.8",
    "man/improxy.conf.5",
  ]) {
    if (!existsSync(join(ROOT, f)))
      throw new Error(`${f} is missing: run npm run build (and npm run docs:man)`);
  }
}

/** Copies a directory, leaving out source maps (README "Debian package": none shipped). */
function copyTree(from, to) {
  cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith(".map") });
}

function put(stage, path, text, mode = 0o644) {
  const p = join(stage, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
}

/** gzip -9n: no name nor time stamp in the header (Debian policy §12.1, reproducible). */
function gz(text) {
  const out = gzipSync(text, { level: 9 });
  out[4] = out[5] = out[6] = out[7] = 0; // MTIME
  out[9] = 3; // OS: Unix, as gzip(1) writes it
  return out;
}

/** The production dependencies, as installed in node_modules (`npm ls --omit=dev`). */
function productionModules() {
  const out = run("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: ROOT });
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && l !== ROOT)
    .map((l) => relative(ROOT, l));
}

/**
 * What a module's runtime does not need, left out of the package: tests, benchmarks,
 * documentation pages (HTML pages that load scripts from CDNs), TypeScript sources and
 * declarations, source maps, and the files of its authors' tools (lint, VCS, npm). The
 * license files stay, whatever their extension.
 */
const PRUNED_DIRS = new Set([
  "node_modules",
  "test",
  "tests",
  "__tests__",
  "docs",
  "benchmarks",
  "bench",
  "example",
  "examples",
  ".github",
  ".husky",
]);
const PRUNED_FILE =
  /(\.md|\.html|\.ts|\.mts|\.cts|\.map)$|^\.(eslintrc.*|eslintignore|npmignore|gitattributes|gitignore|editorconfig|prettierrc.*|taprc|nycrc.*)$/;

function keptInModule(moduleDir, src) {
  const parts = relative(moduleDir, src).split("/");
  const name = parts[parts.length - 1];
  if (parts.slice(0, -1).some((d) => PRUNED_DIRS.has(d))) return false;
  if (PRUNED_DIRS.has(name) && statSync(src).isDirectory()) return false;
  return /^licen[cs]e/i.test(name) || !PRUNED_FILE.test(name);
}

function licenseFile(dir) {
  const f = readdirSync(dir).find((n) => /^(licen[cs]e|copying)/i.test(n));
  return f ? join(dir, f) : null;
}

/** DEP-5 short names for the SPDX identifiers the dependencies use. */
const DEP5_LICENSE = { MIT: "Expat", ISC: "ISC", "BSD-3-Clause": "BSD-3-clause", "Apache-2.0": "Apache-2.0" };

/** The copyright lines of a module's license file; else its package.json author. */
function copyrightOf(dir, meta) {
  const file = licenseFile(dir);
  const lines = file
    ? readFileSync(file, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => /^copyright\s+(?!notice|owner|holder)/i.test(l))
        .map((l) => l.replace(/^copyright\s*(\(c\)|©)?\s*/i, ""))
    : [];
  if (lines.length > 0) return lines;
  const author = typeof meta.author === "string" ? meta.author : meta.author?.name;
  return [author ?? `the ${meta.name} authors`];
}

/** debian/copyright in the machine-readable format (DEP-5), the bundled modules included. */
function copyright(modules) {
  const paras = [
    [
      "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
      "Upstream-Name: improxy",
      "Upstream-Contact: https://github.com/improxy/improxy/issues",
      "Source: https://github.com/improxy/improxy",
    ],
    ["Files: *", "Copyright: 2026 the improxy authors", "License: GPL-2.0+"],
  ];
  for (const m of modules) {
    const dir = join(ROOT, m);
    const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const license = DEP5_LICENSE[meta.license];
    if (!license)
      throw new Error(`${m}: license ${meta.license} has no paragraph in contrib/debian/copyright-licenses`);
    const [first, ...rest] = copyrightOf(dir, meta);
    paras.push([
      `Files: ${APP}/${m}/*`,
      `Copyright: ${first}`,
      ...rest.map((l) => ` ${l}`),
      `License: ${license}`,
    ]);
  }
  const licenses = readFileSync(join(ROOT, "contrib/debian/copyright-licenses"), "utf8");
  return `${paras.map((p) => p.join("\n")).join("\n\n")}\n\n${licenses}`;
}

/** The shared-library dependencies of the addon (dpkg-shlibdeps(1); its libc). */
function shlibDepends(stage) {
  const work = mkdtempSync(join(tmpdir(), "improxy-shlibdeps-"));
  try {
    mkdirSync(join(work, "debian"));
    writeFileSync(join(work, "debian/control"), "Source: improxy\n\nPackage: improxy\nArchitecture: any\n");
    const out = run("dpkg-shlibdeps", ["-O", "--warnings=0", join(stage, APP, "build/Release/netio.node")], {
      cwd: work,
    });
    const m = /^shlibs:Depends=(.*)$/m.exec(out);
    if (!m) throw new Error(`dpkg-shlibdeps printed no dependency: ${out}`);
    return m[1];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Installed-Size: KiB of the files (deb-control(5)). */
function installedSize(dir) {
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) bytes += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return Math.ceil(bytes / 1024);
}

/** Removes the directories the pruning left empty (deepest first); returns whether `dir` is empty. */
function removeEmptyDirs(dir) {
  let empty = true;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && removeEmptyDirs(p)) rmSync(p, { recursive: true });
    else empty = false;
  }
  return empty;
}

/** A script: starts with "#!". */
function isScript(path) {
  return readFileSync(path).subarray(0, 2).toString() === "#!";
}

/**
 * Directories 0755, files 0644, scripts ("#!") 0755 (Debian policy §10.9), one time stamp
 * (reproducible builds).
 */
function normalize(dir, mtime) {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    if (e.isDirectory()) chmodSync(p, 0o755);
    else if (e.isFile()) chmodSync(p, isScript(p) ? 0o755 : 0o644);
    utimesSync(p, mtime, mtime);
  }
}

function build(outDir) {
  requireBuilt();
  const { version, changelog } = debianVersion();
  const arch = run("dpkg", ["--print-architecture"]).trim();
  const stage = mkdtempSync(join(tmpdir(), "improxy-deb-"));
  try {
    // The application.
    copyTree(join(ROOT, "dist/src"), join(stage, APP, "dist/src"));
    copyTree(join(ROOT, "schema"), join(stage, APP, "schema"));
    mkdirSync(join(stage, APP, "build/Release"), { recursive: true });
    copyFileSync(join(ROOT, "build/Release/netio.node"), join(stage, APP, "build/Release/netio.node"));
    run("strip", [
      "--strip-unneeded",
      "--remove-section=.comment",
      "--remove-section=.note",
      join(stage, APP, "build/Release/netio.node"),
    ]);
    const modules = productionModules();
    for (const m of modules) {
      // Only the module's own files: nested node_modules are listed (and copied) on their own.
      cpSync(join(ROOT, m), join(stage, APP, m), {
        recursive: true,
        filter: (src) => keptInModule(join(ROOT, m), src),
      });
    }
    removeEmptyDirs(join(stage, APP, "node_modules"));
    // package.json: the version (src/util/version.ts) and "type": "module" for dist/.
    const { name, description, license, type, engines, dependencies } = pkg;
    put(
      stage,
      `${APP}/package.json`,
      `${JSON.stringify({ name, version: pkg.version, description, license, type, engines, dependencies }, null, 2)}\n`,
    );
    put(
      stage,
      "usr/sbin/improxy",
      `#!/bin/sh\n# improxy(8): the multicast proxy, run by Node.js from ${APP}.\nexec /usr/bin/node /${APP}/dist/src/cli/main.js "$@"\n`,
      0o755,
    );

    // Configuration, service, user.
    put(stage, "etc/improxy/improxy.conf", readFileSync(join(ROOT, "contrib/improxy.conf")));
    put(stage, "usr/lib/systemd/system/improxy.service", readFileSync(join(ROOT, "contrib/improxy.service")));
    put(stage, "usr/lib/sysusers.d/improxy.conf", readFileSync(join(ROOT, "contrib/improxy.sysusers")));
    put(
      stage,
      "usr/share/bash-completion/completions/improxy",
      readFileSync(join(ROOT, "contrib/bash-completion/improxy")),
    );

    // Documentation.
    put(stage, "usr/share/man/man8/improxy.8.gz", gz(readFileSync(join(ROOT, "man/improxy.8"))));
    put(stage, "usr/share/man/man5/improxy.conf.5.gz", gz(readFileSync(join(ROOT, "man/improxy.conf.5"))));
    put(stage, "usr/share/doc/improxy/copyright", copyright(modules));
    put(stage, "usr/share/doc/improxy/changelog.Debian.gz", gz(changelog));
    for (const f of readdirSync(join(ROOT, "examples"))) {
      put(stage, `usr/share/doc/improxy/examples/${f}`, readFileSync(join(ROOT, "examples", f)));
    }

    // Control area.
    const depends = `nodejs (>= 20), ${shlibDepends(stage)}`;
    const size = installedSize(stage);
    put(
      stage,
      "DEBIAN/control",
      [
        "Package: improxy",
        `Version: ${version}`,
        `Architecture: ${arch}`,
        `Maintainer: ${MAINTAINER}`,
        `Installed-Size: ${size}`,
        `Depends: ${depends}`,
        "Recommends: systemd",
        "Section: net",
        "Priority: optional",
        "Homepage: https://github.com/improxy/improxy",
        "Description: IGMP/MLD multicast proxy for Linux routers (RFC 4605)",
        " improxy forwards multicast from an upstream interface to the downstream",
        " interfaces whose hosts asked for it: it is the IGMPv1/v2/v3 and MLDv1/v2",
        " querier on every downstream link, merges the hosts' memberships, joins them",
        " upstream as a host and programs the kernel's multicast forwarding cache.",
        " .",
        " It reads the configuration files of IMProxy and igmpproxy unchanged, and a",
        " YAML format with the settings of the IETF YANG models (RFC 8652, RFC 9398).",
        "",
      ].join("\n"),
    );
    put(stage, "DEBIAN/conffiles", "/etc/improxy/improxy.conf\n");
    for (const s of ["postinst", "prerm", "postrm"]) {
      put(stage, `DEBIAN/${s}`, readFileSync(join(ROOT, "contrib/debian", s)), 0o755);
    }
    const sums = [];
    for (const e of readdirSync(stage, { withFileTypes: true, recursive: true })) {
      const p = join(e.parentPath ?? e.path, e.name);
      const rel = relative(stage, p);
      if (!e.isFile() || rel.startsWith("DEBIAN/")) continue;
      sums.push(`${run("md5sum", [p]).split(" ")[0]}  ${rel}`);
    }
    put(stage, "DEBIAN/md5sums", `${sums.sort().join("\n")}\n`);

    const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? Date.parse(changelogDate(changelog)) / 1000);
    normalize(stage, new Date(epoch * 1000));
    chmodSync(stage, 0o755);
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `improxy_${version}_${arch}.deb`);
    run("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, out], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    });
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The date of the changelog's first entry (its trailer line). */
function changelogDate(changelog) {
  const m = /^ -- .*? {2}(.+)$/m.exec(changelog);
  if (!m) throw new Error("contrib/debian/changelog: no trailer line");
  return m[1];
}

const i = process.argv.indexOf("--out");
const outDir = i > 0 ? process.argv[i + 1] : ROOT;
if (!outDir) throw new Error("--out needs a directory");
try {
  console.log(build(outDir));
} catch (e) {
  console.error(`package-deb: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
