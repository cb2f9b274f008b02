/**
 * Logging: pino, to stderr (journald picks it up), synchronous so nothing is lost on exit;
 * or to syslog (syslog.ts: RFC 3164 / 5424 datagrams to /dev/log).
 * `-d` levels follow IMProxy: 0 fatal, 1 error (default), 2 warning, 3 info, 4 debug, 5 trace.
 * "pretty" is one readable line per event for terminals; "json" is one JSON object per line,
 * with the level as a word: {"level":"warn","time":"...","msg":"..."}.
 */
import { writeSync } from "node:fs";
import { createRequire } from "node:module";
import { type DestinationStream, pino, type Logger } from "pino";
import type PinoPretty from "pino-pretty";
import { SyslogDestination, type SyslogTarget } from "./syslog.js";
import { syslogSeverity } from "./syslog-format.js";

/** pino-pretty (a CommonJS module) is loaded when the pretty format is used, not by the service. */
const loadPretty = (): typeof PinoPretty => createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;

export type { Logger };
export type LogFormat = "pretty" | "json";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** Maps an IMProxy `-d` level (0..5) to a pino level name. */
export function levelFromDebug(d: number): (typeof LEVELS)[number] {
  const i = Math.max(0, Math.min(LEVELS.length - 1, Math.trunc(d)));
  return LEVELS[i]!;
}

/** A level word of a JSON line ("warn") as pino's number (40); `otherwise` for anything else (default info). */
export function levelNumber(word: string | undefined, otherwise = pino.levels.values.info!): number {
  return (word === undefined ? undefined : pino.levels.values[word]) ?? otherwise;
}

/** syslog priority (sd-daemon(3) prefix) of a pino level number: fatal 2 crit ... trace 7 debug. */
export const syslogPriority = syslogSeverity;

/**
 * JSON lines to stderr, each prefixed with `<N>` (its syslog priority) when stderr is the
 * journal (systemd sets $JOURNAL_STREAM): journald then files every line at its level.
 */
function jsonDestination(journal: boolean): DestinationStream {
  if (!journal) return pino.destination({ fd: 2, sync: true });
  return {
    write(line: string) {
      const m = /"level":"([a-z]+)"/.exec(line);
      try {
        writeSync(2, `<${syslogPriority(levelNumber(m?.[1]))}>${line}`);
      } catch {
        // The log reader is gone (EPIPE) or stderr is unusable: the line is lost, but
        // logging never throws into the code that logs (the other formats behave alike).
      }
    },
  };
}

export function createLogger(opts: {
  debugLevel: number;
  format: LogFormat;
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** Log to syslog instead of stderr (`format` is then not used). */
  syslog?: SyslogTarget;
}): Logger {
  const level = levelFromDebug(opts.debugLevel);
  const base = { name: opts.name ?? "improxy" };
  if (opts.syslog) return pino({ level, base }, new SyslogDestination(opts.syslog));
  if (opts.format === "json") {
    const journal = Boolean((opts.env ?? process.env).JOURNAL_STREAM);
    // The level as a word ("warn"), as log shippers and people read it, not pino's number.
    const formatters = { level: (label: string) => ({ level: label }) };
    return pino({ level, base, formatters, timestamp: pino.stdTimeFunctions.isoTime }, jsonDestination(journal));
  }
  const stream = loadPretty()({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,name",
    singleLine: true,
  });
  return pino({ level, base }, stream);
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
