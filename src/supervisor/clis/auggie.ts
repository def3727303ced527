/**
 * auggie (`auggie --print --output-format json`): one JSON object at the end,
 * `{type: "result", result, is_error, subtype, session_id, num_turns, billing?}` (read from
 * auggie 0.36.0). Without a login it prints "❌ No auth provided. Please log in with `auggie
 * login` or set the AUGMENT_SESSION_AUTH environment variable." and exits 1.
 */
import { z } from "zod";
import { BaseParser } from "./base.ts";
import { errorFrom } from "./classify.ts";
import { type CliFamily, jsonLine } from "./types.ts";

const Result = z.looseObject({
  type: z.literal("result"),
  result: z.string().optional().catch(undefined),
  is_error: z.boolean().optional().catch(undefined),
  subtype: z.string().optional().catch(undefined),
  session_id: z.string().optional().catch(undefined),
});

export class AuggieParser extends BaseParser {
  protected event(raw: Record<string, unknown>): boolean {
    const r = Result.safeParse(raw);
    if (!r.success) return true;
    const ev = r.data;
    if (ev.session_id) this.out.sessionId = ev.session_id;
    if (ev.result?.trim()) this.out.text = ev.result.trim();
    if (ev.is_error) {
      this.out.error = errorFrom(ev.result || ev.subtype || "auggie reported an error");
    }
    return true;
  }
}

export const auggie: CliFamily = {
  name: "auggie",
  json: true,
  parser: () => new AuggieParser(),
  render(line) {
    const raw = jsonLine(line);
    if (!raw) return line;
    const r = Result.safeParse(raw);
    if (!r.success) return undefined;
    return `${r.data.result ?? ""}\n[result: ${r.data.is_error ? "failed" : "done"}, session ${
      r.data.session_id ?? "?"
    }]`;
  },
};
