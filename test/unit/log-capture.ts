/** A pino logger whose JSON lines are kept in memory, for tests that check what is logged. */
import { type Logger, pino } from "pino";

export type CapturedLine = Record<string, unknown> & { level: number; msg: string };

export function captureLogger(): { log: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const log = pino(
    { level: "trace" },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as CapturedLine);
      },
    },
  );
  return { log, lines };
}
