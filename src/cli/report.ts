/**
 * How an error ends a command: one line on stderr (through the sink, so an agent's request gets
 * it in its reply), with what it quotes (arguments, task text, Redis replies) escaped, and an exit
 * code. Used by main.ts and by the agent channel.
 */
import { singleLine, TtError } from "../core/errors.ts";
import { escapeText } from "./output.ts";
import { writeErr } from "./sink.ts";

/** One line on stderr, escaped. */
const fail = (line: string) => writeErr(escapeText(singleLine(line), { multiline: false }));

/**
 * commander's CommanderError (InvalidArgumentError is one too): a `commander.*` code, an exit
 * code and the own `nestedError` its constructor sets (not its name: a minified bundle renames
 * classes). Importing commander to test instanceof would cost the lean path's errors ~40 ms.
 */
function isCommanderError(e: unknown): e is Error & { exitCode: number } {
  return e instanceof Error && Object.hasOwn(e, "nestedError") &&
    /^commander\./.test(String((e as { code?: unknown }).code)) &&
    typeof (e as { exitCode?: unknown }).exitCode === "number";
}

/** Maps an error to one line on stderr (through the sink) and an exit code. */
export async function reportError(e: unknown): Promise<number> {
  if (isCommanderError(e)) {
    // commander already printed its message; help and --version are successes.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof TtError) {
    // One line, even when the message quotes an argument holding a line break.
    fail(`tt: ${e.message}`);
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  // Redis refused to persist (disk full) or the connection to it was lost: say which, where.
  const { describeRedisFailure } = await import("../redis/diagnose.ts");
  const redis = await describeRedisFailure(e);
  if (redis) {
    fail(`tt: ${redis}`);
    return 1;
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    fail(`tt: permission denied: ${msg}`);
    return 1;
  }
  fail(
    `tt: internal error: ${msg}${Deno.env.get("TT_DEBUG") ? "" : " (set TT_DEBUG=1 for details)"}`,
  );
  if (Deno.env.get("TT_DEBUG")) {
    writeErr(escapeText(e instanceof Error ? e.stack ?? msg : msg));
  }
  return 1;
}
