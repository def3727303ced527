#!/usr/bin/env -S deno run -q -P --no-prompt
/** Entry point: parse argv, run one command, map errors to one line on stderr and an exit code. */
export async function main(argv: string[]): Promise<number> {
  // Inside an agent's round (the shim of a bundle or binary): the request goes to its channel.
  if (inChannel() && argv[0] !== "demo-agent") {
    return await (await import("./src/agent/client.ts")).runClient(argv);
  }
  // Short commands without commander or ioredis (src/cli/lean.ts); anything else, commander.
  // When this host's supervisor runs, it runs them (src/cli/operator_client.ts).
  if (!leanDisabled()) {
    const via = await (await import("./src/cli/operator_client.ts")).viaSupervisor(argv);
    if (via !== undefined) return via;
    const code = await (await import("./src/cli/lean.ts")).runLean(argv);
    if (code !== undefined) return code;
  }
  const { buildProgram } = await import("./src/cli/program.ts");
  const { reportError } = await import("./src/cli/report.ts");
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    return await reportError(e);
  }
}

/** TT_LEAN=0: every command through commander and ioredis (to compare, or to rule it out). */
function leanDisabled(): boolean {
  try {
    return Deno.env.get("TT_LEAN") === "0";
  } catch {
    return false;
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
