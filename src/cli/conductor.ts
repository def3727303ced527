/** `tt conductor`: an interactive AI session that runs the town with the human. */
import type { Command } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";
import { TtError } from "../core/errors.ts";
import { note } from "./output.ts";

export function register(program: Command) {
  program.command("conductor")
    .description(
      "start an interactive AI conductor with the town's context (conductor_cli, else default_cli)",
    )
    .option("-c, --cli <cli>", "CLI to use instead of conductor_cli")
    .action(async (opts, cmd) => {
      const code = await withTown(cmd, async (t) => {
        const cond = await import("../supervisor/conductor.ts");
        const { writeShim } = await import("../supervisor/self.ts");
        const file = `${t.root}/.tt/conductor_context.md`;
        const binDir = `${t.root}/.tt/bin`;
        const command = cond.conductorCommand(t, opts.cli, file);
        const PATH = `${binDir}:${Deno.env.get("PATH") ?? ""}`;
        // Say so in one line instead of leaving it to the shell's "not found" and exit 127.
        const program = cond.programOf(command);
        if (program && !(await cond.programExists(program, PATH))) {
          throw new TtError(
            `cannot start the conductor: '${program}' (CLI '${
              cond.conductorCliName(t, opts.cli)
            }') is not installed or not on PATH; install it, or choose another CLI with --cli or conductor_cli in tinytown.toml`,
          );
        }
        await Deno.writeTextFile(file, await cond.conductorContext(t), { mode: 0o600 });
        await writeShim(binDir);
        note(`tt: conductor context in ${file}; running: ${command}`);
        const env: Record<string, string> = { ...Deno.env.toObject(), TT_TOWN: t.root, PATH };
        delete env.TINYTOWN_AGENT_ID;
        delete env.TINYTOWN_AGENT_NAME;
        const st = await new Deno.Command("sh", {
          args: ["-c", command],
          cwd: t.root,
          env,
          clearEnv: true, // else `env` is merged into ours and the deleted variables come back
          stdin: "inherit",
          stdout: "inherit",
          stderr: "inherit",
        })
          .spawn().status;
        return st.code;
      });
      if (code) Deno.exit(code);
    });
}
