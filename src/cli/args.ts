/** Checks of the daemon's command-line values (IMProxy's -d, plus the log options). Pure. */
import { SUN_PATH_MAX } from "../kernel/structs/sockaddr.js";
import type { LogFormat } from "../util/log.js";
import type { SyslogSettings } from "../util/syslog.js";
import { isSyslogFacility, type SyslogFacility } from "../util/syslog-format.js";

export type { LogFormat };

/** `-d 0..5`: 0 fatal, 1 error (default), 2 warning, 3 info, 4 debug, 5 trace (util/log.ts maps them). */
export const DEFAULT_DEBUG_LEVEL = 1;

/** Returns the level, or a one-line reason. */
export function parseDebugLevel(text: string): number | string {
  if (!/^[0-5]$/.test(text))
    return `-d must be a level from 0 to 5 (0 fatal .. 4 debug, 5 trace), got "${text}"`;
  return Number(text);
}

/**
 * `--log-format`: explicit value, else pretty when stderr is a terminal (a person is
 * watching) and JSON otherwise (journald, files, tests parse it).
 */
export function parseLogFormat(text: string | undefined, stderrIsTty: boolean): LogFormat | string {
  if (text === undefined) return stderrIsTty ? "pretty" : "json";
  if (text === "pretty" || text === "json") return text;
  return `--log-format must be pretty or json, got "${text}"`;
}

/** Where syslog(3) sends: the local syslog daemon's socket. */
export const DEFAULT_SYSLOG_PATH = "/dev/log";

/** The log options as given on the command line (undefined: not given). */
export interface LogFlags {
  logFormat?: string | undefined;
  logTarget?: string | undefined;
  syslogPath?: string | undefined;
  syslogFormat?: string | undefined;
  syslogFacility?: string | undefined;
}

/**
 * `--log-target stderr|syslog` and the `--syslog-*` options: null for stderr, the syslog
 * settings, or a one-line reason. Without `--log-target`: `defaults.target`, but stderr
 * when `--log-format` (a stderr format) is given. `--log-format` with syslog, or a
 * `--syslog-*` option with stderr, is a mistake, not silently ignored.
 */
export function parseLogTarget(
  flags: LogFlags,
  defaults: { target: "stderr" | "syslog"; facility: SyslogFacility; tag: string },
): { syslog: SyslogSettings | null } | string {
  const given = flags.logTarget;
  if (given !== undefined && given !== "stderr" && given !== "syslog")
    return `--log-target must be stderr or syslog, got "${given}"`;
  const target = given ?? (flags.logFormat !== undefined ? "stderr" : defaults.target);
  const syslogFlags = (["syslogPath", "syslogFormat", "syslogFacility"] as const)
    .filter((k) => flags[k] !== undefined)
    .map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  if (target === "stderr") {
    if (syslogFlags.length > 0) return `${syslogFlags.join(", ")}: only with --log-target syslog`;
    return { syslog: null };
  }
  if (flags.logFormat !== undefined)
    return "--log-format is the format of stderr logs; with --log-target syslog, use --syslog-format";
  const format = flags.syslogFormat ?? "rfc3164";
  if (format !== "rfc3164" && format !== "rfc5424")
    return `--syslog-format must be rfc3164 or rfc5424, got "${format}"`;
  const facility = flags.syslogFacility ?? defaults.facility;
  if (!isSyslogFacility(facility))
    return `--syslog-facility must be daemon, user or local0 .. local7, got "${facility}"`;
  const path = flags.syslogPath ?? DEFAULT_SYSLOG_PATH;
  const bytes = Buffer.byteLength(path);
  if (bytes === 0 || bytes > SUN_PATH_MAX)
    return `--syslog-path must be 1 to ${SUN_PATH_MAX} bytes (a Unix socket path), got ${bytes}`;
  return { syslog: { path, format, facility, tag: defaults.tag } };
}

/** The one-line form of a configuration problem, as printed before exiting 1. */
export function configProblemLine(file: string, line: number, reason: string): string {
  return `improxy: ${file}:${line}: ${reason}`;
}
