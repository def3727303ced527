/** The CLI families, and which one reads a given agent command's output. */
import { auggie } from "./auggie.ts";
import { claude } from "./claude.ts";
import { codex } from "./codex.ts";
import { copilot } from "./copilot.ts";
import { gemini } from "./gemini.ts";
import { opencode } from "./opencode.ts";
import { aider, amp, goose, plain } from "./plain.ts";
import type { CliFamily } from "./types.ts";

export type { CliError, CliErrorKind, CliFamily, CliOutcome, OutputParser } from "./types.ts";

export const FAMILIES: Readonly<Record<string, CliFamily>> = {
  claude,
  codex,
  gemini,
  opencode,
  copilot,
  auggie,
  aider,
  goose,
  amp,
  plain,
};

/**
 * The family of a command: its program's name (after any `VAR=value` assignments and a path),
 * when that is a known CLI; plain text otherwise.
 */
export function familyOf(command: string): CliFamily {
  const words = command.trim().split(/\s+/);
  const program = words.find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) ?? "";
  const base = program.replace(/^['"]|['"]$/g, "").split("/").at(-1) ?? "";
  return FAMILIES[base] && base !== "plain" ? FAMILIES[base] : plain;
}
