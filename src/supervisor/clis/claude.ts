/**
 * claude (`claude --print --output-format stream-json --verbose`): one JSON object per line —
 * `system`/`init` (session_id), `assistant` (message.content text and tool_use parts; `error`
 * such as "authentication_failed" on API errors), `user` (tool results) and a final `result`
 * (result, session_id, total_cost_usd, usage, permission_denials, is_error, api_error_status).
 * Measured with claude 2.1.328 (no login: `assistant.error = "authentication_failed"`, result
 * "Not logged in · Please run /login", exit 1).
 */
import { z } from "zod";
import { BaseParser, num } from "./base.ts";
import { errorFrom } from "./classify.ts";
import {
  type CliError,
  type CliErrorKind,
  type CliFamily,
  jsonLine,
  oneLine,
  renderJson,
  type Stream,
} from "./types.ts";

const Content = z.array(z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  name: z.string().optional(),
  input: z.unknown().optional(),
  content: z.unknown().optional(),
})).catch([]);

const Event = z.looseObject({
  type: z.string(),
  subtype: z.string().optional().catch(undefined),
  session_id: z.string().optional().catch(undefined),
  model: z.string().optional().catch(undefined),
  message: z.looseObject({ content: Content }).optional().catch(undefined),
  error: z.string().optional().catch(undefined),
  result: z.string().optional().catch(undefined),
  is_error: z.boolean().optional().catch(undefined),
  api_error_status: z.number().nullable().optional().catch(undefined),
  // system/api_retry: attempt, max_retries, error_status, error (authentication_failed, unknown…)
  attempt: z.number().optional().catch(undefined),
  max_retries: z.number().optional().catch(undefined),
  error_status: z.number().nullable().optional().catch(undefined),
  total_cost_usd: z.number().optional().catch(undefined),
  usage: z.looseObject({
    input_tokens: z.number().optional().catch(undefined),
    output_tokens: z.number().optional().catch(undefined),
    cache_read_input_tokens: z.number().optional().catch(undefined),
    cache_creation_input_tokens: z.number().optional().catch(undefined),
  }).optional().catch(undefined),
  permission_denials: z.array(z.looseObject({
    tool_name: z.string().catch("tool"),
    tool_input: z.unknown().optional(),
  })).optional().catch(undefined),
});

/** claude's `assistant.error` codes, by reaction. */
const API_ERRORS: Record<string, CliErrorKind> = {
  authentication_failed: "auth",
  billing_error: "auth",
  oauth_org_not_allowed: "auth",
  rate_limit: "usage_limit",
};

export class ClaudeParser extends BaseParser {
  #apiError?: string;
  #fatal?: CliError;
  /** The last assistant message not parsed yet (only the last one's text matters). */
  #pending?: string;

  protected override skim(raw: string): boolean | undefined {
    // Tool results and plain assistant messages are most of the stream; an assistant message
    // with an API error (or anything else) is parsed at once.
    if (raw.startsWith('{"type":"user"')) return true;
    if (raw.startsWith('{"type":"assistant"') && !raw.includes('"error":"')) {
      this.#pending = raw;
      return true;
    }
    return undefined;
  }

