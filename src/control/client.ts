/**
 * Control socket client (the CLI's side): one request, one response. Failures are
 * ControlClientError with a one-line message fit for `improxy: <message>`.
 */
import { createConnection } from "node:net";
import { encodeRequest, type Request, type Response } from "./protocol.js";

export type ControlFailure = "not-running" | "permission" | "timeout" | "protocol" | "refused" | "busy";

export class ControlClientError extends Error {
  constructor(
    message: string,
    readonly kind: ControlFailure,
  ) {
    super(message);
    this.name = "ControlClientError";
  }
}

export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000;
/** Attempts when the daemon is at its client limit with every client active (server.ts). */
export const BUSY_ATTEMPTS = 5;
export const BUSY_RETRY_MS = 300;

/**
 * Sends `req` to the daemon on `path`; resolves with the response's data. A refusal
 * because every client slot is busy is retried a few times (the server frees idle slots
 * for newcomers, so this only waits out a burst).
 */
export async function controlRequest(
  path: string,
  req: Request,
  timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS,
): Promise<unknown> {
  const until = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestOnce(path, req, Math.max(1, until - Date.now()));
    } catch (err) {
      if (!(err instanceof ControlClientError && err.kind === "busy") || attempt >= BUSY_ATTEMPTS) throw err;
      if (Date.now() + BUSY_RETRY_MS >= until) throw err;
      await new Promise((r) => setTimeout(r, BUSY_RETRY_MS));
    }
  }
}

function requestOnce(path: string, req: Request, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let done = false;
    const sock = createConnection(path);
    const finish = (err: ControlClientError | null, data?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(data);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ControlClientError(
            `the daemon on ${path} did not answer within ${timeoutMs / 1000} s`,
            "timeout",
          ),
        ),
      timeoutMs,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(encodeRequest(req)));
    sock.on("data", (d: string) => {
      buf += d;
      const i = buf.indexOf("\n");
      if (i < 0) return;
      let r: Response;
      try {
        r = JSON.parse(buf.slice(0, i)) as Response;
      } catch {
        finish(new ControlClientError(`the daemon on ${path} sent a response that is not JSON`, "protocol"));
        return;
      }
      if (r.ok) finish(null, r.data);
      else
        finish(
          new ControlClientError(
            r.error,
            r.error.startsWith("too many control clients") ? "busy" : "refused",
          ),
        );
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED" || err.code === "ENOTDIR") {
        finish(
          new ControlClientError(`no daemon is listening on ${path} (is improxy running?)`, "not-running"),
        );
      } else if (err.code === "EACCES" || err.code === "EPERM") {
        finish(
          new ControlClientError(
            `permission denied on ${path} (run as root or as the daemon's user)`,
            "permission",
          ),
        );
      } else if (err.code === "EPIPE" || err.code === "ECONNRESET") {
        // Closed before our request was written: a refusal at the client limit.
        finish(
          new ControlClientError(`the daemon on ${path} refused the connection: ${err.message}`, "busy"),
        );
      } else {
        finish(new ControlClientError(`cannot reach the daemon on ${path}: ${err.message}`, "protocol"));
      }
    });
    sock.on("close", () =>
      finish(
        new ControlClientError(`the daemon on ${path} closed the connection without answering`, "protocol"),
      ),
    );
  });
}
