/**
 * How commands print: data on stdout (human text, or JSON with --json), messages on stderr.
 * Colour only on a terminal and never with NO_COLOR.
 *
 * Terminal safety: text from tasks, messages, results, names and logs is data, and data never
 * reaches the terminal raw. Every human string printed here goes through `escapeText`, which
 * shows control characters (ESC, NUL, BEL, C1 controls, DEL), bidi overrides and other invisible
 * format characters as `\x1b`, `\0`, `\u202e`… while keeping line breaks and tabs. Colours the
 * CLI adds itself still work: `color.*` wraps text in markers (a private-use character and a
 * per-process random nonce that data cannot know), which become SGR codes only after the text
 * around them has been escaped. JSON output stays exact: it only writes the same characters as
 * `\uXXXX` escapes, so it parses to the same strings.
 */
import { currentScope, writeErr, writeOut as writeLine } from "./sink.ts";

// --- the escaper ---------------------------------------------------------------------------

/** The private-use block the colour markers use; data holding these characters is escaped. */
const RESERVED = "\uf8e0-\uf8ff";

/** Built on first use: a Unicode property class costs up to a millisecond or two to build. */
const lazy = <T>(make: () => T) => {
  let v: T | undefined;
  return () => v ??= make();
};

/**
 * What must not reach a terminal raw: C0 controls (the caller decides about \n, \t and the \r
 * of \r\n), DEL and C1 controls, format characters (bidi overrides and isolates, zero-width
 * space and joiners, soft hyphen, BOM, tags, …), line/paragraph separators, lone surrogates,
 * the Hangul fillers that render as nothing, and the colour markers' block.
 */
const unsafe = lazy(() =>
  new RegExp(
    `[\\0-\\x1f\\x7f-\\x9f\\p{Cf}\\p{Cs}\\u2028\\u2029\\u115f\\u1160\\u3164\\uffa0${RESERVED}]`,
    "gu",
  )
);
/** An emoji (with its modifiers) just before, and one just after: a ZWJ emoji sequence. */
const emojiBefore = lazy(() => /\p{Extended_Pictographic}[\p{M}\u{1f3fb}-\u{1f3ff}]*$/u);
const emojiAfter = lazy(() => /^\p{Extended_Pictographic}/u);
/** ZWNJ is spelling in Persian, Arabic and Indic scripts (not in Latin, Greek, Cyrillic). */
const zwnjScript = lazy(() =>
  /[\p{sc=Arabic}\p{sc=Syriac}\p{sc=Devanagari}\p{sc=Bengali}\p{sc=Gurmukhi}\p{sc=Gujarati}\p{sc=Oriya}\p{sc=Tamil}\p{sc=Telugu}\p{sc=Kannada}\p{sc=Malayalam}\p{sc=Sinhala}][\p{M}]*$/u
);
/** What JSON.stringify leaves raw that a terminal may act on or that hides text. */
const jsonUnsafe = lazy(() => /[\x7f-\x9f\p{Cf}\u2028\u2029\u115f\u1160\u3164\uffa0]/gu);

