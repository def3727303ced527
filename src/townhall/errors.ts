/**
 * How failures become HTTP responses: one JSON shape, `{error, code, status, field?}`, and a
 * fixed mapping from core errors (UsageError → 400, NotFoundError → 404, ConflictError → 409).
 * Bad input is never a 500.
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError } from "zod";
import { ConflictError, NotFoundError, TtError, UsageError } from "../core/errors.ts";
import { ConnectError } from "../redis/connection.ts";

export interface ErrorBody {
  error: string;
  code: string;
  status: number;
  /** The request field at fault, e.g. `body.agent` or `query.count`. */
  field?: string;
}

/** A failure with an HTTP status decided by the townhall itself (auth, limits, input). */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "failed",
  429: "rate_limited",
  500: "internal",
  503: "unavailable",
};

export function body(status: number, message: string, field?: string, code?: string): ErrorBody {
  return {
    error: message,
    code: code ?? CODES[status] ?? "error",
    status,
    ...(field ? { field } : {}),
  };
}

/** `target.path: message` for the first zod issue (`body.tags.2: expected string…`). */
export function zodIssue(e: ZodError, target = "body"): { field: string; message: string } {
  const issue = e.issues[0];
  const field = [target, ...issue.path.map(String)].join(".");
  return { field, message: `${field}: ${issue.message}` };
}

/** Is this error Redis being unreachable (rather than a bug)? */
function isRedisDown(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return e instanceof ConnectError ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|ENOENT|EPIPE|Stream isn't writeable/.test(msg);
}

/** CLI wording in core messages → the request fields a REST or MCP caller sets instead. */
const REST_WORDS: [RegExp, string][] = [
  [
    /'tt task complete' runs it, or pass --no-verify to skip it/g,
    'send "skip_verify": true to complete it without running the check',
  ],
  [/pass --force to/g, 'send "force": true to'],
  [/use --force to/g, 'send "force": true to'],
  [/--verify needs a command, e\.g\. --verify '([^']*)'/g, 'verify needs a command, e.g. "$1"'],
  [/choose one destination: --to or --to-backlog/g, "choose one destination: to or to_backlog"],
  [/--rounds must/g, "rounds must"],
];

/** A core error message as a REST/MCP caller should read it (fields, not CLI flags). */
export function restWording(message: string): string {
  let m = message;
  for (const [re, to] of REST_WORDS) m = m.replace(re, to);
  return m;
}

/** Maps any thrown value to a status and body; `internal` is true for genuine bugs. */
export function toHttp(e: unknown): {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers: Record<string, string>;
  internal: boolean;
} {
  const out = (status: ContentfulStatusCode, b: ErrorBody, headers = {}, internal = false) => ({
    status,
    body: b,
    headers,
    internal,
  });
  if (e instanceof HttpError) {
    return out(e.status, body(e.status, e.message, e.field, e.code), e.headers);
  }
  if (e instanceof UsageError) return out(400, body(400, restWording(e.message)));
  if (e instanceof NotFoundError) return out(404, body(404, restWording(e.message)));
  if (e instanceof ConflictError) return out(409, body(409, restWording(e.message)));
  if (e instanceof ZodError) {
    const { field, message } = zodIssue(e);
    return out(400, body(400, message, field));
  }
  if (e instanceof HTTPException) {
    const status = e.status as ContentfulStatusCode;
    const message = status === 413
      ? "request body is too large"
      : e.message || (CODES[status] ?? "error").replaceAll("_", " ");
    return out(status, body(status, message, status === 400 ? "body" : undefined));
  }
  if (isRedisDown(e)) {
    return out(503, body(503, "Redis is unavailable; try again shortly"), { "Retry-After": "1" });
  }
  if (e instanceof TtError) return out(422, body(422, restWording(e.message)));
  return out(500, body(500, "internal error"), {}, true);
}
