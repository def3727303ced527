/** `tt conductor`: an interactive AI session that runs the town with the human. */
import type { Command } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";

export function register(program: Command) {
  program.command("conductor")
    .description(
      "start an interactive AI conductor with the town's context (conductor_cli, else default_cli)",
    )
    .option("-c, --cli <cli>", "CLI to use instead of conductor_cli")
    .action(async (opts, cmd) => {
      const code = await withTown(cmd, async (t) => {
        const { conductorCommand, conductorContext } = await import("../supervisor/conductor.ts");
        const { writeShim } = await import("../supervisor/self.ts");
        const file = `${t.root}/.tt/conductor_context.md`;
        await Deno.writeTextFile(file, await conductorContext(t), { mode: 0o600 });
        const binDir = `${t.root}/.tt/bin`;
        await writeShim(
          binDir,
          t.managed ? undefined : Deno.env.get("REDIS_URL") || t.config.redis.url,
        );
        const command = conductorCommand(t, opts.cli, file);
        console.error(`tt: conductor context in ${file}; running: ${command}`);
        const env: Record<string, string> = {
          ...Deno.env.toObject(),
          TT_TOWN: t.root,
          PATH: `${binDir}:${Deno.env.get("PATH") ?? ""}`,
        };
        delete env.TINYTOWN_AGENT_ID;
        delete env.TINYTOWN_AGENT_NAME;
        const st = await new Deno.Command("sh", {
          args: ["-c", command],
          cwd: t.root,
          env,
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
