import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type LogFlags, parseDebugLevel, parseLogFormat, parseLogTarget } from "../../src/cli/args.js";
import { IGMPPROXY_USAGE, invokedAsIgmpproxy, parseIgmpproxyArgs } from "../../src/cli/igmpproxy.js";
import { main } from "../../src/cli/main.js";
import { parseYamlConfig } from "../../src/config/yaml-format.js";
import { tempDir } from "../support/temp.js";

/** Runs main() in-process, capturing output. Only paths that never reach runDaemon. */
async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  return run("improxy", argv);
}

/** The same, invoked under the name igmpproxy. */
async function igmpproxy(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  return run("igmpproxy", argv);
}

async function run(name: string, argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
      stderrIsTty: false,
    },
    name,
  );
  return { code, out, err };
}

const dir = tempDir("improxy-cli-");
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

  test("log target: stderr by default, syslog with its defaults, mistakes named", () => {
    const improxy = { target: "stderr", facility: "daemon", tag: "improxy" } as const;
    const igmpproxy = { target: "syslog", facility: "user", tag: "igmpproxy" } as const;
    assert.deepEqual(parseLogTarget({}, improxy), { syslog: null });
    assert.deepEqual(parseLogTarget({ logTarget: "syslog" }, improxy), {
      syslog: { path: "/dev/log", format: "rfc3164", facility: "daemon", tag: "improxy" },
    });
    assert.deepEqual(
      parseLogTarget(
        { logTarget: "syslog", syslogPath: "/tmp/l", syslogFormat: "rfc5424", syslogFacility: "local7" },
        improxy,
      ),
      { syslog: { path: "/tmp/l", format: "rfc5424", facility: "local7", tag: "improxy" } },
    );
    // igmpproxy's default is syslog, facility user; --log-format (a stderr format) means stderr.
    assert.deepEqual(parseLogTarget({}, igmpproxy), {
      syslog: { path: "/dev/log", format: "rfc3164", facility: "user", tag: "igmpproxy" },
    });
    assert.deepEqual(parseLogTarget({ logFormat: "json" }, igmpproxy), { syslog: null });
    const reason = (flags: LogFlags) => parseLogTarget(flags, improxy) as string;
    assert.match(reason({ logTarget: "file" }), /--log-target must be stderr or syslog/);
    assert.match(
      reason({ syslogPath: "/x", syslogFacility: "local1" }),
      /^--syslog-path, --syslog-facility: only with --log-target syslog/,
    );
    assert.match(
      reason({ logTarget: "syslog", logFormat: "json" }),
      /--log-format is the format of stderr logs/,
    );
    assert.match(
      reason({ logTarget: "syslog", syslogFormat: "rfc1" }),
      /--syslog-format must be rfc3164 or rfc5424/,
    );
    assert.match(
      reason({ logTarget: "syslog", syslogFacility: "kern" }),
      /--syslog-facility must be daemon, user or local0/,
    );
    assert.match(
      reason({ logTarget: "syslog", syslogPath: `/${"x".repeat(107)}` }),
      /--syslog-path must be 1 to 107 bytes/,
    );
  });

  test("log target options on the command line: a mistake is an error before the daemon starts", async () => {
    const f = write("ok2.conf", "igmp enable\nupstream wan0\ndownstream eth0\n");
    const a = await cli("-c", f, "--syslog-path", "/tmp/x");
    assert.equal(a.code, 1);
    assert.match(a.err.join("\n"), /improxy: --syslog-path: only with --log-target syslog/);
    const b = await cli("-c", f, "--log-target", "syslog", "--syslog-facility", "kern");
    assert.equal(b.code, 1);
    assert.match(b.err.join("\n"), /--syslog-facility/);
    const c = await cli("-c", f, "--log-target", "syslog", "--log-format", "json");
    assert.equal(c.code, 1);
    assert.match(c.err.join("\n"), /--log-format is the format of stderr logs/);
    const d = await igmpproxy("-d", "--syslog-format", "rfc5424", f);
    assert.equal(d.code, 1);
    assert.equal(d.err[0], "igmpproxy: --syslog-format: only with --log-target syslog");
  });
});

