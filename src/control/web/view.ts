/**
 * The live web view (`http:`): read-only pages of the daemon's state, on their own listener
 * or on the metrics endpoint. GET and HEAD only (anything else 405); pages are rendered on
 * the server (html.ts) from the control socket's status builder, and /events streams the
 * same tables as JSON (server-sent events) every second for the page script. Bounded like the
 * metrics endpoint (http-server.ts), plus a cap on event streams; refusals are counted.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { BoundedHttpServer, CONNECTION_REFUSAL_REASONS } from "../http-server.js";
import { APP_JS, STYLE_CSS } from "./assets.js";
import { type Access, TokenCheck } from "./auth.js";
import { pagePath, renderPage } from "./html.js";
import { type ModelSource, PAGES, type Page, pageModel } from "./model.js";

/** Limits of the web view besides those of its listener (README "Web view"). */
export const WEB_LIMITS = {
  /** Event streams open at once; a further one gets 503. */
  maxStreams: 8,
  /** Time between two updates of a stream. */
  updateMs: 1000,
  /** A stream whose unsent data grows beyond this (a client that does not read) is closed. */
  maxQueuedBytes: 1 << 20,
} as const;

/** How much younger than an update interval a shared model must be to be reused. */
const SHARE_MARGIN_MS = 100;

export const WEB_REFUSAL_REASONS = [
  ...CONNECTION_REFUSAL_REASONS,
  "not-found",
  "method-not-allowed",
  "unauthorized",
  "too-many-streams",
  "not-reading",
] as const;
export type WebRefusalReason = (typeof WEB_REFUSAL_REASONS)[number];

export interface WebViewStats {
  /** "ADDRESS:PORT", or "metrics" when served on the metrics endpoint. */
  listen: string;
  /** Connections to its own listener; null on the metrics endpoint (counted there). */
  connections: number | null;
  pages: number;
  streams: number;
  refusals: Record<WebRefusalReason, number>;
}

/** Headers of every answer: nothing from elsewhere, no sniffing, no framing, no caching. */
export const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
} as const;

const ASSETS: Record<string, { type: string; body: string }> = {
  "/assets/style.css": { type: "text/css; charset=utf-8", body: STYLE_CSS },
  "/assets/app.js": { type: "text/javascript; charset=utf-8", body: APP_JS },
};

const PAGE_OF = new Map<string, Page>(PAGES.map((p) => [pagePath(p), p]));

export interface WebViewOptions {
  /** The access token; null: none needed (loopback only, the config checks). */
  token: string | null;
  listen: string;
}

/** The request handler: pages, assets, event streams. */
export class WebView {
  private readonly auth: TokenCheck;
  private readonly streams = new Set<ServerResponse>();
  private pages = 0;
  private readonly refused = Object.fromEntries(WEB_REFUSAL_REASONS.map((r) => [r, 0])) as Record<
    WebRefusalReason,
    number
  >;
  /** The listener's own connection counters, when it has one. */
  listener: BoundedHttpServer | null = null;
  /**
   * The last event data built per page, shared by the streams of that page: a model is
   * built (and the kernel's counters read) at most once per page per update interval,
   * however many views are open.
   */
  private readonly latest = new Map<Page, { at: number; data: string }>();
  /** Models built for event streams (stats, tests). */
  modelsBuilt = 0;

  constructor(
    private readonly source: ModelSource,
    private readonly opts: WebViewOptions,
  ) {
    this.auth = new TokenCheck(opts.token);
  }

  stats(): WebViewStats {
    return {
      listen: this.opts.listen,
      connections: this.listener?.connections ?? null,
      pages: this.pages,
      streams: this.streams.size,
      refusals: { ...this.refused, ...(this.listener?.refusals ?? {}) },
    };
  }

  /** True when a path of the view is known (on the metrics endpoint, others go to it). */
  static serves(path: string): boolean {
    return PAGE_OF.has(path) || path in ASSETS || path === "/events" || path === "/favicon.ico";
  }

