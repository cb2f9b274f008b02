/**
 * Control socket client (the CLI's side): one request, one response. Failures are
 * ControlClientError with a one-line message fit for `improxy: <message>`.
 */
import { createConnection } from "node:net";
import { encodeRequest, type Request, type Response } from "./protocol.js";

export type ControlFailure = "not-running" | "permission" | "timeout" | "protocol" | "refused";

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

/** Sends `req` to the daemon on `path`; resolves with the response's data. */
export function controlRequest(
  path: string,
  req: Request,
  timeoutMs = DEFAULT_CLIENT_TIMEOUT_MS,
): Promise<unknown> {
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
      else finish(new ControlClientError(r.error, "refused"));
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
