/**
 * How an error ends a command: one line on stderr (through the sink, so an agent's request gets
 * it in its reply) and an exit code. Used by main.ts and by the agent channel.
 */
import { CommanderError } from "commander";
import { singleLine, TtError } from "../core/errors.ts";
import { writeErr } from "./sink.ts";

/** Maps an error to one line on stderr (through the sink) and an exit code. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message; help and --version are successes.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof TtError) {
    // One line, even when the message quotes an argument holding a line break.
    writeErr(`tt: ${singleLine(e.message)}`);
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (/Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable/i.test(msg)) {
    writeErr(`tt: lost the connection to Redis (${msg}): is it running? 'tt start' starts it`);
    return 1;
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    writeErr(`tt: permission denied: ${msg}`);
    return 1;
  }
  writeErr(
    `tt: internal error: ${msg}${Deno.env.get("TT_DEBUG") ? "" : " (set TT_DEBUG=1 for details)"}`,
  );
  if (Deno.env.get("TT_DEBUG")) console.error(e);
  return 1;
}
