/**
 * `tt completion bash|zsh|fish` prints a completion script; the hidden `tt __complete <kind>`
 * answers the script's questions about live values, one per line, and prints nothing on failure.
 */
import type { Command } from "@commander-js/extra-typings";
import { globals } from "./context.ts";

export function register(program: Command) {
  program.command("completion")
    .description(
      "print the shell completion script for bash, zsh or fish (the README says how to install it)",
    )
    .addArgument(
      program.createArgument("<shell>", "bash | zsh | fish").choices(["bash", "zsh", "fish"]),
    )
    .action(async (shell) => {
      const { completionScript } = await import("./completion-scripts.ts");
      const script = completionScript(shell, program as unknown as import("commander").Command);
      await Deno.stdout.write(new TextEncoder().encode(script));
    });

  program.command("__complete", { hidden: true })
    .description("live values for the completion scripts: agents, recipients, tasks, presets")
    .argument("<kind>")
    .action(async (kind, _opts, cmd) => {
      const { liveValues } = await import("../core/complete.ts");
      const values = await liveValues(kind, { town: globals(cmd).town });
      if (values.length) console.log(values.join("\n"));
    });
}
