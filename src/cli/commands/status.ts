/**
 * `improxy status [--json] [--socket PATH] [-c FILE] [--family F]`: asks the running daemon
 * over its control socket (src/control) and prints the summary. Shared by `show` and
 * `reload`: where the socket is, and how a failure is printed (one line, exit 1).
 */
import { ControlClientError, controlRequest } from "../../control/client.js";
import type { Request } from "../../control/protocol.js";
import type { StatusDocument } from "../../control/status.js";
import { renderStatus } from "../../control/tables.js";
import { DEFAULT_CONTROL_SOCKET } from "../../config/defaults.js";
import { loadConfigWithWarnings } from "../../config/load.js";
import { ConfigError } from "../../config/types.js";
import type { IpFamily } from "../../wire/types.js";
import { configProblemLine } from "../args.js";
import type { Printer } from "./daemon.js";

export interface ControlCliOptions {
  /** --socket PATH */
  socket?: string;
  /** -c FILE: take the socket path from this config */
  config?: string;
  json?: boolean;
  family?: string;
}

/** --socket, else -c FILE's control-socket, else the default. A string result is an error line. */
export function resolveSocketPath(opts: ControlCliOptions): { path: string } | { error: string } {
  if (opts.socket !== undefined) return { path: opts.socket };
  if (opts.config !== undefined) {
    try {
      return { path: loadConfigWithWarnings(opts.config).config.controlSocket };
    } catch (err) {
      if (err instanceof ConfigError) return { error: configProblemLine(err.file, err.line, err.reason) };
      throw err;
    }
  }
  return { path: DEFAULT_CONTROL_SOCKET };
}

/** --family: ipv4 / ipv6 (also 4 / 6); undefined = both. A string result is an error line. */
export function parseFamily(text: string | undefined): { family: IpFamily | undefined } | { error: string } {
  if (text === undefined) return { family: undefined };
  if (text === "ipv4" || text === "4") return { family: "ipv4" };
  if (text === "ipv6" || text === "6") return { family: "ipv6" };
  return { error: `improxy: --family must be ipv4 or ipv6, got "${text}"` };
}

/**
 * Sends `req` to the daemon the options point at. Resolves with the data, or with null
 * after printing the one-line reason on stderr.
 */
export async function askDaemon(
  opts: ControlCliOptions,
  req: Request,
  stderr: Printer,
): Promise<unknown | null> {
  const where = resolveSocketPath(opts);
  if ("error" in where) {
    stderr(where.error);
    return null;
  }
  try {
    return await controlRequest(where.path, req);
  } catch (err) {
    if (err instanceof ControlClientError) {
      stderr(`improxy: ${err.message}`);
      return null;
    }
    throw err;
  }
}

export async function statusCommand(
  opts: ControlCliOptions,
  stdout: Printer,
  stderr: Printer,
): Promise<number> {
  const fam = parseFamily(opts.family);
  if ("error" in fam) {
    stderr(fam.error);
    return 1;
  }
  const data = await askDaemon(
    opts,
    fam.family ? { cmd: "status", family: fam.family } : { cmd: "status" },
    stderr,
  );
  if (data === null) return 1;
  const doc = data as StatusDocument;
  if (opts.json) stdout(JSON.stringify(doc, null, 2));
  else for (const line of renderStatus(doc)) stdout(line);
  return 0;
}
