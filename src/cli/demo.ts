/** The first-run demo: `tt demo`, and the demo agent CLI it runs (`tt demo-agent`, hidden). */
import type { Command } from "@commander-js/extra-typings";

export function register(program: Command) {
  program.command("demo")
    .description(
      "make a demo town in a temp dir with three demo agents doing real work (no AI CLI needed)",
    )
    .option("--dir <dir>", "where to create the demo town (default: a new temp dir)")
    .action(async (opts) => {
      const { runDemo } = await import("../supervisor/demo.ts");
      const { print } = await import("./output.ts");
      await runDemo({ dir: opts.dir, out: print });
    });

  program.command("demo-agent", { hidden: true })
    .description("the demo agent CLI: reads a round prompt on stdin and does its tasks")
    .action(async () => {
      const { demoAgent } = await import("../supervisor/demo.ts");
      Deno.exit(await demoAgent());
    });
}
