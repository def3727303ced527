#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
import { CommanderError } from "commander";
import { buildProgram } from "./src/cli/program.ts";
import { singleLine, TtError } from "./src/core/errors.ts";
import { escapeText } from "./src/cli/output.ts";

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    return await reportError(e);
  }
}

/** One line on stderr; what it quotes (arguments, task text, Redis replies) shows escaped. */
const fail = (line: string) => console.error(escapeText(singleLine(line), { multiline: false }));

async function reportError(e: unknown): Promise<number> {
  if (e instanceof CommanderError) {
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
  const { describeRedisFailure } = await import("./src/redis/diagnose.ts");
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
    console.error(escapeText(e instanceof Error ? e.stack ?? msg : msg));
  }
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
