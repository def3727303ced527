#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
import { CommanderError } from "commander";
import { buildProgram } from "./src/cli/program.ts";
import { singleLine, TtError } from "./src/core/errors.ts";

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    return await reportError(e);
  }
}

async function reportError(e: unknown): Promise<number> {
  if (e instanceof CommanderError) {
    // commander already printed its message; help and --version are successes.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof TtError) {
    // One line, even when the message quotes an argument holding a line break.
    console.error(`tt: ${singleLine(e.message)}`);
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  // Redis refused to persist (disk full) or the connection to it was lost: say which, where.
  const { describeRedisFailure } = await import("./src/redis/diagnose.ts");
  const redis = await describeRedisFailure(e);
  if (redis) {
    console.error(`tt: ${singleLine(redis)}`);
    return 1;
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    console.error(`tt: permission denied: ${msg}`);
    return 1;
  }
  console.error(
    `tt: internal error: ${msg}${Deno.env.get("TT_DEBUG") ? "" : " (set TT_DEBUG=1 for details)"}`,
  );
  if (Deno.env.get("TT_DEBUG")) console.error(e);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
