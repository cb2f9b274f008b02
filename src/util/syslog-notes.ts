/**
 * The syslog destination's notes on stderr (syslog.ts): at most one per interval, each
 * saying what happened since the one before. Lines that went to stderr are counted.
 *
 *   improxy: syslog socket /dev/log does not exist (no syslog daemon yet?): log lines go to stderr until it does
 *   improxy: cannot send to the syslog socket /dev/log (ECONNREFUSED): log lines go to stderr until it can be reached
 *   improxy: still cannot send to the syslog socket /dev/log (ENOENT): 42 log lines went to stderr since the last note
 *   improxy: the syslog socket /dev/log takes log lines again; 42 went to stderr meanwhile
 */

const HINTS: Readonly<Record<string, string>> = {
  ENOENT: "no syslog daemon?",
  ECONNREFUSED: "the syslog daemon stopped?",
  EPROTOTYPE: "a stream socket: improxy sends datagrams",
  EACCES: "no permission to write to it",
  EAGAIN: "the syslog daemon does not keep up",
};

export function throttledNote(
  where: { path: string; tag: string },
  io: { now(): number; stderr(text: string): void },
  intervalMs: number,
) {
  let lastNote = Number.NEGATIVE_INFINITY;
  /** Lines written to stderr since the last note. */
  let count = 0;
  /** The current failure (an errno code) has been noted; null: the socket takes lines. */
  let failing: { code: string; noted: boolean } | null = null;

  const say = (text: string) => {
    lastNote = io.now();
    count = 0;
    io.stderr(`${where.tag}: ${text}\n`);
  };
  const due = () => io.now() - lastNote >= intervalMs;
  const socket = `the syslog socket ${where.path}`;

  return {
    missingAtStart(): void {
      failing = { code: "ENOENT", noted: true };
      say(
        `syslog socket ${where.path} does not exist (no syslog daemon yet?): log lines go to stderr until it does`,
      );
    },
    /** A line went to stderr instead (before it is written). */
    failed(code: string): void {
      if (failing?.code !== code) failing = { code, noted: false };
      if (due()) {
        const hint = HINTS[code] ? `, ${HINTS[code]}` : "";
        const gone = count > 0 ? `; ${count} went to stderr since the last note` : "";
        say(
          failing.noted
            ? `still cannot send to ${socket} (${code}${hint}): ${count} log lines went to stderr since the last note`
            : `cannot send to ${socket} (${code}${hint}): log lines go to stderr until it can be reached${gone}`,
        );
        failing.noted = true;
      }
      count++;
    },
    /** A line went to the socket. */
    sent(): void {
      failing = null;
      if (count > 0 && due()) say(`${socket} takes log lines again; ${count} went to stderr meanwhile`);
    },
  };
}
