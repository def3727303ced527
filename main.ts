#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
import { buildProgram } from "./src/cli/program.ts";
import { reportError } from "./src/cli/report.ts";

export async function main(argv: string[]): Promise<number> {
  // Inside an agent's round (the shim of a bundle or binary): the request goes to its channel.
  if (inChannel() && argv[0] !== "demo-agent") {
    return await (await import("./src/agent/client.ts")).runClient(argv);
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    return await reportError(e);
  }
}

/** TT_CHANNEL is set (a run whose env access is scoped without it is an operator's, not an agent's). */
function inChannel(): boolean {
  try {
    return !!Deno.env.get("TT_CHANNEL");
  } catch {
    return false;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