describe("options by position: the program's before a subcommand, the subcommand's after it", () => {
  test("-p PIDFILE is still the daemon's pid file in `improxy -c F -p PIDFILE`", async () => {
    const f = write("pid-bad.conf", "igmp enable\nupstream wan0\nfoo\n");
    const r = await cli("-c", f, "-p", join(dir, "improxy.pid"));
    assert.equal(r.code, 1);
    assert.match(
      r.err.join("\n"),
      /pid-bad\.conf:3: unknown keyword "foo"/,
      "-p PIDFILE accepted, the config read",
    );
    const missing = await cli("-c", f, "-p");
    assert.equal(missing.code, 1);
    assert.match(missing.err.join("\n"), /option '-p, --pidfile <file>' argument missing/);
  });

  test("status / show / reload -c FILE take the control socket from FILE, before or after", async () => {
    const sock = join(dir, "nobody", "improxy.sock");
    const f = write("control.yaml", `upstream: wan0\ndownstream: [eth0]\ncontrol-socket: ${sock}\n`);
    for (const argv of [
      ["status", "-c", f],
      ["status", "--json", "-c", f],
      ["show", "groups", "-c", f],
      ["reload", "-c", f],
      ["-c", f, "status"],
      ["-c", f, "show", "routes"],
      ["-c", f, "reload"],
    ]) {
      const r = await cli(...argv);
      assert.deepEqual(
        [r.code, r.err],
        [1, [`improxy: no daemon is listening on ${sock} (is improxy running?)`]],
        argv.join(" "),
      );
    }
  });

  test("a program option after a subcommand is the subcommand's or an error, never the program's", async () => {
    const r = await cli("lab", "-p", "x");
    assert.equal(r.code, 1);
    assert.match(r.err.join("\n"), /unknown option '-p'/);
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

describe("check-config: interfaces this host does not have", () => {
  test("a warning per missing interface, with its line; exit 0", async () => {
    // "lo" exists in every network namespace; the other two names cannot exist (no such driver names them).
    const f = write("missing.yaml", "upstream: lo\ndownstream:\n  - zz-nope0\n  - name: zz-nope1\n");
    const r = await cli("check-config", f);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, [
      `improxy: ${f}:3: warning: interface "zz-nope0" does not exist on this host (a typo? the daemon would wait for it)`,
      `improxy: ${f}:4: warning: interface "zz-nope1" does not exist on this host (a typo? the daemon would wait for it)`,
    ]);
  });
});

describe("check-config --to yaml", () => {
  test("prints the equivalent YAML on stdout; warnings still go to stderr", async () => {
    const f = write(
      "igmpproxy.conf",
      "quickleave\nphyint wan upstream ratelimit 5\n altnet 10.0.0.0/8\nphyint lan downstream\n",
    );
    const r = await cli("check-config", "--to", "yaml", f);
    assert.equal(r.code, 0, r.err.join("\n"));
    const yaml = r.out.join("\n");
    assert.match(yaml, /^upstream:\n {2}name: wan {2}# line 2\n {2}sources: \[10\.0\.0\.0\/8\]/m);
    assert.equal(parseYamlConfig(yaml, "x.yaml").config.downstreams[0]!.igmp!.fastLeave, true);
    assert.match(r.err[0] ?? "", new RegExp(`^improxy: ${f}:2: warning: ratelimit 5`));
  });

  test("--to takes yaml only, and not together with --json; a bad file is FILE:LINE, exit 1", async () => {
    const f = write("ok2.conf", "igmp enable\nupstream wan0\ndownstream eth0\n");
    assert.equal((await cli("check-config", "--to", "xml", f)).code, 1);
    const both = await cli("check-config", "--to", "yaml", "--json", f);
    assert.equal(both.code, 1);
    assert.match(both.err.join("\n"), /--json or --to yaml, not both/);
    const bad = write("bad2.conf", "phyint wan upstream\n");
    const r = await cli("check-config", "--to", "yaml", bad);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      `improxy: ${bad}:1: no downstream: add "phyint IF downstream" or "defaultdown"`,
    ]);
    assert.deepEqual(r.out, []);
  });
});

describe("invoked as igmpproxy: igmpproxy's command line", () => {
  test("argument parsing: -h, -n, -d, -v, -v -v, combined flags, the file anywhere, --", () => {
    assert.deepEqual(parseIgmpproxyArgs(["-h"]), { kind: "help" });
    assert.deepEqual(parseIgmpproxyArgs(["-n", "-h", "x"]), { kind: "help" });
    const run = (...a: string[]) => parseIgmpproxyArgs(a);
    assert.deepEqual(run("/etc/igmpproxy.conf"), {
      kind: "run",
      configFile: "/etc/igmpproxy.conf",
      debugLevel: 2,
      debugMode: false,
      log: {},
    });
    assert.equal((run("-v", "f") as { debugLevel: number }).debugLevel, 3);
    assert.equal((run("-v", "-v", "f") as { debugLevel: number }).debugLevel, 4);
    assert.equal((run("-vv", "f") as { debugLevel: number }).debugLevel, 4);
    assert.equal((run("-d", "f") as { debugLevel: number }).debugLevel, 4);
    assert.equal((run("-n", "f") as { debugLevel: number }).debugLevel, 2);
    assert.equal((run("-nv", "f") as { debugLevel: number }).debugLevel, 3);
    assert.equal(
      (run("f", "-d") as { configFile: string }).configFile,
      "f",
      "options after the file (GNU getopt)",
    );
    assert.equal((run("--", "-weird") as { configFile: string }).configFile, "-weird");
    const log = (...a: string[]) => (run(...a) as { log: LogFlags }).log;
    assert.deepEqual(log("--log-format", "json", "f"), { logFormat: "json" });
    assert.deepEqual(log("--log-format=pretty", "f"), { logFormat: "pretty" });
    assert.deepEqual(log("f", "--log-target", "stderr", "--syslog-path=/x", "--syslog-format", "rfc5424"), {
      logTarget: "stderr",
      syslogPath: "/x",
      syslogFormat: "rfc5424",
    });
    assert.deepEqual(log("--syslog-facility", "local3", "f"), { syslogFacility: "local3" });
    assert.equal((run("-d", "f") as { debugMode: boolean }).debugMode, true);
    assert.equal((run("-n", "f") as { debugMode: boolean }).debugMode, false);
    assert.deepEqual(run("f", "--syslog-path"), {
      kind: "error",
      message: "option '--syslog-path' requires an argument",
    });
    assert.deepEqual(run("-x", "f"), { kind: "error", message: "invalid option -- 'x'" });
    assert.deepEqual(run("-c", "f"), { kind: "error", message: "invalid option -- 'c'" });
    assert.deepEqual(run(), { kind: "error", message: "You must specify the configuration file." });
    assert.equal(run("a", "b").kind, "error");
    assert.equal(run("--frob", "f").kind, "error");
  });

  test("the program name decides", () => {
    assert.equal(invokedAsIgmpproxy("/usr/sbin/igmpproxy"), true);
    assert.equal(invokedAsIgmpproxy("igmpproxy"), true);
    assert.equal(invokedAsIgmpproxy("/usr/lib/improxy/dist/src/cli/main.js"), false);
    assert.equal(invokedAsIgmpproxy("/usr/bin/improxy"), false);
    assert.equal(invokedAsIgmpproxy(undefined), false);
  });

  test("-h prints igmpproxy's usage on stderr, exit 0", async () => {
    const r = await igmpproxy("-h");
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.join("\n"), IGMPPROXY_USAGE);
    assert.match(r.err[0]!, /^Usage: igmpproxy \[-h\] \[-n\] \[-d\] \[-v \[-v\]\] <configfile>/);
  });

  test("no file or a bad option: the reason and the usage on stderr, exit 1", async () => {
    const none = await igmpproxy("-d");
    assert.equal(none.code, 1);
    assert.equal(none.err[0], "igmpproxy: You must specify the configuration file.");
    const bad = await igmpproxy("-q", "x.conf");
    assert.equal(bad.code, 1);
    assert.equal(bad.err[0], "igmpproxy: invalid option -- 'q'");
    const fmt = await igmpproxy("--log-format", "xml", "x.conf");
    assert.equal(fmt.code, 1);
    assert.match(fmt.err[0]!, /--log-format must be pretty or json/);
  });

  test("a config error: FILE:LINE: reason, exit 1, before anything runs", async () => {
    const f = write(
      "igmpproxy-bad.conf",
      "quickleave\nphyint wan upstream\nphyint lan downstream\nphyint lan disabled\n",
    );
    const r = await igmpproxy("-n", "-v", f);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [`improxy: ${f}:4: second phyint for "lan" (first on line 3)`]);
  });
});

