/**
 * The built CLI refuses bad configs before touching anything: exit 1, one line
 * `improxy: FILE:LINE: reason` on stderr, no pid file, no log output, and (run inside a
 * fresh namespace) no multicast routing state. Runs src/cli/main.ts through tsx, so no
 * build is needed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Lab, type Netns } from "../../src/lab/netns.js";
import { tempDir } from "../support/temp.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "src/cli/main.ts");
const dir = tempDir("improxy-e2e-cfg-");

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const CASES: { name: string; file: string; text: string; line: number; reason: string }[] = [
  {
    name: "unknown keyword",
    file: "unknown.conf",
    text: "igmp enable version 3\nupstream wan0\nfastleave enable\ndownstream eth0\n",
    line: 3,
    reason:
      'unknown keyword "fastleave" (expected one of: igmp, mld, upstream, downstream, quickleave, down_to_up)',
  },
  {
    name: "missing upstream",
    file: "noup.conf",
    text: "igmp enable\nmld enable\ndownstream eth0\ndownstream eth1\n",
    line: 4,
    reason: 'no "upstream" line: exactly one upstream interface is required',
  },
  {
    name: "downstream equal to the upstream",
    file: "same.conf",
    text: "igmp enable\nupstream wan0\ndownstream eth0\ndownstream wan0\n",
    line: 4,
    reason: 'downstream "wan0" is the upstream interface (line 2)',
  },
  {
    name: "YAML type error",
    file: "type.yaml",
    text: "upstream: wan0\ndownstream:\n  - eth0\n  - name: eth1\n    igmp:\n      version: 3\n      query-interval: often\n",
    line: 7,
    reason: '`query-interval` must be an integer from 1 to 31744, got "often"',
  },
  {
    name: "YAML missing upstream",
    file: "noup.yaml",
    text: "igmp: { version: 2 }\ndownstream: [eth0]\n",
    line: 2,
    reason: "missing `upstream` (the upstream interface must be given)",
  },
  {
    name: "more downstreams than the kernel's 32 VIFs allow (20,000)",
    file: "vifs.conf",
    text: `igmp enable\nmld enable\nupstream wan0\n${Array.from({ length: 20_000 }, (_, i) => `downstream d${i}\n`).join("")}`,
    line: 35,
    reason:
      'too many IGMP interfaces: downstream "d31" is the 32nd; the kernel allows 32 VIFs (MAXVIFS) per multicast routing table, the upstream included, so at most 31 downstreams',
  },
  {
    name: "YAML alias without an anchor",
    file: "alias.yaml",
    text: "upstream: wan0\ndownstream:\n  - eth0\n  - *lan\n",
    line: 4,
    reason: "unknown alias *lan: no anchor &lan before it",
  },
];

describe("improxy -c BAD: refused before touching the kernel", () => {
  let lab: Lab;
  let ns: Netns;
  before(async () => {
    lab = await Lab.create();
    ns = await lab.addNamespace("cfg");
  });
  after(async () => {
    await lab.destroy();
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const file = write(c.file, c.text);
      const pid = join(dir, `${c.file}.pid`);
      // Inside a fresh namespace: whatever the daemon would set up would show there.
      const r = spawnSync(
        "ip",
        [
          "netns",
          "exec",
          ns.name,
          process.execPath,
          "--import",
          "tsx",
          MAIN,
          "-c",
          file,
          "-d",
          "5",
          "-p",
          pid,
          "--log-format",
          "json",
        ],
        { cwd: ROOT, encoding: "utf8", timeout: 20_000 },
      );
      assert.equal(r.status, 1, `exit code; stderr: ${r.stderr}`);
      assert.equal(r.stdout, "");
      // Exactly this line: with -d 5 the daemon would have logged at least its start.
      assert.equal(r.stderr, `improxy: ${file}:${c.line}: ${c.reason}\n`);
      assert.equal(existsSync(pid), false, "no pid file written");
      assert.equal((await ns.readProc("/proc/net/ip_mr_vif")).trim().split("\n").length, 1, "no VIF");
      assert.equal((await ns.readProc("/proc/net/ip6_mr_vif")).trim().split("\n").length, 1, "no MIF");
      const mcf = (await ns.exec("sysctl", ["-n", "net.ipv4.conf.all.mc_forwarding"])).stdout.trim();
      assert.equal(mcf, "0", "no mroute socket was left behind");
    });
  }

  for (const c of [CASES[3]!, ...CASES.slice(-2)])
    test(`check-config reports the same line and reason: ${c.name}`, () => {
      const file = write(c.file, c.text);
      const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, "check-config", file], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(r.status, 1);
      assert.equal(r.stderr, `improxy: ${file}:${c.line}: ${c.reason}\n`);
    });
});
