/** `tt doctor`: one line per check of the machine and the town; exit 1 if any fails. */
import type { Command } from "@commander-js/extra-typings";
import { globals } from "./context.ts";
import { color, output } from "./output.ts";
import { TtError } from "../core/errors.ts";
import type { CheckResult, CheckStatus } from "../core/doctor/mod.ts";

const MARK: Record<CheckStatus, (s: string) => string> = {
  ok: () => color.green("✓"),
  fail: () => color.red("✗"),
  warn: () => color.yellow("!"),
  skip: () => color.dim("-"),
};

/** `✓ name  message`, and the fix after a failure or warning, all on the check's line. */
export function renderChecks(results: CheckResult[]): string[] {
  const width = Math.max(...results.map((r) => r.name.length));
  return results.map((r) =>
    `${MARK[r.status]("")} ${r.name.padEnd(width)}  ${r.message}${
      r.fix ? color.bold(` — fix: ${r.fix}`) : ""
    }`
  );
}

export function register(program: Command) {
  program.command("doctor")
    .description(
      "check this machine and the town: Redis, supervisor, agents' CLIs, secrets, worktrees, disk (exit 1 if a check fails)",
    )
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const { runDoctor } = await import("../core/doctor/mod.ts");
      const checks = await runDoctor({ town: g.town });
      const failed = checks.filter((c) => c.status === "fail");
      output(g.json, { ok: failed.length === 0, checks }, () => renderChecks(checks));
      if (failed.length) {
        throw new TtError(
          `${failed.length} of ${checks.length} checks failed: ${
            failed.map((c) => c.name).join(", ")
          }`,
        );
      }
    });
}
