/**
 * The web view's access token: read from `http.token-file` at start; when set, every
 * request must carry it, as `Authorization: Bearer TOKEN`, as the `improxy_token` cookie,
 * or once as `?token=TOKEN` on a page (answered with a redirect that sets the cookie, so
 * the token leaves the address bar). Compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";

export const TOKEN_COOKIE = "improxy_token";
/** Shorter tokens are refused at start: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** The token in `file` (surrounding blanks dropped); throws with a clear message when unusable. */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read the web view's token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(
      `the web view's token file ${file} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without blanks`,
    );
  }
  return token;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The value of cookie `name` in a Cookie header, or null. */
export function cookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

export type Access = "granted" | "login" | "refused";

export class TokenCheck {
  private readonly wanted: Buffer | null;

  constructor(token: string | null) {
    this.wanted = token === null ? null : digest(token);
  }

  private matches(offered: string | null): boolean {
    return offered !== null && this.wanted !== null && timingSafeEqual(digest(offered), this.wanted);
  }

  /**
   * granted: no token is set, or the request carries it (header or cookie); login: a valid
   * `?token=` (the caller sets the cookie and redirects); refused: anything else.
   */
  check(req: IncomingMessage, url: URL): Access {
    if (this.wanted === null) return "granted";
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : null;
    if (this.matches(bearer) || this.matches(cookie(req.headers.cookie, TOKEN_COOKIE))) return "granted";
    if (this.matches(url.searchParams.get("token"))) return "login";
    return "refused";
  }

  /** The Set-Cookie value that carries `token` for this site's pages. */
  static setCookie(token: string): string {
    return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
  }
}
