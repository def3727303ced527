/**
 * CLIs tt reads as plain text: aider, goose, amp (their presets print text) and any command that
 * is not a known CLI. The final text is the output's tail; a failure is classified from its
 * stderr (or output) lines.
 */
import { PlainParser } from "./base.ts";
import type { CliFamily } from "./types.ts";

function plainFamily(name: string): CliFamily {
  return { name, json: false, parser: () => new PlainParser(), render: (line) => line };
}

export const plain = plainFamily("plain");
export const aider = plainFamily("aider");
export const goose = plainFamily("goose");
export const amp = plainFamily("amp");
