/**
 * What one agent CLI round produced, read from the CLI's own output (its JSON stream where it has
 * one): final text, session id, token usage, cost, and a typed error. Every family module in this
 * folder turns its CLI's output into a CliOutcome with a streaming OutputParser.
 */

/** How tt reacts to a failed round depends on its kind (see agent-loop). */
export type CliErrorKind =
  /** Not logged in, key missing or refused: the agent goes to `error` at once, no retries. */
  | "auth"
  /** The CLI refuses to run as configured (root, untrusted directory…): `error` at once. */
  | "setup"
  /** Usage limit or quota: the agent is `rate_limited` until `resetAt`. */
  | "usage_limit"
  /** The model service cannot be reached: the round failed and is retried with backoff. */
  | "network"
  /** Anything else the CLI reported as an error. */
  | "cli";

export interface CliError {
  kind: CliErrorKind;
  /** The CLI's own words (one line). */
  message: string;
  /** For usage limits: when the CLI said the limit resets (ISO time), if it said. */
  resetAt?: string;
}

export interface TokenUsage {
  input: number;
  output: number;
  /** Input tokens served from a cache, where the CLI reports them. */
  cached?: number;
}

export interface CliOutcome {
  /** The CLI's final message (what it said last), trimmed. */
  text: string;
  sessionId?: string;
  usage?: TokenUsage;
  costUsd?: number;
  /** The model the CLI said it used (claude's and gemini's init event), for usage by model. */
  model?: string;
  error?: CliError;
  /** Tool uses the CLI's permission system refused (claude's permission_denials). */
  permissionDenials: string[];
}

export type Stream = "stdout" | "stderr";

/** Reads a CLI's output line by line as it arrives; `finish` once the process has exited. */
export interface OutputParser {
  /**
   * One line of output (without its newline). Returns false for lines that show no progress
   * (a CLI's "Reconnecting…" retries): they do not reset the stall timer.
   */
  line(text: string, stream: Stream): boolean;
  /**
   * An error the CLI reported that it will only retry in vain (a refused key: claude retries a
   * 401 ten times over minutes): the round is ended at once. Undefined while there is none.
   */
  fatal?(): CliError | undefined;
  finish(exitCode: number | null): CliOutcome;
  /** What has been read so far (usage and cost as they stream, for a hard budget). */
  peek?(): Readonly<CliOutcome>;
}

/** One CLI family: its output parser and how it renders its stream for humans (`tt logs`). */
export interface CliFamily {
  name: string;
  /** Whether the family's preset writes a JSON stream (else plain text). */
  json: boolean;
  parser(): OutputParser;
  /** A readable line for one line of the raw log, or undefined to hide it. */
  render(line: string): string | undefined;
}

export function emptyOutcome(): CliOutcome {
  return { text: "", permissionDenials: [] };
}

// CSI (ESC [ … final byte) and OSC (ESC ] … BEL or ESC \) sequences, then any other ESC pair.
const ESCAPES = new RegExp(
  String.raw`\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b.?`,
  "g",
);

/** A session id tt will pass to a resume command: no option-like or odd strings. */
export function validSessionId(id: string | undefined): string | undefined {
  return id && /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id) ? id : undefined;
}

/**
 * A family's `render` for a JSON-lines stream: a line that is not JSON is shown as it is, an event
 * that does not parse is hidden, and the rest go through `show`.
 */
export function renderJson<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  show: (ev: T) => string | undefined,
): (line: string) => string | undefined {
  return (line) => {
    const raw = jsonLine(line);
    if (!raw) return line;
    const r = schema.safeParse(raw);
    return r.success ? show(r.data) : undefined;
  };
}

/** Parses a line that holds one JSON object; undefined for anything else. */
export function jsonLine(line: string): Record<string, unknown> | undefined {
  const s = line.trim();
  if (!s.startsWith("{") || !s.endsWith("}")) return undefined;
  try {
    const v = JSON.parse(s);
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Collapses whitespace, drops terminal escape sequences and other control characters (a CLI's
 * words are data, shown in `tt status`), and bounds the length, for one-line reasons.
 */
export function oneLine(s: string, max = 300): string {
  const t = s.replace(ESCAPES, "").replace(/\s+/g, " ")
    .replace(/\p{Cc}/gu, "").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
