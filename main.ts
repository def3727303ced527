#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
import { buildProgram } from "./src/cli/program.ts";
import { reportError } from "./src/cli/report.ts";

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
    return await reportError(e);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
