/**
 * The man pages (man/improxy.8, man/improxy.conf.5): their generated parts match their
 * sources (npm run docs:man), groff finds nothing to warn about, and they cover the
 * command line and the settings.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { main } from "../../src/cli/main.js";
import {
  generatedPages,
  MAN_COMMAND_FILE,
  MAN_CONF_FILE,
  roffText,
  settingsRoff,
} from "../../src/config/man-pages.js";
import { SETTINGS } from "../../src/config/settings.js";
import { packageVersion } from "../../src/util/version.js";

const read = (f: string) => readFileSync(f, "utf8");
const GROFF = spawnSync("groff", ["-v"], { encoding: "utf8" }).status === 0;

/** The long and short options of `improxy ARGS -h`, as the CLI prints them. */
async function helpOptions(args: string[]): Promise<string[]> {
  const out: string[] = [];
  await main([...args, "-h"], { stdout: (l) => out.push(l), stderr: (l) => out.push(l), stderrIsTty: false });
  const text = out.join("\n");
  const options = text.slice(
    text.indexOf("Options:"),
    text.includes("Commands:") ? text.indexOf("Commands:") : undefined,
  );
  return [...new Set(options.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? [])];
}

/** Roff text as a reader sees it: "\-" is "-", font escapes gone. */
function plain(roff: string): string {
  return roff
    .replace(/\\-/g, "-")
    .replace(/\\f[BIRP]/g, "")
    .replace(/\\&/g, "");
}

describe("man pages", () => {
  test("the committed pages are what npm run docs:man writes (settings section, version)", () => {
    for (const [file, text] of generatedPages(read))
      assert.equal(read(file), text, `run: npm run docs:man (${file})`);
    assert.match(
      read(MAN_COMMAND_FILE),
      new RegExp(`^\\.TH IMPROXY 8 \\S+ "improxy ${packageVersion().replace(/\./g, "\\.")}"`, "m"),
    );
  });

  test("improxy.conf(5) lists every setting with its default", () => {
    const page = plain(read(MAN_CONF_FILE));
    for (const row of SETTINGS) {
      assert.match(page, new RegExp(`^\\.B ${row.yaml}\\n[^\\n]*Default: `, "m"), row.yaml);
    }
    assert.ok(
      settingsRoff()
        .split("\n")
        .every((l) => !/^['.](?!TP|B |br)/.test(l)),
      "no stray control lines",
    );
  });

  test("roffText escapes what groff would read as markup", () => {
    assert.equal(roffText(".starts with a dot"), "\\&.starts with a dot");
    assert.equal(roffText("a \\ b"), "a \\e b");
    assert.equal(roffText("`fast-leave` §4"), "\\fBfast\\-leave\\fR \\[u00A7]4");
  });

  test("improxy(8) names every command and every option the CLI's help lists", async () => {
    const page = plain(read(MAN_COMMAND_FILE));
    for (const cmd of ["", "check-config", "status", "show", "reload", "mcast", "lab"]) {
      if (cmd) assert.match(page, new RegExp(`^\\.(SS|TP|B|BI) ${cmd}\\b`, "m"), `command ${cmd}`);
      const options = await helpOptions(cmd ? [cmd] : []);
      assert.ok(options.length > 1, `options of ${cmd || "improxy"}`);
      for (const o of options) assert.ok(page.includes(o), `improxy ${cmd} ${o} is not in improxy(8)`);
    }
    for (const section of ["SIGNALS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"]) {
      assert.match(page, new RegExp(`^\\.SH ${section}$`, "m"));
    }
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1"]) assert.ok(page.includes(signal), signal);
  });

  test("improxy.conf(5) describes the three formats", () => {
    const page = read(MAN_CONF_FILE);
    for (const section of ["IMPROXY FORMAT", "IGMPPROXY FORMAT", "YAML FORMAT", "SETTINGS", "EXAMPLES"]) {
      assert.match(page, new RegExp(`^\\.SH ${section}$`, "m"));
    }
    for (const directive of [
      "phyint",
      "altnet",
      "whitelist",
      "blacklist",
      "quickleave",
      "down_to_up",
      "defaultdown",
    ]) {
      assert.ok(page.includes(directive), directive);
    }
  });

  for (const file of [MAN_COMMAND_FILE, MAN_CONF_FILE]) {
    test(`groff -man -ww prints no warning for ${file.split("/").pop()}`, {
      skip: GROFF ? false : "groff is not installed (Debian package groff)",
    }, () => {
      const r = spawnSync("groff", ["-man", "-ww", "-z", file], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
    });
  }
});
