/**
 * opencode (`opencode run --format json`): one JSON object per line, each
 * `{type, timestamp, sessionID, …}` — `step_start`, `text` (part.text, written once the text part
 * ends), `reasoning`, `tool_use` (part.tool, part.state), `step_finish` (part.cost,
 * part.tokens.input/output/cache.read) and `error` (error.name, error.data.message). The prompt
 * is read from stdin when it is not a TTY. Read from opencode 1.18.33's `run` command.
 */
import { z } from "zod";
import { BaseParser, num } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliFamily, renderJson } from "./types.ts";

const Part = z.looseObject({
  type: z.string().catch(""),
  text: z.string().optional().catch(undefined),
  tool: z.string().optional().catch(undefined),
  cost: z.number().optional().catch(undefined),
  tokens: z.looseObject({
    input: z.number().optional().catch(undefined),
    output: z.number().optional().catch(undefined),
    cache: z.looseObject({ read: z.number().optional().catch(undefined) }).optional()
      .catch(undefined),
  }).optional().catch(undefined),
  state: z.looseObject({ status: z.string().optional().catch(undefined) }).optional()
    .catch(undefined),
});

const Event = z.looseObject({
  type: z.string(),
  sessionID: z.string().optional().catch(undefined),
  part: Part.optional().catch(undefined),
  error: z.looseObject({
    name: z.string().catch("Error"),
    data: z.looseObject({ message: z.string().optional().catch(undefined) }).optional()
      .catch(undefined),
  }).optional().catch(undefined),
});

export class OpencodeParser extends BaseParser {
  protected event(raw: Record<string, unknown>): boolean {
    const r = Event.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    if (ev.sessionID) this.out.sessionId = ev.sessionID;
    if (ev.type === "text" && ev.part?.text?.trim()) this.out.text = ev.part.text.trim();
    if (ev.type === "step_finish" && ev.part) {
      const prev = this.out.usage ?? { input: 0, output: 0, cached: 0 };
      const t = ev.part.tokens;
      this.out.usage = {
        input: prev.input + (num(t?.input) ?? 0),
        output: prev.output + (num(t?.output) ?? 0),
        cached: (prev.cached ?? 0) + (num(t?.cache?.read) ?? 0),
      };
      const cost = num(ev.part.cost);
      if (cost !== undefined) this.out.costUsd = (this.out.costUsd ?? 0) + cost;
    }
    if (ev.type === "error" && ev.error) {
      const name = ev.error.name;
      const message = ev.error.data?.message ?? name;
      const err = errorFrom(`${message}`);
      if (/auth/i.test(name)) err.kind = "auth";
      this.out.error = err;
    }
    return true;
  }
}

export const opencode: CliFamily = {
  name: "opencode",
  json: true,
  parser: () => new OpencodeParser(),
  render: renderJson(Event, (ev) => {
    if (ev.type === "text") return ev.part?.text;
    if (ev.type === "tool_use") {
      return `→ ${ev.part?.tool ?? "tool"} (${ev.part?.state?.status ?? "?"})`;
    }
    if (ev.type === "step_finish") {
      const t = ev.part?.tokens;
      return `[step done: ${t?.input ?? 0} in / ${t?.output ?? 0} out tokens${
        ev.part?.cost !== undefined ? `, $${ev.part.cost.toFixed(4)}` : ""
      }]`;
    }
    if (ev.type === "error") return `! ${ev.error?.data?.message ?? ev.error?.name ?? "error"}`;
    return undefined;
  }),
};
