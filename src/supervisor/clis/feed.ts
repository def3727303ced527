/** Splits a process's output chunks into lines for an OutputParser, per stream. */
import { type CliOutcome, type OutputParser, type Stream, validSessionId } from "./types.ts";

/** Longest line handed to a parser; the rest of a longer line is dropped (the log keeps it). */
const MAX_LINE = 1 << 20;

export class LineFeed {
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #partial = { stdout: "", stderr: "" };

  constructor(readonly parser: OutputParser) {}

  /**
   * Feeds one chunk; returns whether it showed progress (a part line always does), or "end" once
   * the CLI has reported an error it would only retry in vain (the round should end now).
   */
  push(data: Uint8Array, stream: Stream): boolean | "end" {
    const text = this.#partial[stream] + this.#decoders[stream].decode(data, { stream: true });
    const lines = text.split("\n");
    const rest = lines.pop()!;
    this.#partial[stream] = rest.length > MAX_LINE ? rest.slice(0, MAX_LINE) : rest;
    let progress = lines.length === 0 || rest.length > 0;
    for (const l of lines) {
      if (this.parser.line(l.endsWith("\r") ? l.slice(0, -1) : l, stream)) progress = true;
    }
    return this.parser.fatal?.() ? "end" : progress;
  }

  /**
   * Hands over unterminated last lines, then finishes the parser. A session id that could be
   * read as an option or is otherwise odd is dropped: it goes into the next round's command.
   */
  finish(exitCode: number | null): CliOutcome {
    for (const stream of ["stdout", "stderr"] as const) {
      const last = this.#partial[stream] + this.#decoders[stream].decode();
      if (last) this.parser.line(last, stream);
      this.#partial[stream] = "";
    }
    const out = this.parser.finish(exitCode);
    out.sessionId = validSessionId(out.sessionId);
    return out;
  }
}