  /** Answers `req`; `false` (nothing sent) for a path that is not the view's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://view.invalid");
    if (!WebView.serves(url.pathname)) return false;
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.refused["method-not-allowed"]++;
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain", connection: "close" });
      res.end("read-only: GET and HEAD only\n");
      return true;
    }
    const access: Access = this.auth.check(req, url);
    if (access === "refused") {
      this.refused.unauthorized++;
      res.writeHead(401, { "www-authenticate": 'Bearer realm="improxy"', "content-type": "text/plain" });
      res.end("unauthorized: open the view once with ?token=TOKEN, or send Authorization: Bearer TOKEN\n");
      return true;
    }
    if (access === "login") {
      // The token moves into a cookie and out of the address bar.
      const token = url.searchParams.get("token") ?? "";
      url.searchParams.delete("token");
      res.writeHead(303, { location: `${url.pathname}${url.search}`, "set-cookie": TokenCheck.setCookie(token) });
      res.end();
      return true;
    }
    if (url.pathname === "/favicon.ico") {
      // No icon: an empty answer rather than a 404 in the browser's console.
      res.writeHead(204).end();
      return true;
    }
    const asset = ASSETS[url.pathname];
    if (asset) {
      res.writeHead(200, { "content-type": asset.type });
      res.end(req.method === "HEAD" ? undefined : asset.body);
      return true;
    }
    if (url.pathname === "/events") {
      const wanted = url.searchParams.get("page");
      this.stream(req, res, PAGES.find((p) => p === wanted) ?? "overview");
      return true;
    }
    const page = PAGE_OF.get(url.pathname) as Page;
    this.pages++;
    const html = renderPage(pageModel(page, this.source));
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(req.method === "HEAD" ? undefined : html);
    return true;
  }

  /** 404 for a path that is none of the view's (its own listener). */
  notFound(res: ServerResponse): void {
    this.refused["not-found"]++;
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }

  /** Server-sent events: the page's tables now and every WEB_LIMITS.updateMs. */
  private stream(req: IncomingMessage, res: ServerResponse, page: Page): void {
    if (this.streams.size >= WEB_LIMITS.maxStreams) {
      this.refused["too-many-streams"]++;
      res.writeHead(503, { "content-type": "text/plain", "retry-after": "10", connection: "close" });
      res.end("too many live views open\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    this.streams.add(res);
    const send = (fresh: boolean) => {
      if (res.writableLength > WEB_LIMITS.maxQueuedBytes) {
        this.refused["not-reading"]++;
        res.destroy();
        return;
      }
      res.write(`event: state\ndata: ${this.eventData(page, fresh)}\n\n`);
    };
    res.write(`retry: ${WEB_LIMITS.updateMs}\n\n`);
    send(true);
    const timer = setInterval(() => send(false), WEB_LIMITS.updateMs);
    res.on("close", () => {
      clearInterval(timer);
      this.streams.delete(res);
    });
  }

  /**
   * The page's tables as JSON: built now for a new stream (`fresh`), else reused when
   * another stream of the page built them less than an update interval ago (minus a
   * margin, so that each tick still shows data at most one interval old).
   */
  private eventData(page: Page, fresh: boolean): string {
    const now = Date.now();
    const last = this.latest.get(page);
    if (!fresh && last && now - last.at < WEB_LIMITS.updateMs - SHARE_MARGIN_MS) return last.data;
    const data = JSON.stringify(pageModel(page, this.source));
    this.modelsBuilt++;
    this.latest.set(page, { at: now, data });
    return data;
  }

  /** Ends every event stream (shutdown). */
  close(): void {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    this.latest.clear();
  }
}

/** The view on its own listener (`http: { listen: "ADDRESS:PORT" }`). */
export async function listenWebView(view: WebView, listen: string): Promise<BoundedHttpServer> {
  const server = await BoundedHttpServer.listen(listen, "the web view", (req, res) => {
    if (!view.handle(req, res)) view.notFound(res);
  });
  view.listener = server;
  return server;
}
