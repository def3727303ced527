/**
 * How the dashboard authenticates: a session cookie (HttpOnly, SameSite=Strict) set by POST /login
 * or a `tt dashboard` link, accepted only on the dashboard's own paths and the SSE endpoint, and
 * only when the request carries no key header (a header always wins). Every action also needs the
 * session's CSRF token in `X-CSRF-Token`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { HttpError } from "../errors.ts";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { COOKIE, sameToken, SESSION_TTL_SECS, sessionOf } from "./session.ts";

/** Paths that answer without a key (they decide themselves: login page, redirect, assets). */
export function dashboardPublic(path: string): boolean {
  return path === "/" || path === "/login" || path === "/favicon.ico" ||
    path.startsWith("/assets/");
}

/** Paths where the session cookie counts as credentials. */
function cookiePath(path: string): boolean {
  return path === "/" || path === "/logout" || path.startsWith("/ui/") ||
    path === "/v1/events/stream";
}

/** Runs after `identify`: a valid session cookie supplies the principal (its key's scopes). */
export function sessionAuth(deps: TownhallDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const headers = c.req.header("authorization") !== undefined ||
      c.req.header("x-api-key") !== undefined;
    const id = cookiePath(c.req.path) && !headers ? getCookie(c, COOKIE) : undefined;
    if (id) {
      const s = await sessionOf(deps.town, id);
      // A session of the keyless mode means nothing once the town requires a key.
      if (s && (!s.open || deps.auth === "none")) {
        c.set("session", { id, csrf: s.csrf });
        if (deps.auth !== "none") {
          c.set("principal", { id: s.key_id, name: s.name, scopes: s.scopes, via: "key" });
          c.set("authError", undefined);
        }
      }
    }
    await next();
  };
}

/** Sets the session cookie (Secure when the page was reached over https, e.g. a proxy). */
export function setSessionCookie(c: Context<AppEnv>, id: string) {
  const https = c.req.url.startsWith("https:") || c.req.header("x-forwarded-proto") === "https";
  setCookie(c, COOKIE, id, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_TTL_SECS,
    secure: https,
  });
}

export function clearSessionCookie(c: Context<AppEnv>) {
  setCookie(c, COOKIE, "", { httpOnly: true, sameSite: "Strict", path: "/", maxAge: 0 });
}

/** 403 unless the request has a session and its CSRF token. */
export function requireCsrf(c: Context<AppEnv>): void {
  const s = c.get("session");
  if (!s) {
    throw new HttpError(
      403,
      "forbidden",
      "dashboard actions need a login session: log in at /login (API clients use /v1)",
    );
  }
  const token = c.req.header("x-csrf-token");
  if (!token || !sameToken(token, s.csrf)) {
    throw new HttpError(403, "forbidden", "missing or wrong CSRF token: reload the dashboard");
  }
}

/** Does the client want a page (a browser) rather than JSON? */
export function wantsHtml(c: Context<AppEnv>): boolean {
  return (c.req.header("accept") ?? "").includes("text/html");
}

/** Headers on every dashboard response: nothing inline runs, no framing, no sniffing. */
export const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.header(
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
      "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  );
  c.header("X-Frame-Options", "DENY");
  c.header("X-Content-Type-Options", "nosniff");
  // Not no-referrer: with it Chromium sends `Origin: null` on the login form, which is refused.
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", c.req.path.startsWith("/assets/") ? "max-age=86400" : "no-store");
};
