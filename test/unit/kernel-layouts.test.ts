/**
 * The addon is portable (issue 12 item 1): the kernel struct layouts the TypeScript side
 * uses (src/kernel/structs/abi.ts) are those of every ABI improxy targets, checked against
 * real compilers: native/layouts.h compiled by gcc (x86_64 glibc), gcc -m32 (i386),
 * arm-linux-gnueabihf-gcc (armhf) and musl-gcc (x86_64 musl); native/ itself compiles with
 * musl-gcc, gcc -m32 and the ARM compiler against Node's headers with no implicit
 * declaration (glibc-only calls such as strerrorname_np). A missing compiler skips its case
 * with the package to install (.ci/run installs them). And the descriptor, ioctl and close
 * checks of the addon.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { netio } from "../../src/kernel/addon.js";
import { type Abi, HOST_ABI, ILP32, kernelLayouts, layoutMismatches, LP64 } from "../../src/kernel/structs/abi.js";
import { parseSiocSgReq, parseSiocSgReq6, parseSiocVifReq, SIOCGETVIFCNT } from "../../src/kernel/structs/mroute.js";
import { tempDir } from "../support/temp.js";

const ROOT = resolve(import.meta.dirname, "../..");
const PROBE = join(ROOT, "test/fixtures/layout-probe.c");
const NODE_HEADERS = ["/usr/include/node", join(process.execPath, "../../include/node")].find((d) => {
  try {
    readFileSync(join(d, "node_api.h"));
    return true;
  } catch {
    return false;
  }
});

/** An include directory with only the kernel's UAPI headers (musl-gcc does not search /usr/include). */
const kernelHeaders = (() => {
  const dir = tempDir("improxy-kh-");
  symlinkSync("/usr/include/linux", join(dir, "linux"));
  symlinkSync("/usr/include/asm-generic", join(dir, "asm-generic"));
  symlinkSync("/usr/include/x86_64-linux-gnu/asm", join(dir, "asm"));
  return dir;
})();

interface Toolchain {
  name: string;
  cc: string;
  args: string[];
  abi: Abi;
  /** The Debian package that provides it. */
  pkg: string;
}

const TOOLCHAINS: Toolchain[] = [
  { name: "x86_64 glibc", cc: "gcc", args: [], abi: LP64, pkg: "gcc" },
  // The x86 UAPI asm headers serve both widths (#ifdef __i386__ inside).
  { name: "i386", cc: "gcc", args: ["-m32", "-idirafter", "/usr/include/x86_64-linux-gnu"], abi: ILP32, pkg: "libc6-dev-i386" },
  { name: "armhf", cc: "arm-linux-gnueabihf-gcc", args: [], abi: ILP32, pkg: "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross" },
  { name: "x86_64 musl", cc: "musl-gcc", args: ["-idirafter", kernelHeaders], abi: LP64, pkg: "musl-tools" },
];

/** Why `t` cannot run here (its compiler cannot build a trivial file), or null. */
function missing(t: Toolchain): string | null {
  const r = spawnSync(t.cc, [...t.args, "-x", "c", "-S", "-o", "/dev/null", "-"], {
    input: "#include <stddef.h>\n#include <errno.h>\nint x;\n",
  });
  return r.status === 0 ? null : `${t.cc} ${t.args.join(" ")} cannot compile here: install ${t.pkg}`;
}