  #flush() {
    const raw = this.#pending;
    this.#pending = undefined;
    const ev = raw ? jsonLine(raw) : undefined;
    if (ev) this.event(ev);
  }

  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    if (ev.type !== "assistant") this.#flush(); // keep the order of texts
    if (ev.session_id) this.out.sessionId = ev.session_id;
    if (ev.type === "system" && ev.model) this.out.model = ev.model;
    if (ev.type === "system" && ev.subtype === "api_retry") return this.#retry(ev);
    if (ev.type === "assistant") {
      const text = ev.message?.content.filter((c) => c.type === "text").map((c) => c.text ?? "")
        .join("").trim();
      if (text) this.out.text = text;
      if (ev.error) this.#apiError = ev.error;
    }
    if (ev.type === "result") {
      if (ev.result !== undefined && ev.result.trim()) this.out.text = ev.result.trim();
      this.out.costUsd = num(ev.total_cost_usd) ?? this.out.costUsd;
      if (ev.usage) {
        this.out.usage = {
          input: (ev.usage.input_tokens ?? 0) + (ev.usage.cache_creation_input_tokens ?? 0),
          output: ev.usage.output_tokens ?? 0,
          cached: ev.usage.cache_read_input_tokens,
        };
      }
      this.out.permissionDenials = (ev.permission_denials ?? []).map((d) =>
        oneLine(`${d.tool_name}${d.tool_input ? ` ${JSON.stringify(d.tool_input)}` : ""}`, 200)
      );
      if (ev.is_error || (ev.subtype && ev.subtype !== "success")) {
        const message = ev.result?.trim() || ev.subtype || "claude reported an error";
        const status = ev.api_error_status ?? undefined;
        const byStatus: CliErrorKind | undefined = status === 401 || status === 403
          ? "auth"
          : status === 429
          ? "usage_limit"
          : undefined;
        const kind = byStatus ?? (this.#apiError ? API_ERRORS[this.#apiError] : undefined);
        const err = errorFrom(message);
        this.out.error = kind && kind !== err.kind ? { ...errorFrom(message), kind } : err;
      }
    }
    return true;
  }

  /**
   * claude retries every failed API call (10 times, backoff up to minutes), a refused key too.
   * A refused key ends the round at once; a retry with no answer at all (connection refused,
   * timeout: error_status null) is no progress, so the stall timer runs on; one the service
   * answered (429, 529 overloaded) is claude waiting as told, and counts as progress.
   */
  #retry(ev: z.infer<typeof Event>): boolean {
    const status = ev.error_status ?? undefined;
    const code = ev.error ?? "unknown";
    if (status === 401 || status === 403 || API_ERRORS[code] === "auth") {
      this.#fatal = {
        kind: "auth",
        message: oneLine(
          `API error ${status ?? "?"} ${code} (claude would retry it ${
            ev.max_retries ?? "several"
          } times; tt does not wait): check ANTHROPIC_API_KEY / the login (\`claude\` then /login)`,
        ),
      };
      this.out.error = this.#fatal;
    }
    return status !== undefined;
  }

  override fatal(): CliError | undefined {
    return this.#fatal;
  }

  override finish(exitCode: number | null) {
    this.#flush();
    const out = super.finish(exitCode);
    // Ended by tt on a refused key: the error is that, whatever the signal's exit left behind.
    if (this.#fatal) out.error = this.#fatal;
    return out;
  }

  protected override plainLine(text: string, stream: Stream): boolean {
    if (stream === "stderr" && /cannot be used with root\/sudo/.test(text)) {
      this.out.error = {
        kind: "setup",
        message: oneLine(
          `${text} (tt runs claude with --dangerously-skip-permissions; outside tt's agent sandbox that is refused as root: turn the sandbox on ([agent] sandbox) or run tt as a non-root user)`,
        ),
      };
    }
    return true;
  }
}

export const claude: CliFamily = {
  name: "claude",
  json: true,
  parser: () => new ClaudeParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "system" && ev.subtype === "init") {
      return `[claude session ${ev.session_id ?? "?"}${ev.model ? `, model ${ev.model}` : ""}]`;
    }
    if (ev.type === "assistant") {
      const parts = (ev.message?.content ?? []).map((c) =>
        c.type === "text"
          ? c.text?.trim()
          : c.type === "tool_use"
          ? `→ ${c.name ?? "tool"} ${oneLine(JSON.stringify(c.input ?? {}), 200)}`
          : undefined
      ).filter(Boolean);
      return parts.length ? parts.join("\n") : undefined;
    }
    if (ev.type === "result") {
      const bits = [
        ev.is_error ? "failed" : "done",
        ev.total_cost_usd !== undefined ? `$${ev.total_cost_usd.toFixed(4)}` : "",
        ev.usage
          ? `${ev.usage.input_tokens ?? 0} in / ${ev.usage.output_tokens ?? 0} out tokens`
          : "",
        ev.permission_denials?.length ? `${ev.permission_denials.length} permission denial(s)` : "",
      ].filter(Boolean);
      return `[result: ${bits.join(", ")}]${ev.is_error && ev.result ? ` ${ev.result}` : ""}`;
    }
    return undefined;
  }),
};
