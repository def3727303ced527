/**
 * codex (`codex exec --json`): JSONL events — `thread.started` (thread_id: the session to
 * resume), `turn.started`, `item.started|updated|completed` (item.type agent_message with text,
 * command_execution, error…), `turn.completed` (usage: input_tokens, cached_input_tokens,
 * output_tokens), `turn.failed` (error.message) and `error` (message; "Reconnecting… n/5" while it
 * retries, which is no progress). Measured with codex 0.169.0.
 */
import { z } from "zod";
import { BaseParser, num } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliFamily, oneLine, renderJson } from "./types.ts";

const Event = z.looseObject({
  type: z.string(),
  thread_id: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
  item: z.looseObject({
    type: z.string().catch(""),
    text: z.string().optional().catch(undefined),
    message: z.string().optional().catch(undefined),
    command: z.string().optional().catch(undefined),
    exit_code: z.number().nullable().optional().catch(undefined),
  }).optional().catch(undefined),
  usage: z.looseObject({
    input_tokens: z.number().optional().catch(undefined),
    cached_input_tokens: z.number().optional().catch(undefined),
    output_tokens: z.number().optional().catch(undefined),
  }).optional().catch(undefined),
  error: z.looseObject({ message: z.string().catch("") }).optional().catch(undefined),
});

const RETRYING = /^Reconnecting\b/i;

export class CodexParser extends BaseParser {
  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    switch (ev.type) {
      case "thread.started":
        if (ev.thread_id) this.out.sessionId = ev.thread_id;
        break;
      case "item.completed":
        if (ev.item?.type === "agent_message" && ev.item.text?.trim()) {
          this.out.text = ev.item.text.trim();
        }
        break;
      case "turn.completed": {
        const u = ev.usage;
        if (u) {
          const prev = this.out.usage ?? { input: 0, output: 0, cached: 0 };
          this.out.usage = {
            input: prev.input + (num(u.input_tokens) ?? 0),
            output: prev.output + (num(u.output_tokens) ?? 0),
            cached: (prev.cached ?? 0) + (num(u.cached_input_tokens) ?? 0),
          };
        }
        break;
      }
      case "turn.failed":
        this.out.error = errorFrom(ev.error?.message || "codex: turn failed");
        break;
      case "error": {
        const m = ev.message ?? "";
        if (RETRYING.test(m)) {
          // Remembered (a stall then says why), but no progress.
          this.out.error ??= errorFrom(m, "network");
          return false;
        }
        this.out.error = errorFrom(m || "codex reported an error");
        break;
      }
    }
    return true;
  }

  override finish(exitCode: number | null) {
    const out = super.finish(exitCode);
    // A retry that later succeeded is no error.
    if (exitCode === 0 && out.error?.kind === "network") out.error = undefined;
    return out;
  }
}

export const codex: CliFamily = {
  name: "codex",
  json: true,
  parser: () => new CodexParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "thread.started") return `[codex session ${ev.thread_id ?? "?"}]`;
    if (ev.type === "item.completed" && ev.item) {
      if (ev.item.type === "agent_message") return ev.item.text?.trim();
      if (ev.item.type === "command_execution") {
        return `→ ${oneLine(ev.item.command ?? "", 200)}${
          ev.item.exit_code !== undefined && ev.item.exit_code !== null
            ? ` (exit ${ev.item.exit_code})`
            : ""
        }`;
      }
      if (ev.item.type === "error") return `! ${ev.item.message ?? ""}`;
      return undefined;
    }
    if (ev.type === "turn.completed") {
      return `[turn done: ${ev.usage?.input_tokens ?? 0} in / ${
        ev.usage?.output_tokens ?? 0
      } out tokens]`;
    }
    if (ev.type === "turn.failed") return `! turn failed: ${ev.error?.message ?? ""}`;
    if (ev.type === "error") return `! ${ev.message ?? ""}`;
    return undefined;
  }),
};
