/**
 * The syslog log destination: one datagram per log line to a Unix datagram socket (/dev/log),
 * formatted by syslog-format.ts; README.md "What it logs", docs/architecture.md "Logging".
 *
 * The socket itself is the kernel layer's (src/kernel/syslog-socket.ts: Node has no AF_UNIX
 * datagram socket); it comes in as a `DatagramSender`. Logging never throws into the code
 * that logs, and never loses a line silently:
 *
 * - a line the socket does not take (no syslog daemon: ENOENT; a stale socket file after
 *   the daemon stopped: ECONNREFUSED; any other error) goes to stderr, as the same text;
 *   every line tries the socket first, so a syslog daemon that (re)appears gets the lines
 *   from then on;
 * - a full receive queue (EAGAIN: the syslog daemon has not read the last
 *   net.unix.max_dgram_qlen datagrams yet; the socket is non-blocking, and a blocking one
 *   would stall the proxy behind a stuck syslog daemon, as syslog(3) does) keeps the lines
 *   in order in memory (at most QUEUE_MAX_BYTES, the rest to stderr) and retries every
 *   RETRY_MS; at exit it waits up to EXIT_WAIT_MS for room, then writes what is left to stderr;
 * - what happened is said on stderr, one note at most every NOTE_INTERVAL_MS: the first
 *   failure, a failure still going on (with the count of lines sent to stderr), the socket
 *   reachable again (with that count). A socket missing at start is noted at once.
 */
import { statSync, writeSync } from "node:fs";
import type { DestinationStream } from "pino";
import { throttledNote } from "./syslog-notes.js";
import {
  maxBytes,
  messageText,
  type SyslogFacility,
  type SyslogFormat,
  syslogDatagram,
  syslogHeader,
  syslogSeverity,
} from "./syslog-format.js";

/** One datagram to the syslog socket; throws an errno error (`.code`) when it is not taken. */
export interface DatagramSender {
  send(datagram: Uint8Array): void;
}

/** The choices of the command line (--syslog-path, --syslog-format, --syslog-facility). */
export interface SyslogSettings {
  /** The socket's path (/dev/log). */
  path: string;
  format: SyslogFormat;
  facility: SyslogFacility;
  /** TAG / APP-NAME: the program's name (improxy, igmpproxy). */
  tag: string;
}

/** The settings with the socket to send to and the RFC 5424 HOSTNAME. */
export interface SyslogTarget extends SyslogSettings {
  sender: DatagramSender;
  hostname: string;
}

/** What the destination needs from the process; tests replace it. */
export interface SyslogIo {
  now(): number;
  /** Writes text to stderr; never throws. */
  stderr(text: string): void;
  /** Whether `path` is a socket now. */
  isSocket(path: string): boolean;
  /** Calls `fn` after `ms` without keeping the process alive. */
  later(fn: () => void, ms: number): void;
  /** Runs `fn` when the process exits (synchronously, as process.on("exit")). */
  atExit(fn: () => void): () => void;
  /** Blocks for `ms` (the exit flush only). */
  sleep(ms: number): void;
  pid: number;
}

export const RETRY_MS = 20;
export const QUEUE_MAX_BYTES = 512 * 1024;
export const EXIT_WAIT_MS = 200;
export const NOTE_INTERVAL_MS = 60_000;

export const processIo: SyslogIo = {
  now: () => Date.now(),
  stderr(text) {
    try {
      writeSync(2, text);
    } catch {
      // stderr is gone (EPIPE): nothing is left to tell.
    }
  },
  isSocket(path) {
    try {
      return statSync(path).isSocket();
    } catch {
      return false;
    }
  },
  later(fn, ms) {
    setTimeout(fn, ms).unref();
  },
  atExit(fn) {
    process.once("exit", fn);
    return () => process.off("exit", fn);
  },
  sleep(ms) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  },
  pid: process.pid,
};

export class SyslogDestination implements DestinationStream {
  /** Datagrams waiting for room in the receiver's queue, oldest first. */
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private retrying = false;
  private removeExitHook: (() => void) | null = null;
  private readonly notes: ReturnType<typeof throttledNote>;

  constructor(
    private readonly target: SyslogTarget,
    private readonly io: SyslogIo = processIo,
  ) {
    this.notes = throttledNote(target, io, NOTE_INTERVAL_MS);
    if (!io.isSocket(target.path)) this.notes.missingAtStart();
  }

  write(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      record = { msg: line.trimEnd() };
    }
    const level = typeof record.level === "number" ? record.level : 30;
    const header = syslogHeader({
      format: this.target.format,
      facility: this.target.facility,
      severity: syslogSeverity(level),
      time: new Date(typeof record.time === "number" ? record.time : this.io.now()),
      tag: this.target.tag,
      pid: this.io.pid,
      hostname: this.target.hostname,
    });
    const datagram = syslogDatagram(header, messageText(record), maxBytes(this.target.format));
    if (this.queue.length > 0 || this.trySend(datagram) === "again") this.enqueue(datagram);
  }

  /** Sends one datagram; a refused one goes to stderr ("failed"). */
  private trySend(datagram: Buffer): "sent" | "again" | "failed" {
    try {
      this.target.sender.send(datagram);
      this.notes.sent();
      return "sent";
    } catch (err) {
      const code = String((err as NodeJS.ErrnoException).code ?? (err as Error).message ?? err);
      if (code === "EAGAIN" || code === "EWOULDBLOCK") return "again";
      this.toStderr(datagram, code);
      return "failed";
    }
  }

  private toStderr(datagram: Buffer, code: string): void {
    this.notes.failed(code);
    this.io.stderr(`${datagram.toString("utf8")}\n`);
  }

  private enqueue(datagram: Buffer): void {
    if (this.queuedBytes + datagram.length > QUEUE_MAX_BYTES) {
      this.toStderr(datagram, "EAGAIN");
      return;
    }
    this.queue.push(datagram);
    this.queuedBytes += datagram.length;
    this.removeExitHook ??= this.io.atExit(() => this.flushAtExit());
    if (!this.retrying) {
      this.retrying = true;
      this.io.later(() => this.drain(), RETRY_MS);
    }
  }

  /** Sends queued datagrams until the receiver's queue is full again; true when all went. */
  private sendQueued(): boolean {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.trySend(head) === "again") return false;
      this.queue.shift();
      this.queuedBytes -= head.length;
    }
    this.removeExitHook?.();
    this.removeExitHook = null;
    return true;
  }

  private drain(): void {
    this.retrying = false;
    if (this.sendQueued()) return;
    this.retrying = true;
    this.io.later(() => this.drain(), RETRY_MS);
  }

  /** At exit no timer runs again: wait a little for room, then stderr. */
  private flushAtExit(): void {
    this.removeExitHook = null;
    const deadline = this.io.now() + EXIT_WAIT_MS;
    while (!this.sendQueued() && this.io.now() < deadline) this.io.sleep(5);
    for (const d of this.queue.splice(0)) this.toStderr(d, "EAGAIN");
    this.queuedBytes = 0;
  }
}