/** The layout list as `t` compiles it: names from the preprocessor, values from the assembly. */
function probe(t: Toolchain): Record<string, number> {
  const pre = execFileSync(t.cc, [...t.args, "-E", "-DLAYOUT_NAMES=@@", PROBE], { encoding: "utf8" });
  const names = [...pre.matchAll(/@@((?:\s*"[^"]*")+)\s*@@/g)].map((m) =>
    [...m[1]!.matchAll(/"([^"]*)"/g)].map((p) => p[1]).join(""),
  );
  const asm = execFileSync(t.cc, [...t.args, "-S", "-o", "-", PROBE], { encoding: "utf8" });
  const body = asm.slice(asm.indexOf("layout_values:"));
  const values = [...body.matchAll(/^\s*\.(?:long|word|4byte)\s+(\d+)\s*$/gm)].map((m) => Number(m[1]));
  assert.ok(names.length > 50, `names from ${t.name}: ${names.length}`);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

describe("kernel struct layouts", () => {
  test("the loaded addon measures what the TypeScript tables say for this ABI", () => {
    assert.deepEqual(layoutMismatches(netio.layouts()), []);
    if (process.arch === "x64") assert.deepEqual(HOST_ABI, LP64);
  });

  test("the tables differ where the ABIs do: unsigned long counters and sockaddr_storage alignment", () => {
    const lp = kernelLayouts(LP64);
    const ilp = kernelLayouts(ILP32);
    assert.deepEqual(
      [lp.sioc_sg_req, ilp.sioc_sg_req, lp.sioc_vif_req, ilp.sioc_vif_req, lp.group_req, ilp.group_req],
      [32, 20, 40, 20, 136, 132],
    );
    assert.deepEqual([lp["group_filter.gf_slist"], ilp["group_filter.gf_slist"]], [144, 140]);
  });

  for (const t of TOOLCHAINS) {
    const skip = missing(t);
    test(`${t.name}: ${t.cc} lays the structs out as kernelLayouts(${t.abi === LP64 ? "LP64" : "ILP32"})`, { skip: skip ?? false }, () => {
      const measured = probe(t);
      assert.deepEqual(layoutMismatches(measured, kernelLayouts(t.abi)), []);
    });
    test(
      `${t.name}: native/ compiles against Node's headers without implicit declarations`,
      { skip: skip ?? (NODE_HEADERS ? false : "no Node headers (node_api.h) found") },
      () => {
        for (const file of ["native/netio.c", "native/layouts.c"]) {
          const r = spawnSync(
            t.cc,
            [
              ...t.args,
              "-std=gnu11",
              "-fPIC",
              "-Wall",
              "-Wextra",
              "-Werror",
              "-DNAPI_VERSION=8",
              `-I${NODE_HEADERS}`,
              "-c",
              "-o",
              "/dev/null",
              join(ROOT, file),
            ],
            { encoding: "utf8" },
          );
          assert.equal(r.status, 0, `${t.cc} ${file}:\n${r.stderr}`);
        }
      },
    );
  }

  test("counters are read 4 bytes wide on ILP32 and 8 on LP64", () => {
    const lp = Buffer.alloc(kernelLayouts(LP64).sioc_sg_req!);
    lp.writeBigUInt64LE(7n, 8);
    lp.writeBigUInt64LE(1n << 40n, 16);
    lp.writeBigUInt64LE(3n, 24);
    const ilp = Buffer.alloc(kernelLayouts(ILP32).sioc_sg_req!);
    ilp.writeUInt32LE(7, 8);
    ilp.writeUInt32LE(0xffffffff, 12);
    ilp.writeUInt32LE(3, 16);
    if (HOST_ABI === LP64 || process.arch === "x64") {
      assert.deepEqual(parseSiocSgReq(lp, LP64), { packets: 7n, bytes: 1n << 40n, wrongIf: 3n });
      assert.deepEqual(parseSiocSgReq(ilp, ILP32), { packets: 7n, bytes: 0xffffffffn, wrongIf: 3n });
    }
    const ilp6 = Buffer.alloc(kernelLayouts(ILP32).sioc_sg_req6!);
    ilp6.writeUInt32LE(9, 56);
    ilp6.writeUInt32LE(10, 60);
    assert.deepEqual(parseSiocSgReq6(ilp6, ILP32), { packets: 9n, bytes: 10n, wrongIf: 0n });
    const vif = Buffer.alloc(kernelLayouts(ILP32).sioc_vif_req!);
    vif.writeUInt32LE(1, 4);
    vif.writeUInt32LE(2, 8);
    vif.writeUInt32LE(3, 12);
    vif.writeUInt32LE(4, 16);
    assert.deepEqual(parseSiocVifReq(vif, ILP32), { packetsIn: 1n, packetsOut: 2n, bytesIn: 3n, bytesOut: 4n });
  });
});

describe("addon argument checks", () => {
  test("a NaN, negative or fractional descriptor is a RangeError, never fd 0", () => {
    for (const fd of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY]) {
      assert.throws(() => netio.close(fd), RangeError, String(fd));
      assert.throws(() => netio.pollStop(fd), RangeError, String(fd));
    }
  });

  test("close refuses descriptors the addon did not open (EBADF), and a second close", () => {
    assert.throws(() => netio.close(0), (e: NodeJS.ErrnoException) => e.code === "EBADF");
    // stdin is still open: fstat through Node works.
    assert.doesNotThrow(() => readFileSync("/proc/self/fdinfo/0"));
    const fd = netio.socket(2, 2, 0);
    netio.close(fd);
    assert.throws(() => netio.close(fd), (e: NodeJS.ErrnoException) => e.code === "EBADF");
  });

  test("ioctl refuses a buffer shorter than the request's struct", () => {
    const fd = netio.socket(2, 2, 0);
    try {
      assert.throws(() => netio.ioctl(fd, SIOCGETVIFCNT, Buffer.alloc(8), 40), RangeError);
      assert.throws(() => netio.ioctl(fd, SIOCGETVIFCNT, Buffer.alloc(40), 0), RangeError);
    } finally {
      netio.close(fd);
    }
  });

  test("errno names come from the addon's own table (no glibc-only call)", () => {
    try {
      netio.socket(9999, 2, 0);
      assert.fail("socket(9999) succeeded");
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, "EAFNOSUPPORT");
    }
  });
});
