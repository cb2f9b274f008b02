/**
 * syslog messages as text (pure): the RFC 3164 layout glibc's syslog(3) sends to /dev/log,
 * or the RFC 5424 layout; the log line's message and fields as `key=value`.
 *
 *   rfc3164  <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG            (RFC 3164 §4.1; no HOSTNAME on the
 *                                                           local socket, as glibc sends it)
 *   rfc5424  <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG   (RFC 5424 §6; no MSGID, no
 *                                                           structured data)
 *
 * PRI = facility * 8 + severity (RFC 5424 §6.2.1). A datagram is at most `maxBytes(format)`
 * long: longer messages are cut at a character boundary and end with TRUNCATED.
 */

export type SyslogFormat = "rfc3164" | "rfc5424";

/** The facilities a daemon may choose (RFC 5424 §6.2.1 table 1: user 1, daemon 3, local0..7 16..23). */
export const SYSLOG_FACILITIES = {
  user: 1,
  daemon: 3,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

export function isSyslogFacility(name: string): name is SyslogFacility {
  return Object.hasOwn(SYSLOG_FACILITIES, name);
}

/**
 * The largest datagram sent: RFC 3164 §4.1 bounds a message at 1024 bytes; RFC 5424 §6.1
 * asks receivers to take 2048. The receiver may keep less (busybox syslogd reads 256 bytes
 * unless built with more).
 */
export function maxBytes(format: SyslogFormat): number {
  return format === "rfc3164" ? 1024 : 2048;
}

/** What a cut message ends with. */
export const TRUNCATED = "...[truncated]";

export interface SyslogHeader {
  format: SyslogFormat;
  facility: SyslogFacility;
  /** 0 emerg .. 7 debug (RFC 5424 §6.2.1 table 2). */
  severity: number;
  time: Date;
  /** TAG (RFC 3164) / APP-NAME (RFC 5424): the program's name. */
  tag: string;
  pid: number;
  /** RFC 5424 HOSTNAME; RFC 3164 leaves it out on the local socket. */
  hostname: string;
}

/** syslog severity (RFC 5424 §6.2.1) of a pino level number: fatal 2 crit, error 3, warn 4, info 6, debug and trace 7. */
export function syslogSeverity(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 3164 §4.1.2 TIMESTAMP, local time: "Mmm dd hh:mm:ss", the day padded with a space. */
export function rfc3164Timestamp(t: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const day = String(t.getDate()).padStart(2, " ");
  return `${MONTHS[t.getMonth()]} ${day} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
}

/** RFC 5424 header fields are PRINTUSASCII without spaces, or "-" (NILVALUE) when empty. */
function headerField(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, "").slice(0, max);
  return clean === "" ? "-" : clean;
}

/** The header, up to and including the space before MSG. */
export function syslogHeader(h: SyslogHeader): string {
  const pri = SYSLOG_FACILITIES[h.facility] * 8 + h.severity;
  if (h.format === "rfc3164") return `<${pri}>${rfc3164Timestamp(h.time)} ${h.tag}[${h.pid}]: `;
  // RFC 5424 §6.2: HOSTNAME 255, APP-NAME 48, PROCID 128 characters at most.
  const host = headerField(h.hostname, 255);
  return `<${pri}>1 ${h.time.toISOString()} ${host} ${headerField(h.tag, 48)} ${h.pid} - - `;
}

/** Control characters (a newline in a message) as JSON escapes: one message, one line. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters replaced
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A field value: bare when it is one plain word, JSON otherwise (strings quoted, objects as JSON). */
export function fieldValue(v: unknown): string {
  if (typeof v === "string") {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a value with them is quoted
    return /^[^\s"=\\\x00-\x1f\x7f]+$/.test(v) ? v : JSON.stringify(v);
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  // pino's error serializer ({type, message, stack}): the message; the stack would not fit a line.
  const err = v as { message?: unknown; stack?: unknown } | null;
  if (typeof err?.message === "string" && typeof err.stack === "string") return JSON.stringify(err.message);
  return JSON.stringify(v) ?? String(v);
}

/** Keys of a pino JSON line that are not the event's fields. */
const NOT_FIELDS = new Set(["level", "time", "msg", "name", "pid", "hostname", "v"]);

/** MSG: the message, then every field as key=value, in the order logged. */
export function messageText(record: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof record.msg === "string" && record.msg !== "") parts.push(oneLine(record.msg));
  for (const [k, v] of Object.entries(record)) {
    if (NOT_FIELDS.has(k) || v === undefined) continue;
    parts.push(`${k}=${fieldValue(v)}`);
  }
  return parts.join(" ");
}

/** header + message as bytes, cut to `limit` bytes at a character boundary (with TRUNCATED). */
export function syslogDatagram(header: string, message: string, limit: number): Buffer {
  const full = Buffer.from(header + message, "utf8");
  if (full.length <= limit) return full;
  const marker = Buffer.from(TRUNCATED);
  let end = Math.max(0, limit - marker.length);
  // Back up over UTF-8 continuation bytes (10xxxxxx): never half a character.
  while (end > 0 && (full[end]! & 0xc0) === 0x80) end--;
  return Buffer.concat([full.subarray(0, end), marker]);
}
