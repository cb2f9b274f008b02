/**
 * The control socket protocol: newline-delimited JSON over a Unix stream socket. One
 * request per line, one response line per request, in order; a connection may carry many.
 *
 *   {"cmd":"ping"}                                   -> {"ok":true,"data":{"pid":..,"netns":..}}
 *   {"cmd":"status"}  (optional "family")            -> {"ok":true,"data":<StatusDocument>}
 *   {"cmd":"show","what":"groups","family":"ipv4"}   -> {"ok":true,"data":<StatusDocument>}
 *     (optional filters "interface", "group", "source": show-filter.ts)
 *   {"cmd":"reload"}                                 -> {"ok":true,"data":{"reloaded":true,<ReloadReport>}}
 *     (answered once the new configuration is applied; rejected: {"ok":false,"error":"reload failed: FILE:LINE: ..."})
 *   anything else                                    -> {"ok":false,"error":"..."}
 *
 * A request may carry an "id" (string or number), echoed in its response.
 */
import type { IpFamily } from "../wire/types.js";
import { checkShowFilter, SHOW_FILTER_KEYS, type ShowFilter } from "./show-filter.js";
import { SHOW_VIEWS, type ShowView } from "./status.js";

/** Longest request line accepted (bytes); longer ones get an error and the connection closes. */
export const MAX_REQUEST_BYTES = 4096;

export type Request =
  | { cmd: "ping" }
  | { cmd: "status"; family?: IpFamily }
  | ({ cmd: "show"; what: ShowView; family?: IpFamily } & ShowFilter)
  | { cmd: "reload" };

export type RequestId = string | number;

export type Response =
  | { ok: true; data: unknown; id?: RequestId }
  | { ok: false; error: string; id?: RequestId };

export type ParsedRequest =
  | { ok: true; request: Request; id?: RequestId }
  | { ok: false; error: string; id?: RequestId };

const COMMANDS = ["ping", "status", "show", "reload"] as const;
const FAMILIES: readonly IpFamily[] = ["ipv4", "ipv6"];
const KEYS: Record<Request["cmd"], readonly string[]> = {
  ping: ["cmd", "id"],
  status: ["cmd", "id", "family"],
  show: ["cmd", "id", "what", "family", ...SHOW_FILTER_KEYS],
  reload: ["cmd", "id"],
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses one request line. Never throws. */
export function parseRequest(line: string): ParsedRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, error: "request is not valid JSON" };
  }
  if (!isObject(v)) return { ok: false, error: "request must be a JSON object" };
  let id: RequestId | undefined;
  if ("id" in v) {
    if (typeof v.id !== "string" && typeof v.id !== "number") {
      return { ok: false, error: '"id" must be a string or a number' };
    }
    id = v.id;
  }
  const fail = (error: string): ParsedRequest =>
    id === undefined ? { ok: false, error } : { ok: false, error, id };
  const done = (request: Request): ParsedRequest =>
    id === undefined ? { ok: true, request } : { ok: true, request, id };
  const cmd = v.cmd;
  if (typeof cmd !== "string") return fail(`"cmd" is missing (one of: ${COMMANDS.join(", ")})`);
  if (!(COMMANDS as readonly string[]).includes(cmd)) {
    return fail(`unknown command ${JSON.stringify(cmd)} (one of: ${COMMANDS.join(", ")})`);
  }
  const c = cmd as Request["cmd"];
  const extra = Object.keys(v).filter((k) => !KEYS[c].includes(k));
  if (extra.length > 0) return fail(`unexpected field ${JSON.stringify(extra[0])} for "${c}"`);
  let family: IpFamily | undefined;
  if (v.family !== undefined) {
    if (!FAMILIES.includes(v.family as IpFamily)) return fail('"family" must be "ipv4" or "ipv6"');
    family = v.family as IpFamily;
  }
  switch (c) {
    case "ping":
    case "reload":
      return done({ cmd: c });
    case "status":
      return done(family === undefined ? { cmd: c } : { cmd: c, family });
    case "show": {
      const what = v.what;
      if (typeof what !== "string" || !(SHOW_VIEWS as readonly string[]).includes(what)) {
        return fail(`"what" must be one of: ${SHOW_VIEWS.join(", ")}`);
      }
      const w = what as ShowView;
      const filter: ShowFilter = {};
      for (const key of SHOW_FILTER_KEYS) {
        const value = v[key];
        if (value === undefined) continue;
        if (typeof value !== "string") return fail(`${JSON.stringify(key)} must be a string`);
        filter[key] = value;
      }
      const bad = checkShowFilter(w, filter);
      if (bad !== null) return fail(bad);
      return done({ cmd: c, what: w, ...(family === undefined ? {} : { family }), ...filter });
    }
  }
}

/** One response line (with its newline). `data` must be JSON-safe (no bigint). */
export function encodeResponse(r: Response): string {
  return `${JSON.stringify(r)}\n`;
}

/** One request line (with its newline). */
export function encodeRequest(r: Request, id?: RequestId): string {
  return `${JSON.stringify(id === undefined ? r : { ...r, id })}\n`;
}
