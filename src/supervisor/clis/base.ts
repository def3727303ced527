/**
 * What every family parser shares: JSON lines go to the family's `event`, other lines are kept
 * (a bounded tail) as the plain-text fallback for the final text and for classifying a failure.
 */
import { errorFrom, kindOf } from "./classify.ts";
import {
  type CliError,
  type CliOutcome,
  emptyOutcome,
  jsonLine,
  type OutputParser,
  type Stream,
} from "./types.ts";

const TAIL = 40;

export abstract class BaseParser implements OutputParser {
  protected out: CliOutcome = emptyOutcome();
  #plain: string[] = [];
  #stderr: string[] = [];

  /** Whether stdout lines that hold a JSON object go to `event`. */
  protected parsesJson = true;

  line(text: string, stream: Stream): boolean {
    if (this.parsesJson && stream === "stdout") {
      const skipped = this.skim(text);
      if (skipped !== undefined) return skipped;
    }
    const ev = this.parsesJson && stream === "stdout" ? jsonLine(text) : undefined;
    if (ev) return this.event(ev);
    if (!text.trim()) return true;
    this.#plain.push(text);
    if (this.#plain.length > TAIL) this.#plain.shift();
    if (stream === "stderr") {
      this.#stderr.push(text);
      if (this.#stderr.length > TAIL) this.#stderr.shift();
    }
    return this.plainLine(text, stream);
  }

  /**
   * A fast look at a raw stdout line before it is parsed: a family whose stream is mostly events
   * it needs only the last of (claude's assistant messages) keeps the raw line for `finish` and
   * returns whether it shows progress; undefined parses it now. Keeps a JSON round within 1.1× of
   * a plain-text one (scripts/bench, agents section).
   */
  protected skim(_raw: string): boolean | undefined {
    return undefined;
  }

  /** One JSON object from stdout; returns whether it shows progress. */
  protected abstract event(ev: Record<string, unknown>): boolean;

  /** A non-JSON line; families may look at it (the default only counts it as progress). */
  protected plainLine(_text: string, _stream: Stream): boolean {
    return true;
  }

  /** An error the CLI will only retry in vain (see OutputParser.fatal); none by default. */
  fatal(): CliError | undefined {
    return undefined;
  }

  peek(): Readonly<CliOutcome> {
    return this.out;
  }

  /** The plain lines kept so far (stdout and stderr interleaved). */
  protected plainTail(): string[] {
    return this.#plain;
  }

  finish(exitCode: number | null): CliOutcome {
    if (!this.out.text) this.out.text = this.#plain.slice(-20).join("\n").trim();
    if (!this.out.error && exitCode !== 0) {
      // The first line naming a known kind wins; else the last stderr (or output) line.
      const lines = this.#stderr.length ? this.#stderr : this.#plain;
      const known = lines.find((l) => kindOf(l));
      const last = lines.at(-1);
      if (known) this.out.error = errorFrom(known);
      else if (last) this.out.error = errorFrom(last);
    }
    return this.out;
  }
}

/** Plain text CLIs (and unknown commands): the output's tail is the final text. */
export class PlainParser extends BaseParser {
  // No JSON here: a line that happens to be JSON is text like any other.
  protected override parsesJson = false;
  protected event(): boolean {
    return true;
  }
}

export function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
