import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseDebugLevel, parseLogFormat } from "../../src/cli/args.js";
import { main } from "../../src/cli/main.js";

/** Runs main() in-process, capturing output. Only paths that never reach runDaemon. */
async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    stderrIsTty: false,
  });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), "improxy-cli-"));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe("daemon command line (IMProxy compatible)", () => {
  test("no -c: usage on stderr, exit 1", async () => {
    const r = await cli();
    assert.equal(r.code, 1);
    assert.equal(r.out.length, 0);
    assert.match(r.err.join("\n"), /^Usage: improxy/);
    assert.match(r.err.join("\n"), /-c, --config <file>/);
  });

  test("-v prints the version, -h the help, both exit 0", async () => {
    const v = await cli("-v");
    assert.equal(v.code, 0);
    assert.match(v.out.join(""), /^\d+\.\d+\.\d+/);
    const h = await cli("-h");
    assert.equal(h.code, 0);
    assert.match(h.out.join("\n"), /check-config/);
  });

  test("a config error: one line FILE:LINE: reason, exit 1", async () => {
    const f = write("bad.conf", "igmp enable\nupstream wan0\nfoo bar\ndownstream eth0\n");
    const r = await cli("-c", f, "-d", "4");
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      `improxy: ${f}:3: unknown keyword "foo" (expected one of: igmp, mld, upstream, downstream, quickleave, down_to_up)`,
    ]);
  });

  test("bad -d, bad --log-format, unknown command", async () => {
    const f = write("ok.conf", "igmp enable\nupstream wan0\ndownstream eth0\n");
    const d = await cli("-c", f, "-d", "6");
    assert.equal(d.code, 1);
    assert.match(d.err.join("\n"), /-d must be a level from 0 to 5/);
    const l = await cli("-c", f, "--log-format", "xml");
    assert.equal(l.code, 1);
    assert.match(l.err.join("\n"), /--log-format/);
    const u = await cli("frobnicate");
    assert.equal(u.code, 1);
    assert.match(u.err.join("\n"), /unknown command "frobnicate"/);
  });

  test("level and format parsing", () => {
    assert.equal(parseDebugLevel("0"), 0);
    assert.equal(parseDebugLevel("5"), 5);
    assert.equal(typeof parseDebugLevel("x"), "string");
    assert.equal(parseLogFormat(undefined, true), "pretty");
    assert.equal(parseLogFormat(undefined, false), "json");
    assert.equal(parseLogFormat("json", true), "json");
  });
});

describe("check-config", () => {
  test("valid file: effective config on stdout, exit 0; --json parses", async () => {
    const f = write("ok.yaml", "upstream: wan0\ndownstream:\n  - name: eth0\n    query-interval: 60\n");
    const r = await cli("check-config", f);
    assert.equal(r.code, 0);
    assert.match(r.out.join("\n"), /downstream eth0 {2}\(line 3\)/);
    assert.match(r.out.join("\n"), /startup-query-interval {6}15s/);
    const j = await cli("check-config", f, "--json");
    assert.equal(j.code, 0);
    const cfg = JSON.parse(j.out.join("\n")) as { downstreams: { igmp: { queryInterval: number } }[] };
    assert.equal(cfg.downstreams[0]!.igmp.queryInterval, 60);
  });

  test("invalid file: FILE:LINE: reason on stderr, exit 1; warnings do not fail", async () => {
    const f = write("bad.yaml", "upstream: wan0\ndownstream: [eth0]\nigmp:\n  query-interval: abc\n");
    const r = await cli("check-config", f);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      `improxy: ${f}:4: \`query-interval\` must be an integer from 1 to 31744, got "abc"`,
    ]);
    const w = write("warn.yaml", "upstream: wan0\ndownstream: [eth0]\nrobustness-variable: 1\n");
    const rw = await cli("check-config", w);
    assert.equal(rw.code, 0);
    assert.match(rw.err[0] ?? "", new RegExp(`^improxy: ${w}:3: warning: `));
  });
});