/** How one unsafe character is shown: `\0`, `\r`, `\x1b`, `\u202e`, `\u{e0041}`. */
export function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp === 0) return "\\0";
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  if (c === "\t") return "\\t";
  if (cp < 0x80) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\u{${cp.toString(16)}}`;
}

export interface EscapeOptions {
  /** Keep \n, \t and \r\n (default true); false for one-line fields (they show as `\n`, `\t`). */
  multiline?: boolean;
}

/**
 * `s` with every character that could act on a terminal, or hide or disguise text, shown as an
 * escape (`\x1b`, `\0`, `\u202e`); printable text, emoji sequences and, by default, line breaks
 * and tabs unchanged. Backslashes are not doubled: this is for reading, not for parsing back.
 *
 * @example
 * escapeText("hi\x1b]52;c;aGk=\x07") // => "hi\\x1b]52;c;aGk=\\x07"
 */
export function escapeText(s: string, opts: EscapeOptions = {}): string {
  return escapeFrom(s, 0, opts.multiline ?? true);
}

/** `s.slice(from)` escaped, with what precedes `from` as context (for a stream's next piece). */
function escapeFrom(s: string, from: number, multiline: boolean): string {
  let out = "";
  let last = from;
  const re = unsafe();
  re.lastIndex = from;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const [c] = m;
    const at = m.index;
    if (!keep(s, c, at, multiline)) {
      out += s.slice(last, at) + escapeChar(c);
      last = at + c.length;
    }
  }
  return out + s.slice(last);
}

/** Whether an unsafe-class character is fine where it stands. */
function keep(s: string, c: string, at: number, multiline: boolean): boolean {
  if (c === "\n" || c === "\t" || (c === "\r" && s[at + 1] === "\n")) return multiline;
  if (c === "\u200d") { // zero-width joiner: kept inside emoji sequences (👩‍💻)
    return emojiBefore().test(s.slice(Math.max(0, at - 8), at)) &&
      emojiAfter().test(s.slice(at + 1));
  }
  // Zero-width non-joiner: kept where a script's spelling uses it.
  return c === "\u200c" && zwnjScript().test(s.slice(Math.max(0, at - 4), at));
}

/** `JSON.stringify`, with every such character written as `\uXXXX`: it parses to the same data. */
export function jsonText(data: unknown, indent?: number): string {
  return JSON.stringify(data, null, indent).replace(jsonUnsafe(), (c) => {
    let out = "";
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}

// --- colour --------------------------------------------------------------------------------

const useColor = Deno.stdout.isTerminal() && !Deno.noColor;

/** SGR codes by marker index; the last one resets. */
const SGR = ["1", "2", "31", "32", "33", "34", "36", "0"];
/** 16 random characters of the reserved block, fixed for this process. */
const NONCE = Array.from(
  crypto.getRandomValues(new Uint8Array(16)),
  (b) => String.fromCharCode(0xf8e0 + (b & 15)),
).join("");
const marker = (i: number) => `\uf8ff${NONCE}${String.fromCharCode(0xf8f0 + i)}`;
const MARKER = new RegExp(`\uf8ff${NONCE}([\uf8f0-\uf8f7])`, "u");

/**
 * The colour functions, painting when `on` (`color` is the one for this process's stdout, or for
 * the channel request being served: its scope says).
 */
export function palette(on: boolean | (() => boolean)) {
  const isOn = typeof on === "function" ? on : () => on;
  const paint = (i: number) => (s: string) =>
    isOn() ? `${marker(i)}${s}${marker(SGR.length - 1)}` : s;
  return {
    bold: paint(0),
    dim: paint(1),
    red: paint(2),
    green: paint(3),
    yellow: paint(4),
    blue: paint(5),
    cyan: paint(6),
  };
}

export const color = palette(() => {
  const scope = currentScope();
  return scope ? !!scope.color : useColor;
});

/**
 * Human text as it goes to the terminal: the data between colour markers escaped, the markers
 * turned into SGR codes (a marker-like sequence in data lacks the nonce, so it is escaped too).
 */
export function render(text: string, opts: EscapeOptions = {}): string {
  const parts = text.split(MARKER);
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    out += i % 2 === 0
      ? escapeText(parts[i], opts)
      : `\x1b[${SGR[parts[i].charCodeAt(0) - 0xf8f0]}m`;
  }
  return out;
}

// --- printing ------------------------------------------------------------------------------

/** Prints `data` as JSON when `json` is set, else the human lines. */
export function output(json: boolean | undefined, data: unknown, human: () => string | string[]) {
  if (json) {
    writeLine(jsonText(data, 2));
    return;
  }
  const text = human();
  const lines = Array.isArray(text) ? text : [text];
  if (lines.length) print(lines.join("\n"));
}

/** One line (or block) of human text on stdout, escaped. */
export function print(text: string) {
  writeLine(render(text));
}

/** One JSON value on one line of stdout (a stream of events), exact and terminal-safe. */
export function printJson(data: unknown) {
  writeLine(jsonText(data));
}

/** A note for the human on stderr (never part of the data), escaped. */
export function note(message: string) {
  writeErr(render(message));
}

/**
 * Escapes a byte stream (a round log) for the terminal: decodes UTF-8 across chunk boundaries
 * and escapes whole lines, so an escape that needs the next character (\r\n, an emoji joiner)
 * is decided with it. `flush()` hands out what is held (a line still being written) when the
 * reader has caught up; `end()` the rest.
 */
export class TerminalEscaper {
  #decoder = new TextDecoder();
  #held = "";
  /** The last characters handed out, as context for the next piece (an emoji before a ZWJ). */
  #tail = "";

  /** The printable text for the complete lines so far (and very long unfinished ones). */
  push(bytes: Uint8Array): string {
    this.#held += this.#decoder.decode(bytes, { stream: true });
    const cut = this.#held.length > 64 * 1024
      ? this.#held.length
      : this.#held.lastIndexOf("\n") + 1;
    return this.#take(cut);
  }

  /** Everything held, except a last \r or ZWJ whose meaning depends on the next character. */
  flush(): string {
    const n = this.#held.length;
    return this.#take(/[\r\u200d]$/.test(this.#held) ? n - 1 : n);
  }

  /** Everything, the decoder's last bytes included (an unfinished UTF-8 sequence shows as �). */
  end(): string {
    this.#held += this.#decoder.decode();
    return this.#take(this.#held.length);
  }

  #take(n: number): string {
    const text = this.#tail + this.#held.slice(0, n);
    this.#held = this.#held.slice(n);
    const from = this.#tail.length;
    this.#tail = text.slice(-16);
    return escapeFrom(text, from, true);
  }
}

/** Writes all of `text` to stdout (or the channel request's) as it is (already escaped). */
async function writeStdout(text: string) {
  const scope = currentScope();
  if (scope) return scope.out(text);
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
}

/** A sink for a byte stream (`tt logs`) that prints it escaped on stdout. */
export function escapedStdout() {
  const esc = new TerminalEscaper();
  return {
    write: (bytes: Uint8Array) => writeStdout(esc.push(bytes)),
    idle: () => writeStdout(esc.flush()),
    end: () => writeStdout(esc.end()),
  };
}

// --- formatting ----------------------------------------------------------------------------

/** `s` kept on one line: its line breaks and tabs show as `\n`, `\r`, `\t` (for one-line rows). */
export function inline(s: string): string {
  return s.replace(/[\n\r\t\u2028\u2029]/g, escapeChar);
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
