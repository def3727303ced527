/** `tt dashboard`: a one-time login link to the town's dashboard (starting townhall if needed). */
import type { Command } from "@commander-js/extra-typings";
import { withTown } from "./context.ts";
import { note, output } from "./output.ts";

export function register(program: Command) {
  program.command("dashboard")
    .description(
      "print a one-time login link to the town's dashboard (starts townhall if it is not running)",
    )
    .option("--open", "open the link in the browser (xdg-open)")
    .option("--no-start", "fail instead of starting townhall")
    .action(async (opts, cmd) => {
      const { dashboardLink } = await import("../townhall/dashboard/launch.ts");
      await withTown(cmd, async (t, g) => {
        const d = await dashboardLink(t, opts.start);
        if (d.started) {
          note(`Started townhall at ${d.url}, pid ${d.pid} (log: .tt/logs/townhall.log)`);
        }
        output(g.json, d, () => d.link);
        if (!g.json) {
          note(
            `The link logs in once, within ${d.expires_in_secs} s; 'tt dashboard' makes another.`,
          );
        }
        if (opts.open) {
          try {
            const p = new Deno.Command("xdg-open", {
              args: [d.link],
              stdin: "null",
              stdout: "null",
              stderr: "null",
            }).spawn();
            await p.status;
          } catch {
            note("xdg-open is not available: open the link above yourself");
          }
        }
      });
    });
}
