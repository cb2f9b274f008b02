/** Checks of the daemon's command-line values (IMProxy's -d, plus --log-format). Pure. */
import type { LogFormat } from "../util/log.js";

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

/** The one-line form of a configuration problem, as printed before exiting 1. */
export function configProblemLine(file: string, line: number, reason: string): string {
  return `improxy: ${file}:${line}: ${reason}`;
}
