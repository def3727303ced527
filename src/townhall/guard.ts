/**
 * What a web page must never be able to do: reach townhall under a foreign `Host` (DNS
 * rebinding), call it from a foreign `Origin`, or change state with a "simple" cross-site request
 * (a no-cors POST carries text/plain or no Content-Type at all, never application/json).
 *
 * Checked first, on every route (SSE and /mcp included), before anything touches Redis.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { HttpError } from "./errors.ts";
import type { AppEnv } from "./env.ts";

/** Methods that may change state: they need `Content-Type: application/json`. */
export const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The one path that also takes an HTML form post: the dashboard's login. Such a post must carry an
 * (allowed) `Origin`, which browsers always send with a POST; a form from a foreign page is
 * refused by the Origin check like any other request.
 */
export const FORM_PATHS = new Set(["/login"]);

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const WILDCARD = new Set(["0.0.0.0", "[::]", "::", ""]);

/** `::1` → `[::1]`; names lower-cased. */
function hostName(h: string): string {
  const s = h.trim().toLowerCase();
  return s.includes(":") && !s.startsWith("[") ? `[${s}]` : s;
}

/** Splits a Host header value into name and port (`[::1]:8080` → `[::1]`, `8080`). */
export function splitHost(value: string): { name: string; port?: string } {
  const v = value.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return { name: v };
  return { name: m[1], port: m[2] };
}

/** The Host and Origin allow-lists of one server; `port` is set once it listens. */
export class RequestGuard {
  private names: Set<string>;
  private exactHosts: Set<string>;
  private origins: Set<string>;
  port?: number;

  constructor(bind: string, cfg: { allowed_hosts: string[]; allowed_origins: string[] }) {
    this.names = new Set(LOOPBACK_NAMES);
    const b = hostName(bind);
    if (!WILDCARD.has(b)) this.names.add(b);
    this.exactHosts = new Set();
    for (const h of cfg.allowed_hosts) {
      const { name, port } = splitHost(h);
      if (port) this.exactHosts.add(`${name}:${port}`);
      else this.names.add(hostName(name));
    }
    this.origins = new Set(cfg.allowed_origins.map((o) => o.trim().replace(/\/+$/, "")));
  }

  /** Called when the server listens: the port joins the accepted Host and Origin values. */
  listening(port: number): void {
    this.port = port;
  }

  hostAllowed(value: string | undefined): boolean {
    if (!value) return false;
    const v = value.trim().toLowerCase();
    if (this.exactHosts.has(v)) return true;
    const { name, port } = splitHost(v);
    return this.names.has(name) && (port === undefined || port === String(this.port));
  }

  originAllowed(value: string | undefined): boolean {
    if (value === undefined) return true;
    const v = value.trim();
    if (this.origins.has(v)) return true;
    return [...this.names].some((n) => v.toLowerCase() === `http://${n}:${this.port}`);
  }

  /** For CORS: the Origin itself when it is one of `allowed_origins` (others get no CORS headers). */
  corsOrigin(origin: string): string | null {
    return this.origins.has(origin) ? origin : null;
  }

  /** The exact Host values accepted (for the MCP SDK's own DNS-rebinding protection). */
  allowedHostValues(): string[] {
    return [
      ...[...this.names].flatMap((n) => [n, `${n}:${this.port}`]),
      ...this.exactHosts,
    ];
  }

  /** The Origins accepted (for the MCP SDK). */
  allowedOriginValues(): string[] {
    return [...this.origins, ...[...this.names].map((n) => `http://${n}:${this.port}`)];
  }
}

const mediaType = (contentType: string | undefined) =>
  contentType?.split(";")[0].trim().toLowerCase();

function isJson(contentType: string | undefined): boolean {
  return mediaType(contentType) === "application/json";
}

/** 403 for a foreign Host or Origin; 415 for a state-changing request that is not JSON. */
export function guard(g: RequestGuard): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const host = c.req.header("host");
    if (!g.hostAllowed(host)) {
      throw new HttpError(
        403,
        "forbidden",
        `Host '${
          (host ?? "").slice(0, 100)
        }' is not allowed: use 127.0.0.1 or localhost, or add it to [townhall] allowed_hosts`,
      );
    }
    const origin = c.req.header("origin");
    if (!g.originAllowed(origin)) {
      throw new HttpError(
        403,
        "forbidden",
        `Origin '${origin!.slice(0, 100)}' is not allowed: add it to [townhall] allowed_origins`,
      );
    }
    const type = c.req.header("content-type");
    const formOk = FORM_PATHS.has(c.req.path) && origin !== undefined &&
      mediaType(type) === "application/x-www-form-urlencoded";
    if (STATE_CHANGING.has(c.req.method) && !isJson(type) && !formOk) {
      throw new HttpError(
        415,
        "unsupported_media_type",
        `${c.req.method} needs 'Content-Type: application/json' (also without a body)`,
      );
    }
    await next();
  };
}

/**
 * A JSON request with an empty body reads as `{}`, so a body-less POST that carries the required
 * Content-Type is not "malformed JSON". Runs after the body limit (which buffers the body).
 */
export const emptyJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (STATE_CHANGING.has(c.req.method) && c.req.path !== "/mcp") {
    const text = await c.req.text();
    if (text.trim() === "") {
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve("{}");
    }
  }
  await next();
};

/**
 * CORS for the pages at `allowed_origins` (a browser dashboard elsewhere): their preflights are
 * answered without a key, and their calls may carry the key header. Others get no CORS headers.
 */
export function corsFor(g: RequestGuard): MiddlewareHandler<AppEnv> {
  return cors({
    origin: (origin) => g.corsOrigin(origin),
    allowMethods: ["GET", "POST", "DELETE"],
    allowHeaders: ["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID", "Accept"],
    exposeHeaders: ["Retry-After", "WWW-Authenticate"],
    maxAge: 600,
  });
}
