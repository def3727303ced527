/**
 * Where command output goes. Normally this process's stdout and stderr; while the supervisor runs
 * a command for an agent or for the operator (src/supervisor/channel/), that request's scope: its
 * buffers, the caller and the supervisor's open town. No imports (every `tt`, even `--help`, loads
 * this): the channel installs the scope reader, backed by its AsyncLocalStorage.
 */
import type { TownContext } from "../core/town.ts";

export interface CliScope {
  /** Receives stdout text (with its line breaks). */
  out(text: string): void;
  /** Receives stderr text (with its line breaks). */
  err(text: string): void;
  /**
   * Who the command runs for: an agent (its identity cannot be changed by the command), or for
   * the operator whatever TINYTOWN_AGENT_ID/_NAME said in their tt's environment.
   */
  caller: { agentId?: string; agentName?: string };
  /** An open town reused by every command of the scope (never closed by them). */
  town: TownContext;
  /** Colour in the output (the operator's tt prints to a terminal). Default: none. */
  color?: boolean;
  /** The operator's request (operator channel), not an agent's: `--town` naming this town is fine. */
  operator?: boolean;
}

let reader: () => CliScope | undefined = () => undefined;

/** Installs how to find the current scope (the channel's AsyncLocalStorage). */
export function setScopeReader(fn: () => CliScope | undefined) {
  reader = fn;
}

/** The scope of the command running now, if the supervisor runs it for an agent. */
export function currentScope(): CliScope | undefined {
  return reader();
}

/** Prints a line (or lines) of data. */
export function writeOut(text: string) {
  const s = reader();
  if (s) s.out(text + "\n");
  else console.log(text);
}

/** Prints a line (or lines) for the human, on stderr. */
export function writeErr(text: string) {
  const s = reader();
  if (s) s.err(text + "\n");
  else console.error(text);
}
