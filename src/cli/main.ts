#!/usr/bin/env node
/**
 * The `improxy` command line.
 *
 *   improxy -c FILE [-d 0..5] [-p PIDFILE] [--log-format pretty|json]   run the proxy (as IMProxy)
 *           [--log-target stderr|syslog] [--syslog-path P] [--syslog-format F] [--syslog-facility F]
 *   improxy -v | -h
 *   improxy check-config FILE [--json | --to yaml]   validate, print the effective config
 *                                          (or the equivalent YAML file)
 *   improxy mcast -m GROUP -r|-s [-p PORT] [-t TTL] [-l ADDR] [...]
 *                                          multicast test receiver / sender (mcast_test.py)
 *   improxy lab [--duration S]             network-namespace demo
 *   improxy status [--json]                ask the running daemon (control socket)
 *   improxy show interfaces|groups|sources|routes|stats [INTERFACE] [--group G] [--source S] [--json]
 *   improxy reload [--json]                re-read the config (as SIGHUP), print what changed
 *
 * Invoked as `igmpproxy` (a symlink named so), it takes igmpproxy's command line instead
 * (igmpproxy.ts): `igmpproxy [-h] [-n] [-d] [-v [-v]] CONFIGFILE`.
 *
 * Each command's module is imported when that command runs, so that the daemon does not
 * load the lab, the test tool or the control client (docs/architecture.md "Memory").
 */
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import {
  DEFAULT_DEBUG_LEVEL,
  DEFAULT_SYSLOG_PATH,
  type LogFlags,
  parseDebugLevel,
  parseLogFormat,
  parseLogTarget,
} from "./args.js";
import { IGMPPROXY_USAGE, invokedAsIgmpproxy, parseIgmpproxyArgs } from "./igmpproxy.js";
import type { DaemonCommand, Printer } from "./commands/daemon.js";
import type { ShowCliOptions } from "./commands/show.js";
import { SHOW_USAGE, SHOW_USAGE_EXIT } from "./commands/show-usage.js";
import type { ControlCliOptions } from "./commands/status.js";
import type { RawMcastOptions } from "./mcast/options.js";
import { packageVersion } from "../util/version.js";

export interface CliIo {
  stdout: Printer;
  stderr: Printer;
  stderrIsTty: boolean;
}

const defaultIo: CliIo = {
  stdout: (l) => process.stdout.write(`${l}\n`),
  stderr: (l) => process.stderr.write(`${l}\n`),
  stderrIsTty: process.stderr.isTTY === true,
};

/**
 * igmpproxy's command line (igmpproxy.ts): usage on stderr and exit 0 for -h, a message and
 * exit 1 for a bad option or a missing file, else the daemon with that config file.
 */
export async function igmpproxyMain(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const args = parseIgmpproxyArgs(argv);
  if (args.kind === "help") {
    io.stderr(IGMPPROXY_USAGE);
    return 0;
  }
  if (args.kind === "error") {
    io.stderr(`igmpproxy: ${args.message}`);
    io.stderr(IGMPPROXY_USAGE);
    return 1;
  }
  const format = parseLogFormat(args.log.logFormat, io.stderrIsTty);
  if (format !== "pretty" && format !== "json") {
    io.stderr(`igmpproxy: ${format}`);
    return 1;
  }
  // igmpproxy logs to syslog (openlog("igmpproxy", LOG_PID, LOG_USER)), with -d to stderr only.
  const target = parseLogTarget(args.log, {
    target: args.debugMode ? "stderr" : "syslog",
    facility: "user",
    tag: "igmpproxy",
  });
  if (typeof target === "string") {
    io.stderr(`igmpproxy: ${target}`);
    return 1;
  }
  return runDaemonCommand(
    {
      configFile: args.configFile,
      debugLevel: args.debugLevel,
      pidFile: undefined,
      logFormat: format,
      syslog: target.syslog,
    },
    io.stderr,
  );
}

/** The daemon command, imported when it runs. */
async function runDaemonCommand(cmd: DaemonCommand, stderr: Printer): Promise<number> {
  const { daemonCommand } = await import("./commands/daemon.js");
  return daemonCommand(cmd, stderr);
}

/**
 * Parses `argv` (without node and script) and runs the command; resolves with the exit code.
 * `name` is the name the program was invoked by: "igmpproxy" takes igmpproxy's command line.
 */
