/**
 * A node:http listener with the limits of the operator endpoints (the metrics endpoint and
 * the web view; README "Prometheus metrics"): few connections, with the oldest idle one
 * closed for a newcomer, a hard cap, short header and request timeouts, small headers,
 * request bodies never read. Connection-level refusals are counted by reason; what a
 * request gets is the handler's business.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Limits of the operator HTTP endpoints. */
export const HTTP_LIMITS = {
  /** Connections kept; a newcomer beyond this evicts the oldest connection with no request in progress. */
  maxConnections: 16,
  /** Hard cap (`server.maxConnections`): reached only when every kept connection is mid-request. */
  hardMaxConnections: 64,
  /** Time to receive a request's headers, from the connection's start or the previous response. */
  headersTimeoutMs: 2000,
  /** Time to receive a whole request. */
  requestTimeoutMs: 5000,
  /** A kept-alive connection with no new request is closed after this. */
  keepAliveTimeoutMs: 2000,
  /** How often Node checks the two timeouts above. */
  checkIntervalMs: 500,
  /** Request header bytes. */
  maxHeaderBytes: 8192,
} as const;

export const CONNECTION_REFUSAL_REASONS = ["evicted-idle", "over-capacity", "timeout", "bad-request"] as const;
export type ConnectionRefusalReason = (typeof CONNECTION_REFUSAL_REASONS)[number];

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One connection of the endpoint. */
interface Conn {
  since: number;
  /** A request is being answered. */
  busy: boolean;
}

/** "127.0.0.1:9464" / "[::1]:9464" -> host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  const host = m?.[1];
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`"${text}" is not ADDRESS:PORT`);
  }
  return { host, port };
}

export class BoundedHttpServer {
  private readonly conns = new Map<Socket, Conn>();
  readonly refusals = Object.fromEntries(CONNECTION_REFUSAL_REASONS.map((r) => [r, 0])) as Record<
    ConnectionRefusalReason,
    number
  >;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  get connections(): number {
    return this.conns.size;
  }

  /**
   * Listens on `listen` ("ADDRESS:PORT"; port 0: any free one) and hands every request to
   * `handler`. `what` names the endpoint in the error when the address cannot be taken.
   */
  static listen(listen: string, what: string, handler: HttpHandler): Promise<BoundedHttpServer> {
    const { host, port } = parseListen(listen);
    let self: BoundedHttpServer | null = null;
    const refuse = (reason: ConnectionRefusalReason) => {
      if (self) self.refusals[reason]++;
    };
    const server = createServer(
      {
        headersTimeout: HTTP_LIMITS.headersTimeoutMs,
        requestTimeout: HTTP_LIMITS.requestTimeoutMs,
        keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
        connectionsCheckingInterval: HTTP_LIMITS.checkIntervalMs,
        maxHeaderSize: HTTP_LIMITS.maxHeaderBytes,
      },
      (req, res) => {
        const conn = self?.conns.get(req.socket);
        if (conn) conn.busy = true;
        res.on("close", () => {
          if (conn) {
            conn.busy = false;
            conn.since = Date.now();
          }
        });
        // A body is never read: answer, then close the connection.
        const hasBody =
          req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
        if (hasBody) res.setHeader("connection", "close");
        handler(req, res);
      },
    );
    server.maxConnections = HTTP_LIMITS.hardMaxConnections;
    server.on("drop", () => refuse("over-capacity"));
    server.on("connection", (sock: Socket) => {
      if (!self) return;
      const conns = self.conns;
      if (conns.size >= HTTP_LIMITS.maxConnections) {
        let oldest: [Socket, Conn] | null = null;
        for (const e of conns)
          if (!e[1].busy && (oldest === null || e[1].since < oldest[1].since)) oldest = e;
        if (oldest) {
          refuse("evicted-idle");
          conns.delete(oldest[0]);
          oldest[0].destroy();
        } else {
          refuse("over-capacity");
          sock.destroy();
          return;
        }
      }
      conns.set(sock, { since: Date.now(), busy: false });
      sock.on("close", () => conns.delete(sock));
    });
    server.on("clientError", (err: NodeJS.ErrnoException, sock: Socket) => {
      const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ERR_HTTP_HEADERS_TIMEOUT";
      // A connection reset or closed by the client is not a refusal.
      if (err.code !== "ECONNRESET") refuse(timeout ? "timeout" : "bad-request");
      if (sock.writable && !sock.writableEnded && sock.bytesWritten === 0) {
        sock.end(
          timeout
            ? "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
            : "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
        );
      }
      sock.destroy();
    });
    return new Promise((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot serve ${what} on ${listen}: ${err.code ?? err.message}`)),
      );
      server.listen(port, host, () => {
        const addr = server.address();
        const actual = typeof addr === "object" && addr ? addr.port : port;
        self = new BoundedHttpServer(server, host, actual);
        resolve(self);
      });
    });
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
    for (const s of this.conns.keys()) s.destroy();
    this.conns.clear();
  }
}
