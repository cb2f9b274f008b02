import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, it } from "node:test";
import { levelFromDebug, syslogPriority } from "../../src/util/log.js";

const LOG = resolve(import.meta.dirname, "../../src/util/log.ts");

/** Runs a child that logs one line per level at -d 5 and returns its stderr. */
function logAll(format: "json" | "pretty", env: Record<string, string>): string {
  const code = `import { createLogger } from ${JSON.stringify(LOG)};
const log = createLogger({ debugLevel: 5, format: ${JSON.stringify(format)} });
log.fatal("f"); log.error("e"); log.warn("w"); log.info("i"); log.debug("d"); log.trace("t");`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
  });
  return r.stderr;
}

describe("logging", () => {
  it("maps IMProxy -d levels to logger levels", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map(levelFromDebug), [
      "fatal",
      "error",
      "warn",
      "info",
      "debug",
      "trace",
      "trace",
    ]);
  });
  it("maps levels to syslog priorities", () => {
    assert.deepEqual([60, 50, 40, 30, 20, 10].map(syslogPriority), [2, 3, 4, 6, 7, 7]);
  });
  it("prefixes JSON lines with <priority> for journald only when stderr is the journal", () => {
    const journal = logAll("json", { JOURNAL_STREAM: "8:1234" }).trim().split("\n");
    assert.deepEqual(
      journal.map((l) => l.slice(0, 3)),
      ["<2>", "<3>", "<4>", "<6>", "<7>", "<7>"],
    );
    assert.equal(JSON.parse(journal[1]!.slice(3)).msg, "e");
    const plain = logAll("json", {}).trim().split("\n");
    assert.equal(plain.length, 6);
    assert.deepEqual(
      plain.map((l) => JSON.parse(l).level),
      ["fatal", "error", "warn", "info", "debug", "trace"],
      "the level as a word",
    );
  });
  for (const [format, env] of [
    ["json", {}],
    ["json", { JOURNAL_STREAM: "8:1" }],
    ["pretty", {}],
  ] as const) {
    it(`a closed stderr (EPIPE) never throws into the code that logs (${format}${env.JOURNAL_STREAM ? ", journal" : ""})`, async () => {
      const code = `import { createLogger } from ${JSON.stringify(LOG)};
const log = createLogger({ debugLevel: 3, format: ${JSON.stringify(format)} });
setTimeout(() => {
  try { for (let i = 0; i < 2000; i++) log.info({ i }, "a line of some length to fill the pipe"); }
  catch (e) { process.stdout.write("threw " + e.code + "\\n"); }
  setTimeout(() => process.stdout.write("alive\\n"), 50);
}, 300);`;
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stderr.destroy(); // the reader goes away before the first line
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      const codeOrSignal = await new Promise((res) => child.on("exit", (c, s) => res(c ?? s)));
      assert.equal(out, "alive\n");
      assert.equal(codeOrSignal, 0);
    });
  }
});
