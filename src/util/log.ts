/**
 * Logging: pino, to stderr (journald picks it up), synchronous so nothing is lost on exit.
 * `-d` levels follow IMProxy: 0 fatal, 1 error (default), 2 warning, 3 info, 4 debug, 5 trace.
 * "pretty" is one readable line per event for terminals; "json" is one JSON object per line.
 */
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };
export type LogFormat = "pretty" | "json";

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** Maps an IMProxy `-d` level (0..5) to a pino level name. */
export function levelFromDebug(d: number): (typeof LEVELS)[number] {
  const i = Math.max(0, Math.min(LEVELS.length - 1, Math.trunc(d)));
  return LEVELS[i]!;
}

export function createLogger(opts: { debugLevel: number; format: LogFormat; name?: string }): Logger {
  const level = levelFromDebug(opts.debugLevel);
  const base = { name: opts.name ?? "improxy" };
  if (opts.format === "json") {
    return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
  }
  const stream = pretty({
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
