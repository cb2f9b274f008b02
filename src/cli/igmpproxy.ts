/**
 * igmpproxy's command line, taken when the program is invoked as `igmpproxy` (a symlink to
 * the CLI; docs/igmpproxy-compat.md "Command line"):
 *
 *   igmpproxy [-h] [-n] [-d] [-v [-v]] CONFIGFILE
 *
 * Parsed as igmpproxy's getopt("vdnh") does: options may be combined (`-vv`, `-nd`) and may
 * come after the file; `--` ends them. Levels as igmpproxy's syslog levels map onto
 * improxy's `-d`: LOG_WARNING by default (2), `-v` LOG_INFO (3), `-v -v` LOG_DEBUG (4);
 * `-d` is debug mode: every message on stderr (4). `-n` (do not fork) is accepted: improxy
 * never forks. Logs go where igmpproxy's go: to syslog (facility user, tag igmpproxy, as its
 * openlog("igmpproxy", LOG_PID, LOG_USER)), to stderr with `-d`. improxy's own additions:
 * `--log-format pretty|json` (stderr), `--log-target`, `--syslog-path`, `--syslog-format`,
 * `--syslog-facility` (args.ts parseLogTarget). Pure.
 */
import type { LogFlags, LogFormat } from "./args.js";

export const IGMPPROXY_USAGE = [
  "Usage: igmpproxy [-h] [-n] [-d] [-v [-v]] <configfile>",
  "",
  "   -h   Display this help screen",
  "   -n   Do not run as a daemon (improxy never forks: accepted)",
  "   -d   Run in debug mode. Output all messages on stderr. Implies -n.",
  "   -v   Be verbose. Give twice to see even debug messages.",
  "",
  "   --log-format pretty|json   log lines on stderr for people or machines (default: pretty on a terminal)",
  "   --log-target stderr|syslog where logs go (default: syslog, stderr with -d or --log-format)",
  "   --syslog-path PATH         syslog socket (default /dev/log)",
  "   --syslog-format rfc3164|rfc5424, --syslog-facility user|daemon|local0..local7 (default user)",
  "",
  "improxy in igmpproxy mode: the config file may be in igmpproxy's, IMProxy's or YAML format.",
].join("\n");

/** improxy `-d` levels for igmpproxy's: warning (default), info (-v), debug (-v -v, -d). */
export const IGMPPROXY_LEVELS = { default: 2, verbose: 3, debug: 4 } as const;

export type IgmpproxyArgs =
  | { kind: "help" }
  | { kind: "error"; message: string }
  | {
      kind: "run";
      configFile: string;
      debugLevel: number;
      /** `-d`: every message on stderr (igmpproxy's Log2Stderr), else syslog. */
      debugMode: boolean;
      log: LogFlags;
    };

/** improxy's long options in igmpproxy mode, each with a value. */
const LONG_OPTIONS: Readonly<Record<string, keyof LogFlags>> = {
  "--log-format": "logFormat",
  "--log-target": "logTarget",
  "--syslog-path": "syslogPath",
  "--syslog-format": "syslogFormat",
  "--syslog-facility": "syslogFacility",
};

export function parseIgmpproxyArgs(argv: readonly string[]): IgmpproxyArgs {
  let verbose = 0;
  let debug = false;
  const log: LogFlags = {};
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      files.push(...argv.slice(i + 1));
      break;
    }
    const name = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg;
    const key = Object.hasOwn(LONG_OPTIONS, name) ? LONG_OPTIONS[name] : undefined;
    if (key !== undefined) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
      if (value === undefined) return { kind: "error", message: `option '${name}' requires an argument` };
      log[key] = value;
      continue;
    }
    if (arg.startsWith("--")) return { kind: "error", message: `unrecognized option '${arg}'` };
    if (!arg.startsWith("-") || arg === "-") {
      files.push(arg);
      continue;
    }
    for (const c of arg.slice(1)) {
      switch (c) {
        case "h":
          return { kind: "help" };
        case "n":
          break;
        case "d":
          debug = true;
          break;
        case "v":
          verbose++;
          break;
        default:
          return { kind: "error", message: `invalid option -- '${c}'` };
      }
    }
  }
  if (files.length !== 1) {
    return {
      kind: "error",
      message:
        files.length === 0
          ? "You must specify the configuration file."
          : `one configuration file, got ${files.length}: ${files.join(" ")}`,
    };
  }
  const debugLevel =
    debug || verbose >= 2
      ? IGMPPROXY_LEVELS.debug
      : verbose === 1
        ? IGMPPROXY_LEVELS.verbose
        : IGMPPROXY_LEVELS.default;
  return { kind: "run", configFile: files[0]!, debugLevel, debugMode: debug, log };
}

/** Whether the program was invoked under igmpproxy's name (argv[1] is the path it was run by). */
export function invokedAsIgmpproxy(scriptPath: string | undefined): boolean {
  if (!scriptPath) return false;
  const base = scriptPath.split("/").pop() ?? "";
  return base === "igmpproxy" || base === "igmpproxy.js";
}

export type { LogFormat };
