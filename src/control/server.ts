/**
 * The control socket server: a Unix stream socket (mode 0600 by default: root or the
 * daemon's user only) speaking the newline-delimited JSON protocol of protocol.ts.
 *
 * Robustness (limits in ControlLimits, counted by reason in stats()): a bad request gets an
 * error response, never an exception; each connection's requests are answered in order,
 * and reading pauses while MAX_QUEUED_REQUESTS wait; a request is bounded in bytes as it
 * arrives (MAX_REQUEST_BYTES: the client is told and disconnected, nothing larger is ever
 * buffered); a request must be complete REQUEST_DEADLINE_MS after its first byte (1 byte/s
 * clients); a client with no request for IDLE_TIMEOUT_MS, or that does not read its
 * responses (more than MAX_PENDING_BYTES queued), is disconnected. At most MAX_CLIENTS
 * connections: at the limit a newcomer evicts the client idle longest (no complete request
 * for EVICTABLE_AFTER_MS, nothing being answered), so idle or trickling clients cannot lock
 * the operator out; only when all are active is it refused. Responses are written
 * asynchronously, so a slow client never blocks the daemon.
 *
 * Start-up: the parent directory is created if missing. A socket file left by a killed
 * daemon (nobody listening: ECONNREFUSED) is replaced. If a live daemon answers on the path
 * in the same network namespace, start-up is refused; if it runs in another network
 * namespace (another router sharing this file system: containers, test labs) this daemon
 * runs without a control socket and says so. On close the file is removed, but only if it
 * is still the one this server created.
 */
import { chmodSync, lstatSync, mkdirSync, readlinkSync, statSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "../util/log.js";
import {
  encodeRequest,
  encodeResponse,
  MAX_REQUEST_BYTES,
  parseRequest,
  type Request,
  type Response,
} from "./protocol.js";

/**
 * Limits of the control socket (documented in the README, "Control socket"). They are
 * constants, not settings: a local operator interface needs no tuning, and each bound is
 * far from what `improxy status|show|reload` uses (one short request, one response).
 */
export interface ControlLimits {
  /** Connections at once. At the limit a new one evicts the oldest idle client, else is refused. */
  maxClients: number;
  /** A client with no complete request (and none being answered) for this long may be evicted by a new one. */
  evictableAfterMs: number;
  /** A client with no complete request for this long is disconnected. */
  idleTimeoutMs: number;
  /** A request must be complete (newline) this long after its first byte, else the client is dropped (1 byte/s clients). */
  requestDeadlineMs: number;
  /** Response bytes queued for a client that does not read; beyond, it is disconnected. */
  maxPendingBytes: number;
  /** Requests read ahead of their answers; reading pauses beyond (pipelined floods). */
  maxQueuedRequests: number;
}

export const MAX_CLIENTS = 32;
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
export const IDLE_TIMEOUT_MS = 60_000;
export const EVICTABLE_AFTER_MS = 250;
export const REQUEST_DEADLINE_MS = 5000;
export const MAX_QUEUED_REQUESTS = 16;
/** Queued response bytes above which no further requests are read (until the client reads). */
const WRITE_HIGH_WATER = 256 * 1024;

export const DEFAULT_CONTROL_LIMITS: Readonly<ControlLimits> = {
  maxClients: MAX_CLIENTS,
  evictableAfterMs: EVICTABLE_AFTER_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  requestDeadlineMs: REQUEST_DEADLINE_MS,
  maxPendingBytes: MAX_PENDING_BYTES,
  maxQueuedRequests: MAX_QUEUED_REQUESTS,
};

/** Why the server closed or refused a control connection (the counters' keys). */
export const CONTROL_DROP_REASONS = [
  "too-many-clients",
  "evicted-idle",
  "idle-timeout",
  "request-deadline",
  "request-too-large",
  "not-reading",
] as const;
export type ControlDropReason = (typeof CONTROL_DROP_REASONS)[number];

/** The control socket's own counters (`show stats`, metrics). */
export interface ControlSocketStats {
  clients: number;
  maxClients: number;
  /** Connections accepted (refused ones not included). */
  connections: number;
  /** Complete requests read. */
  requests: number;
  /** Requests answered with an error because they were malformed (the connection stays). */
  badRequests: number;
  /** Connections refused or closed by the server, by reason. */
  drops: Record<ControlDropReason, number>;
}

/** How long a start-up probe waits for the other daemon's ping response. */
const PROBE_TIMEOUT_MS = 1000;

export type RequestHandler = (req: Request) => unknown | Promise<unknown>;

/** This process's network namespace ("net:[4026531840]"), or null if unknown. */
export function networkNamespace(): string | null {
  try {
    return readlinkSync("/proc/self/ns/net");
  } catch {
    return null;
  }
}

export interface ProbeResult {
  /** Something accepted the connection. */
  listening: boolean;
  /** The ping response's data, when it answered. */
  answer: { pid?: number; netns?: string | null } | null;
}

/** Connects to `path` and pings; never throws. */
export function probe(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let listening = false;
    let buf = "";
    const sock = createConnection(path);
    const finish = (r: ProbeResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ listening, answer: null }), timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => {
      listening = true;
      sock.write(encodeRequest({ cmd: "ping" }));
    });
    sock.on("data", (d: string) => {
      buf += d;
      const i = buf.indexOf("\n");
      if (i < 0) return;
      try {
        const r = JSON.parse(buf.slice(0, i)) as Response;
        finish({ listening, answer: r.ok ? ((r.data as ProbeResult["answer"]) ?? {}) : {} });
      } catch {
        finish({ listening, answer: null });
      }
    });
    sock.on("error", () => finish({ listening, answer: null }));
    sock.on("close", () => finish({ listening, answer: null }));
  });
}