export async function main(
  argv: readonly string[],
  io: CliIo = defaultIo,
  name = "improxy",
): Promise<number> {
  if (name === "igmpproxy") return igmpproxyMain(argv, io);
  let code = 0;
  const program = new Command("improxy")
    .description("IGMP/MLD multicast proxy (RFC 4605), a drop-in for IMProxy")
    .configureOutput({
      writeOut: (s) => io.stdout(s.trimEnd()),
      writeErr: (s) => io.stderr(s.trimEnd()),
    })
    .exitOverride()
    // Options are taken by position: the program's before the subcommand, the subcommand's
    // after it. Otherwise Commander gives a program option (-p PIDFILE, -c FILE) precedence
    // wherever it appears, and `improxy mcast -p 1234` would set the pid file.
    .enablePositionalOptions()
    .helpOption("-h, --help", "show this help")
    .version(packageVersion(), "-v, --version", "print the version")
    .option("-c, --config <file>", "config file (IMProxy format, or YAML when named *.yaml / *.yml)")
    .option(
      "-d, --debug <level>",
      "log level 0 fatal, 1 error, 2 warning, 3 info, 4 debug, 5 trace",
      String(DEFAULT_DEBUG_LEVEL),
    )
    .option("-p, --pidfile <file>", "write the pid here; removed on exit")
    .addOption(
      new Option(
        "--log-format <format>",
        "pretty or json (default: pretty on a terminal, else json)",
      ).choices(["pretty", "json"]),
    )
    .addOption(
      new Option(
        "--log-target <target>",
        "stderr (default) or syslog: RFC 3164/5424 datagrams to the syslog socket",
      ).choices(["stderr", "syslog"]),
    )
    .option("--syslog-path <path>", `syslog socket (default ${DEFAULT_SYSLOG_PATH})`)
    .addOption(
      new Option("--syslog-format <format>", "rfc3164 (default) or rfc5424").choices(["rfc3164", "rfc5424"]),
    )
    .addOption(
      new Option("--syslog-facility <facility>", "syslog facility (default daemon)").choices([
        "daemon",
        "user",
        ...Array.from({ length: 8 }, (_, i) => `local${i}`),
      ]),
    )
    .allowExcessArguments()
    .action(async (opts: { config?: string; debug: string; pidfile?: string } & LogFlags) => {
      const stray = program.args[0];
      if (stray !== undefined) {
        program.error(
          `improxy: unknown command "${stray}" (commands: status, show, reload, check-config, mcast, lab; see improxy -h)`,
        );
      }
      if (opts.config === undefined) {
        program.help({ error: true });
      }
      const level = parseDebugLevel(opts.debug);
      if (typeof level === "string") program.error(`improxy: ${level}`);
      const format = parseLogFormat(opts.logFormat, io.stderrIsTty);
      if (format !== "pretty" && format !== "json") program.error(`improxy: ${format}`);
      const target = parseLogTarget(opts, { target: "stderr", facility: "daemon", tag: "improxy" });
      if (typeof target === "string") return program.error(`improxy: ${target}`);
      code = await runDaemonCommand(
        {
          configFile: opts.config!,
          debugLevel: level as number,
          pidFile: opts.pidfile,
          logFormat: format as "pretty" | "json",
          syslog: target.syslog,
        },
        io.stderr,
      );
    });

  program
    .command("check-config")
    .description("validate a config file and print the effective configuration (or the equivalent YAML file)")
    .argument("<file>", "config file (IMProxy, igmpproxy or YAML format)")
    .option("--json", "print the effective configuration as JSON")
    .addOption(
      new Option("--to <format>", "print the equivalent config file in this format instead").choices([
        "yaml",
      ]),
    )
    .action(async (file: string, opts: { json?: boolean; to?: string }) => {
      if (opts.json === true && opts.to !== undefined) {
        io.stderr("improxy: check-config takes --json or --to yaml, not both");
        code = 1;
        return;
      }
      const { checkConfigCommand } = await import("./commands/check-config.js");
      code = checkConfigCommand(
        file,
        opts.to === "yaml" ? "yaml" : opts.json === true ? "json" : "text",
        io.stdout,
        io.stderr,
      );
    });

  // mcast_test.py's flags (-m -r -s -p -t -l): enablePositionalOptions above keeps the
  // program's -p PIDFILE from taking mcast's -p PORT.
  program
    .command("mcast")
    .description("multicast test tool: join and print (-r) or send numbered, timestamped datagrams (-s)")
    .requiredOption("-m, --group <group>", "multicast group (IPv4 or IPv6)")
    .option("-r, --receive", "join the group and print one line per datagram")
    .option("-s, --send", "send datagrams to the group")
    .option("-p, --port <port>", "UDP port (default 1234)")
    .option("-t, --ttl <n>", "sender: TTL / hop limit (default 2)")
    .option(
      "-l, --local <address>",
      "local address: the receiver joins on its interface, the sender sends from it",
    )
    .addOption(new Option("--bind <address>", "the earlier name of -l").hideHelp())
    .option("--interface <ifname>", "interface to join on / send from, by name")
    .option("--source <address>", "receiver: source-specific join (S,G) instead of (*,G)")
    .option("--interval <ms>", "sender: milliseconds between datagrams (default 100)")
    .option("--count <n>", "stop after N datagrams sent or received (default: no limit)")
    .option("--duration <seconds>", "stop after S seconds (default: no limit)")
    .option("--size <bytes>", "sender: datagram size, at least 20 (default 20)")
    .option("--id <n>", "sender: sender id carried in each datagram (default random)")
    .option("--json", "one JSON object per line")
    .action(async (opts: RawMcastOptions) => {
      const { mcastCommand } = await import("./commands/mcast.js");
      code = await mcastCommand(opts, io.stdout, io.stderr);
    });

  program
    .command("lab")
    .description("build the network-namespace lab, run the proxy in it and show the result")
    .option("--duration <seconds>", "seconds each phase of the demo lasts (default 4)")
    .action(async (opts: { duration?: string }) => {
      const { labCommand } = await import("./commands/lab.js");
      code = await labCommand(opts.duration, io.stderr);
    });

  // Control socket commands (src/control): --socket PATH, else -c FILE's control-socket, else the default.
  // `improxy status -c FILE` is the subcommand's own -c; `improxy -c FILE status` the program's.
  const withConfig = (opts: ControlCliOptions): ControlCliOptions => {
    const config = opts.config ?? program.opts<{ config?: string }>().config;
    return config === undefined ? opts : { ...opts, config };
  };
  const controlOptions = (cmd: Command, json: boolean) => {
    cmd
      .option("--socket <path>", "control socket of the daemon")
      .option("-c, --config <file>", "take the control socket path from this config file")
      .option("--family <family>", "ipv4 or ipv6 only");
    if (json) cmd.option("--json", "print JSON (schema/status.schema.json)");
    return cmd;
  };
  controlOptions(
    program.command("status").description("summary of the running daemon").allowExcessArguments(false),
    true,
  ).action(async (opts: ControlCliOptions) => {
    const { statusCommand } = await import("./commands/status.js");
    code = await statusCommand(withConfig(opts), io.stdout, io.stderr);
  });
  controlOptions(
    program
      .command("show")
      .description("one view of the running daemon's state, optionally filtered")
      .argument("<what>", "interfaces, groups, sources, routes or stats")
      .argument(
        "[interface]",
        "only this interface (groups, sources: the downstream link; routes: incoming or outgoing)",
      )
      .option("--group <group>", "only this group (multicast address or prefix, e.g. 239.1.0.0/16)")
      .option("--source <source>", "only this source (address or prefix)")
      .allowExcessArguments(false)
      .showHelpAfterError(SHOW_USAGE)
      // Usage errors exit 2 (Commander's default is 1); help still exits 0.
      .exitOverride((err) => {
        if (err.exitCode === 0) throw err;
        throw new CommanderError(SHOW_USAGE_EXIT, err.code, err.message);
      }),
    true,
  ).action(async (what: string, iface: string | undefined, opts: ShowCliOptions) => {
    const { showCommand } = await import("./commands/show.js");
    code = await showCommand(what, iface, withConfig(opts), io.stdout, io.stderr);
  });
  program
    .command("reload")
    .description("make the running daemon re-read its config file (as SIGHUP) and print what changed")
    .allowExcessArguments(false)
    .option("--socket <path>", "control socket of the daemon")
    .option("-c, --config <file>", "take the control socket path from this config file")
    .option("--json", "print the reload report as JSON")
    .action(async (opts: ControlCliOptions) => {
      const { reloadCommand } = await import("./commands/reload.js");
      code = await reloadCommand(withConfig(opts), io.stdout, io.stderr);
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
  return code;
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  // A symlink named igmpproxy resolves to this file (realpath above) and keeps its name in argv[1].
  main(process.argv.slice(2), defaultIo, invokedAsIgmpproxy(process.argv[1]) ? "igmpproxy" : "improxy").then(
    (code) => process.exit(code),
    (err: unknown) => {
      const prog = invokedAsIgmpproxy(process.argv[1]) ? "igmpproxy" : "improxy";
      process.stderr.write(`${prog}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