describe("show: filters and strict arguments", () => {
  // No daemon listens here: argument errors are found before the socket is tried.
  const socket = join(dir, "none.sock");
  const usageError = async (argv: string[], reason: RegExp) => {
    const r = await cli(...argv, "--socket", socket);
    assert.equal(r.code, 2, `${argv.join(" ")}: ${r.err.join("\n")}`);
    assert.equal(r.out.length, 0);
    assert.match(r.err[0] ?? "", reason, argv.join(" "));
    assert.match(
      r.err.at(-1) ?? "",
      /^usage: improxy show interfaces\|groups\|sources\|routes\|stats \[INTERFACE\]/,
    );
  };

  test("unknown views and options, stray arguments, filters the view does not take, bad addresses: usage, exit 2", async () => {
    await usageError(["show", "groups", "dn1", "dn2"], /too many arguments for 'show'/);
    await usageError(["show", "groups", "--foo"], /unknown option '--foo'/);
    await usageError(
      ["show", "neighbours"],
      /show what\? one of: interfaces, groups, sources, routes, stats/,
    );
    await usageError(
      ["show", "interfaces", "--source", "10.1.1.1"],
      /show interfaces takes no source filter/,
    );
    await usageError(["show", "stats", "dn1", "--group", "239.1.1.1"], /show stats takes no group filter/);
    await usageError(
      ["show", "groups", "--group", "10.1.1.1"],
      /"10.1.1.1" is not a multicast address or prefix/,
    );
    await usageError(["show", "routes", "--source", "10.1.1"], /"10.1.1" is not an IPv4 or IPv6 prefix/);
    await usageError(["show", "routes", "--group", "239.1.0.0/40"], /invalid prefix length/);
    await usageError(["show", "groups", "--family", "ipx"], /--family must be ipv4 or ipv6/);
    const missing = await cli("show");
    assert.equal(missing.code, 2);
    assert.match(missing.err.join("\n"), /missing required argument 'what'/);
  });

  test("valid filters go to the daemon (none here: one line, exit 1); -h exits 0", async () => {
    for (const argv of [
      ["show", "groups", "dn1", "--group", "239.1.0.0/16", "--source", "10.0.0.1"],
      ["show", "routes", "up0", "--group", "ff05::1:1"],
      ["show", "stats", "dn1", "--family", "ipv6", "--json"],
    ]) {
      const r = await cli(...argv, "--socket", socket);
      assert.equal(r.code, 1, argv.join(" "));
      assert.deepEqual(r.err, [`improxy: no daemon is listening on ${socket} (is improxy running?)`]);
    }
    const h = await cli("show", "-h");
    assert.equal(h.code, 0);
    assert.match(h.out.join("\n"), /--group <group>/);
  });

  test("status and reload take no stray argument (exit 1 as their other usage errors)", async () => {
    for (const cmd of ["status", "reload"]) {
      const r = await cli(cmd, "dn1", "--socket", socket);
      assert.equal(r.code, 1, cmd);
      assert.match(r.err.join("\n"), new RegExp(`too many arguments for '${cmd}'`));
    }
  });
});
