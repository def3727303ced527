#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
import { CommanderError } from "commander";
import { buildProgram } from "./src/cli/program.ts";
import { singleLine, TtError } from "./src/core/errors.ts";
import { writeErr } from "./src/cli/sink.ts";

export async function main(argv: string[]): Promise<number> {
  // Inside an agent's round (the shim of a bundle or binary): the request goes to its channel.
  if (Deno.env.get("TT_CHANNEL") && argv[0] !== "demo-agent") {
    return await (await import("./src/agent/client.ts")).runClient(argv);
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    return reportError(e);
  }
}

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

if (import.meta.main) Deno.exit(await main(Deno.args));
