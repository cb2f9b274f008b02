/**
 * The control socket server: a Unix stream socket (mode 0600 by default: root or the
 * daemon's user only) speaking the newline-delimited JSON protocol of protocol.ts.
 *
 * Robustness: a bad request gets an error response, never an exception; each connection's
 * requests are answered in order; a client that does not read its responses (more than
 * MAX_PENDING_BYTES queued) or stays idle for IDLE_TIMEOUT_MS is disconnected; at most
 * MAX_CLIENTS connections at once. Responses are written asynchronously, so a slow client
 * never blocks the daemon.
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

export const MAX_CLIENTS = 32;
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;
export const IDLE_TIMEOUT_MS = 60_000;
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
}

export class ControlServer {
  private readonly clients = new Set<Socket>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly inode: { dev: number; ino: number },
    private readonly handler: RequestHandler,
    private readonly log: Logger,
  ) {
    server.on("connection", (s) => this.accept(s));
    server.on("error", (err) => this.log.error({ err: err.message, path }, "control socket error"));
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
      throw new Error(`cannot create the control socket directory ${dirname(path)}: ${(err as Error).message}`);
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
    return new ControlServer(path, server, { dev: st.dev, ino: st.ino }, opts.handler, log);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private accept(sock: Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    if (this.clients.size >= MAX_CLIENTS) {
      sock.end(encodeResponse({ ok: false, error: `too many control clients (at most ${MAX_CLIENTS})` }));
      sock.on("error", () => sock.destroy());
      return;
    }
    this.clients.add(sock);
    sock.setEncoding("utf8");
    sock.setTimeout(IDLE_TIMEOUT_MS, () => sock.destroy());
    sock.on("error", () => sock.destroy());
    sock.on("close", () => this.clients.delete(sock));
    let buf = "";
    // Requests of one connection are answered in order.
    let chain: Promise<void> = Promise.resolve();
    sock.on("data", (d: string) => {
      buf += d;
      let i = buf.indexOf("\n");
      while (i >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        i = buf.indexOf("\n");
        if (line === "") continue;
        chain = chain.then(() => this.answer(sock, line));
      }
      if (Buffer.byteLength(buf) > MAX_REQUEST_BYTES) {
        buf = "";
        chain = chain.then(() => {
          this.send(sock, { ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
          sock.end();
        });
      }
    });
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    if (sock.destroyed) return;
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
      this.send(sock, { ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      return;
    }
    const parsed = parseRequest(line);
    const id = parsed.id;
    if (!parsed.ok) {
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
    if (sock.writableLength > MAX_PENDING_BYTES) {
      this.log.warn(
        { pending: sock.writableLength },
        "control client does not read its responses; disconnected",
      );
      sock.destroy();
    }
  }

  /** Stops listening, disconnects clients and removes the socket file if it is still ours. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const s of this.clients) s.destroy();
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
