/**
 * copilot (`copilot -p … --output-format json`): JSONL events `{type, data, id, timestamp,
 * parentId, ephemeral?}`, read from the real copilot 1.0.102 run against a stub model provider
 * (COPILOT_PROVIDER_BASE_URL, tests/cli/clis_copilot_e2e_test.ts): `user.message`,
 * `assistant.turn_start`, `assistant.message_delta` (data.deltaContent), `assistant.message`
 * (data.content, data.toolRequests), `tool.execution_start` (data.toolName, data.arguments),
 * `tool.execution_complete`, `assistant.turn_retry` and `session.info` (infoType model_retry:
 * retries, no progress), `session.error` (data.errorType such as "authentication", data.message,
 * data.statusCode) and a final `result` (sessionId, exitCode, usage.premiumRequests; no token
 * counts). Without any login it prints "Error: No authentication information found." on stderr
 * and exits 1, before any event.
 */
import { z } from "zod";
import { BaseParser } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliErrorKind, type CliFamily, oneLine, renderJson } from "./types.ts";

const Event = z.looseObject({
  type: z.string(),
  sessionId: z.string().optional().catch(undefined),
  exitCode: z.number().optional().catch(undefined),
  data: z.looseObject({
    sessionId: z.string().optional().catch(undefined),
    content: z.string().optional().catch(undefined),
    message: z.string().optional().catch(undefined),
    errorType: z.string().optional().catch(undefined),
    statusCode: z.number().optional().catch(undefined),
    infoType: z.string().optional().catch(undefined),
    toolName: z.string().optional().catch(undefined),
    arguments: z.unknown().optional(),
  }).optional().catch(undefined),
});

/** Events that only say copilot is retrying: they do not reset the stall timer. */
const RETRIES = new Set(["assistant.turn_retry", "model.call_failure"]);

function kindOf(
  errorType: string | undefined,
  status: number | undefined,
): CliErrorKind | undefined {
  if (errorType === "authentication" || status === 401 || status === 403) return "auth";
  if (/rate|quota|limit/i.test(errorType ?? "") || status === 429) return "usage_limit";
  return undefined;
}

export class CopilotParser extends BaseParser {
  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    const sid = ev.data?.sessionId ?? (ev.type === "result" ? ev.sessionId : undefined);
    if (sid) this.out.sessionId = sid;
    if (ev.type === "assistant.message" && ev.data?.content?.trim()) {
      this.out.text = ev.data.content.trim();
    }
    if (ev.type === "session.error" && ev.data?.message) {
      const err = errorFrom(ev.data.message);
      const kind = kindOf(ev.data.errorType, ev.data.statusCode);
      this.out.error = kind ? { ...err, kind } : err;
    }
    if (RETRIES.has(ev.type)) return false;
    if (ev.type === "session.info" && ev.data?.infoType === "model_retry") return false;
    return true;
  }
}

export const copilot: CliFamily = {
  name: "copilot",
  json: true,
  parser: () => new CopilotParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "session.start") return `[copilot session ${ev.data?.sessionId ?? "?"}]`;
    if (ev.type === "assistant.message") return ev.data?.content?.trim() || undefined;
    if (ev.type === "tool.execution_start") {
      return `→ ${ev.data?.toolName ?? "tool"} ${
        oneLine(JSON.stringify(ev.data?.arguments ?? {}), 200)
      }`;
    }
    if (ev.type === "session.info" && ev.data?.infoType === "model_retry") {
      return `… ${ev.data.message ?? "retrying"}`;
    }
    if (ev.type === "session.error") return `! ${ev.data?.message ?? ""}`;
    if (ev.type === "result") {
      return `[copilot session ${ev.sessionId ?? "?"}: exit ${ev.exitCode ?? "?"}]`;
    }
    return undefined;
  }),
};