/** Another daemon is live on the path: start-up must stop. */
export class ControlSocketInUseError extends Error {
  constructor(
    readonly path: string,
    readonly pid: number | null,
  ) {
    super(
      `control socket ${path} is in use by another running improxy${pid === null ? "" : ` (pid ${pid})`}; ` +
        "stop it, or give this one its own control-socket path",
    );
    this.name = "ControlSocketInUseError";
  }
}

export interface ControlServerOptions {
  path: string;
  handler: RequestHandler;
  log: Logger;
  /** File mode of the socket (default 0o600). */
  mode?: number;
  /** Tests only: smaller limits. */
  limits?: Partial<ControlLimits>;
}

/** One connected client. */
interface Client {
  sock: Socket;
  /** Bytes of the request being received (no newline yet). */
  partial: Buffer[];
  partialBytes: number;
  /** When the first byte of the request being received arrived (null: none pending). */
  partialSince: number | null;
  /** Connect time, then the time of the last complete request. */
  lastRequest: number;
  /** Complete request lines not answered yet (the first is being answered). */
  queue: string[];
  busy: boolean;
  closing: boolean;
}

export class ControlServer {
  private readonly clients = new Set<Client>();
  private closed = false;
  private readonly limits: ControlLimits;
  private readonly sweeper: NodeJS.Timeout;
  private readonly counters: Omit<ControlSocketStats, "clients" | "maxClients">;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly inode: { dev: number; ino: number },
    private readonly handler: RequestHandler,
    private readonly log: Logger,
    limits: Partial<ControlLimits> | undefined,
  ) {
    this.limits = { ...DEFAULT_CONTROL_LIMITS, ...limits };
    this.counters = {
      connections: 0,
      requests: 0,
      badRequests: 0,
      drops: Object.fromEntries(CONTROL_DROP_REASONS.map((r) => [r, 0])) as Record<ControlDropReason, number>,
    };
    server.on("connection", (s) => this.accept(s));
    server.on("error", (err) => this.log.error({ err: err.message, path }, "control socket error"));
    // One timer for every client's deadlines (idle, slow request); not the socket's own
    // timeout, which any byte resets.
    const every = Math.max(
      10,
      Math.min(1000, this.limits.requestDeadlineMs / 4, this.limits.idleTimeoutMs / 4),
    );
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /**
   * Listens on `opts.path`. Resolves with null (after a warning) when a daemon in another
   * network namespace owns the path; throws ControlSocketInUseError for a live daemon in
   * this one, or the system error (with the path) for anything else.
   */
  static async listen(opts: ControlServerOptions): Promise<ControlServer | null> {
    const { path, log } = opts;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new Error(
        `cannot create the control socket directory ${dirname(path)}: ${(err as Error).message}`,
      );
    }
    let server = await tryListen(path);
    if (server === "in-use") {
      const p = await probe(path);
      if (p.listening) {
        const other = p.answer?.netns ?? null;
        const mine = networkNamespace();
        if (other !== null && mine !== null && other !== mine) {
          log.warn(
            { path, otherPid: p.answer?.pid, otherNetns: other },
            "control socket path is used by improxy in another network namespace; running without a control socket (set control-socket to a path of its own)",
          );
          return null;
        }
        throw new ControlSocketInUseError(path, typeof p.answer?.pid === "number" ? p.answer.pid : null);
      }
      // Nobody listening: a socket left by a daemon that was killed. Replace it, but never
      // delete something that is not a socket.
      if (!lstatSync(path).isSocket())
        throw new Error(`control socket ${path}: the path exists and is not a socket`);
      unlinkSync(path);
      log.info({ path }, "replaced a stale control socket");
      server = await tryListen(path);
      if (server === "in-use") throw new ControlSocketInUseError(path, null);
    }
    chmodSync(path, opts.mode ?? 0o600);
    const st = statSync(path);
    return new ControlServer(path, server, { dev: st.dev, ino: st.ino }, opts.handler, log, opts.limits);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The counters (a copy). */
  stats(): ControlSocketStats {
    return {
      clients: this.clients.size,
      maxClients: this.limits.maxClients,
      connections: this.counters.connections,
      requests: this.counters.requests,
      badRequests: this.counters.badRequests,
      drops: { ...this.counters.drops },
    };
  }

  private drop(c: Client, reason: ControlDropReason, message?: string): void {
    this.counters.drops[reason]++;
    this.log.debug({ reason }, "control client disconnected");
    this.clients.delete(c);
    if (message === undefined || c.sock.destroyed) {
      c.sock.destroy();
      return;
    }
    // Say why, then close; stop reading what the client still sends.
    c.closing = true;
    c.queue.length = 0;
    c.partial = [];
    c.sock.pause();
    c.sock.removeAllListeners("data");
    c.sock.end(encodeResponse({ ok: false, error: message }), () => c.sock.destroy());
    // A client that does not read even that: gone after a moment anyway.
    setTimeout(() => c.sock.destroy(), 1000).unref();
  }

  private accept(sock: Socket): void {
    sock.on("error", () => sock.destroy());
    if (this.closed) {
      sock.destroy();
      return;
    }
    const now = Date.now();
    if (this.clients.size >= this.limits.maxClients) {
      // Make room: the client idle longest (no complete request, nothing being answered).
      let oldest: Client | null = null;
      for (const c of this.clients) {
        if (c.busy || c.queue.length > 0 || now - c.lastRequest < this.limits.evictableAfterMs) continue;
        if (oldest === null || c.lastRequest < oldest.lastRequest) oldest = c;
      }
      if (oldest === null) {
        this.counters.drops["too-many-clients"]++;
        sock.end(
          encodeResponse({
            ok: false,
            error: `too many control clients (at most ${this.limits.maxClients}, all active)`,
          }),
          () => sock.destroy(),
        );
        setTimeout(() => sock.destroy(), 1000).unref();
        return;
      }
      this.drop(oldest, "evicted-idle", "disconnected: idle, and another control client needed the slot");
    }
    this.counters.connections++;
    const c: Client = {
      sock,
      partial: [],
      partialBytes: 0,
      partialSince: null,
      lastRequest: now,
      queue: [],
      busy: false,
      closing: false,
    };
    this.clients.add(c);
    sock.on("close", () => this.clients.delete(c));
    sock.on("data", (d: Buffer) => this.receive(c, d));
    sock.on("drain", () => this.flow(c));
  }

  /** Splits a chunk into request lines without ever holding more than one request's bytes. */
  private receive(c: Client, chunk: Buffer): void {
    if (c.closing) return;
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const piece = chunk.subarray(from, nl);
      from = nl + 1;
      if (c.partialBytes + piece.length > MAX_REQUEST_BYTES) {
        this.tooLarge(c);
        return;
      }
      const line = (c.partialBytes === 0 ? piece : Buffer.concat([...c.partial, piece]))
        .toString("utf8")
        .trim();
      c.partial = [];
      c.partialBytes = 0;
      c.partialSince = null;
      if (line === "") continue;
      this.counters.requests++;
      c.lastRequest = Date.now();
      c.queue.push(line);
    }
    const rest = chunk.subarray(from);
    if (rest.length > 0) {
      if (c.partialBytes + rest.length > MAX_REQUEST_BYTES) {
        this.tooLarge(c);
        return;
      }
      // A copy: the chunk's buffer must not be kept alive by a small slice.
      c.partial.push(Buffer.from(rest));
      c.partialBytes += rest.length;
      c.partialSince ??= Date.now();
    }
    void this.pump(c);
    this.flow(c);
  }

  private tooLarge(c: Client): void {
    this.drop(c, "request-too-large", `request longer than ${MAX_REQUEST_BYTES} bytes`);
  }

  /** Answers the client's queued requests one by one, in order. */
  private async pump(c: Client): Promise<void> {
    if (c.busy) return;
    c.busy = true;
    try {
      for (let line = c.queue.shift(); line !== undefined; line = c.queue.shift()) {
        await this.answer(c.sock, line);
        if (c.sock.destroyed || c.closing) {
          c.queue.length = 0;
          return;
        }
        // Idleness counts from the last answer (a slow handler is not the client's idling).
        c.lastRequest = Date.now();
      }
    } finally {
      c.busy = false;
    }
    this.flow(c);
  }

  /**
   * Reads requests only while few wait for their answers and the client takes its
   * responses: a pipelined flood is read as fast as it is answered, no faster.
   */
  private flow(c: Client): void {
    if (c.closing || c.sock.destroyed) return;
    const hold = c.queue.length >= this.limits.maxQueuedRequests || c.sock.writableLength > WRITE_HIGH_WATER;
    if (hold && !c.sock.isPaused()) c.sock.pause();
    else if (!hold && c.sock.isPaused()) c.sock.resume();
  }

  /** Deadlines: a request not completed in time, a client with no request for too long. */
  private sweep(): void {
    const now = Date.now();
    for (const c of [...this.clients]) {
      if (c.busy || c.queue.length > 0) continue;
      if (c.partialSince !== null && now - c.partialSince > this.limits.requestDeadlineMs) {
        this.drop(
          c,
          "request-deadline",
          `request not completed within ${this.limits.requestDeadlineMs / 1000} s of its first byte`,
        );
      } else if (now - c.lastRequest > this.limits.idleTimeoutMs) {
        this.drop(c, "idle-timeout", `idle for ${this.limits.idleTimeoutMs / 1000} s`);
      }
    }
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    if (sock.destroyed) return;
    const parsed = parseRequest(line);
    const id = parsed.id;
    if (!parsed.ok) {
      this.counters.badRequests++;
      this.send(sock, parsed);
      return;
    }
    let response: Response;
    try {
      const data = await this.handler(parsed.request);
      response = { ok: true, data };
    } catch (err) {
      response = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (id !== undefined) response.id = id;
    this.send(sock, response);
  }

  private send(sock: Socket, r: Response): void {
    if (sock.destroyed || !sock.writable) return;
    let text: string;
    try {
      text = encodeResponse(r);
    } catch (err) {
      text = encodeResponse({ ok: false, error: `cannot encode the response: ${(err as Error).message}` });
    }
    sock.write(text);
    if (sock.writableLength > this.limits.maxPendingBytes) {
      this.log.warn(
        { pending: sock.writableLength },
        "control client does not read its responses; disconnected",
      );
      const c = [...this.clients].find((x) => x.sock === sock);
      this.counters.drops["not-reading"]++;
      if (c) this.clients.delete(c);
      sock.destroy();
    }
  }

  /** Stops listening, disconnects clients and removes the socket file if it is still ours. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.server.close();
    for (const c of this.clients) c.sock.destroy();
    this.clients.clear();
    try {
      const st = statSync(this.path);
      if (st.dev === this.inode.dev && st.ino === this.inode.ino) unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}

/** Listens on a Unix socket path; "in-use" when the path exists (EADDRINUSE). */
function tryListen(path: string): Promise<Server | "in-use"> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const onError = (err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === "EADDRINUSE") resolve("in-use");
      else reject(new Error(`cannot create the control socket ${path}: ${err.message}`));
    };
    server.once("error", onError);
    server.listen(path, () => {
      server.off("error", onError);
      resolve(server);
    });
  });
}
