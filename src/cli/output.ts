/**
 * How commands print: data on stdout (human text, or JSON with --json), messages on stderr.
 * Colour only on a terminal and never with NO_COLOR.
 */
import { writeErr, writeOut } from "./sink.ts";

const useColor = Deno.stdout.isTerminal() && !Deno.noColor;
const paint = (code: string) => (s: string) => useColor ? `\x1b[${code}m${s}\x1b[0m` : s;

export const color = {
  bold: paint("1"),
  dim: paint("2"),
  red: paint("31"),
  green: paint("32"),
  yellow: paint("33"),
  blue: paint("34"),
  cyan: paint("36"),
};

/** Prints `data` as JSON when `json` is set, else the human lines. */
export function output(json: boolean | undefined, data: unknown, human: () => string | string[]) {
  if (json) {
    writeOut(JSON.stringify(data, null, 2));
    return;
  }
  const text = human();
  const lines = Array.isArray(text) ? text : [text];
  if (lines.length) writeOut(lines.join("\n"));
}

/** A note for the human on stderr (never part of the data). */
export function note(message: string) {
  writeErr(message);
}

/** Truncates to `n` characters with an ellipsis, on one line. */
export function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length <= n ? one : one.slice(0, n - 1) + "…";
}

/** "3m ago" style age of an ISO timestamp. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
