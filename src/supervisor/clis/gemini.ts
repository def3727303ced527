/**
 * gemini (`gemini --output-format stream-json`): JSONL events — `init` (session_id, model),
 * `message` (role, content; assistant text arrives in `delta` pieces), `tool_use`, `tool_result`,
 * `error` (severity, message) and a final `result` (status success|error, error.message,
 * stats.input_tokens/output_tokens/cached). Fatal errors before the stream starts are plain text
 * on stderr with an exit code: 41 = no auth method, 55 = untrusted directory (`--skip-trust`).
 * Event types read from gemini-cli 0.61.0 (JsonStreamEventType) and measured without a key.
 */
import { z } from "zod";
import { BaseParser, num } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliFamily, oneLine, renderJson } from "./types.ts";

const Event = z.looseObject({
  type: z.string(),
  session_id: z.string().optional().catch(undefined),
  model: z.string().optional().catch(undefined),
  role: z.string().optional().catch(undefined),
  content: z.string().optional().catch(undefined),
  delta: z.boolean().optional().catch(undefined),
  tool_name: z.string().optional().catch(undefined),
  parameters: z.unknown().optional(),
  status: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
  error: z.looseObject({ type: z.string().optional(), message: z.string().catch("") }).optional()
    .catch(undefined),
  stats: z.looseObject({
    input_tokens: z.number().optional().catch(undefined),
    output_tokens: z.number().optional().catch(undefined),
    cached: z.number().optional().catch(undefined),
  }).optional().catch(undefined),
});

/** gemini's fatal exit codes. */
const EXIT_AUTH = 41;
const EXIT_UNTRUSTED = 55;

export class GeminiParser extends BaseParser {
  #reply = "";

  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    if (ev.session_id) this.out.sessionId = ev.session_id;
    if (ev.type === "init" && ev.model) this.out.model = ev.model;
    if (ev.type === "message" && ev.role === "assistant" && ev.content) {
      this.#reply = ev.delta ? this.#reply + ev.content : ev.content;
    }
    if (ev.type === "tool_use") this.#reply = ""; // the final message is the one after the last tool
    if (ev.type === "error" && ev.message) this.out.error = errorFrom(ev.message);
    if (ev.type === "result") {
      if (ev.stats) {
        this.out.usage = {
          input: num(ev.stats.input_tokens) ?? 0,
          output: num(ev.stats.output_tokens) ?? 0,
          cached: num(ev.stats.cached),
        };
      }
      if (ev.status === "error") {
        this.out.error = errorFrom(ev.error?.message || "gemini reported an error");
      }
    }
    return true;
  }

  override finish(exitCode: number | null) {
    if (this.#reply.trim()) this.out.text = this.#reply.trim();
    const out = super.finish(exitCode);
    if (exitCode === EXIT_AUTH && out.error) out.error.kind = "auth";
    if (exitCode === EXIT_UNTRUSTED) {
      out.error = {
        kind: "setup",
        message: oneLine(
          `${out.error?.message ?? "gemini: untrusted directory"} (exit 55)`,
        ),
      };
    }
    return out;
  }
}

export const gemini: CliFamily = {
  name: "gemini",
  json: true,
  parser: () => new GeminiParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "init") {
      return `[gemini session ${ev.session_id ?? "?"}, model ${ev.model ?? "?"}]`;
    }
    if (ev.type === "message" && ev.role === "assistant") return ev.content;
    if (ev.type === "tool_use") {
      return `→ ${ev.tool_name ?? "tool"} ${oneLine(JSON.stringify(ev.parameters ?? {}), 200)}`;
    }
    if (ev.type === "error") return `! ${ev.message ?? ""}`;
    if (ev.type === "result") {
      return `[result: ${ev.status ?? "?"}${
        ev.stats
          ? `, ${ev.stats.input_tokens ?? 0} in / ${ev.stats.output_tokens ?? 0} out tokens`
          : ""
      }]${ev.error?.message ? ` ${ev.error.message}` : ""}`;
    }
    return undefined;
  }),
};
