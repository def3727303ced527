/**
 * copilot (`copilot -p … --output-format json`): JSONL events `{type, data, id, timestamp}` —
 * `session.start` (data.sessionId), `assistant.message` (data.content), `session.error`
 * (data.message). These shapes are those of copilot's session files (copilot 1.0 did not run
 * here without a GitHub login): anything else falls back to the plain-text tail.
 * Without a login copilot prints "Error: No authentication information found." and exits 1.
 */
import { z } from "zod";
import { BaseParser } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliFamily, renderJson } from "./types.ts";

const Event = z.looseObject({
  type: z.string(),
  data: z.looseObject({
    sessionId: z.string().optional().catch(undefined),
    content: z.string().optional().catch(undefined),
    message: z.string().optional().catch(undefined),
  }).optional().catch(undefined),
});

export class CopilotParser extends BaseParser {
  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    if (ev.data?.sessionId) this.out.sessionId = ev.data.sessionId;
    if (ev.type === "assistant.message" && ev.data?.content?.trim()) {
      this.out.text = ev.data.content.trim();
    }
    if (ev.type === "session.error" && ev.data?.message) {
      this.out.error = errorFrom(ev.data.message);
    }
    return true;
  }
}

export const copilot: CliFamily = {
  name: "copilot",
  json: true,
  parser: () => new CopilotParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "session.start") return `[copilot session ${ev.data?.sessionId ?? "?"}]`;
    if (ev.type === "assistant.message") return ev.data?.content;
    if (ev.type === "session.error") return `! ${ev.data?.message ?? ""}`;
    return undefined;
  }),
};
