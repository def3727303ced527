/**
 * What a round's end means for its agent, from how its process ended and what its CLI reported:
 * auth or setup errors stop the agent at once (`error`, no retries), a usage limit makes it
 * `rate_limited` until the reported reset, a stall, timeout or failure is retried with backoff.
 * Every reason quotes the CLI (one line), for `tt status` and the events.
 */
import type { RoundRun } from "./round.ts";
import { oneLine } from "./clis/types.ts";

export type Reaction =
  | { kind: "ok"; why: string }
  | { kind: "killed"; why: string }
  | { kind: "retry"; why: string }
  | { kind: "error"; why: string }
  | { kind: "rate_limited"; why: string; resumeAt: string };

/** How long a usage limit lasts when the CLI does not say when it resets. */
export const DEFAULT_LIMIT_WAIT_MS = 30 * 60_000;

export function reactionTo(
  run: Pick<RoundRun, "result" | "outcome" | "cli" | "logFile">,
  killReason?: string,
  now = new Date(),
): Reaction {
  const { result, outcome, cli } = run;
  const err = outcome.error;
  const said = err ? `${cli.name}: ${err.message}` : "";
  if (result.kind === "killed") return { kind: "killed", why: killReason ?? "killed" };
  if (result.kind === "spawn_failed" || result.code === 127) {
    return {
      kind: "error",
      why: `could not run '${oneLine(cli.name, 80)}' (${
        result.code === 127 ? "command not found" : result.detail
      }): see ${run.logFile}`,
    };
  }
  if (err?.kind === "auth" || err?.kind === "setup") return { kind: "error", why: said };
  if (err?.kind === "usage_limit") {
    const reset = err.resetAt && Date.parse(err.resetAt) > now.getTime() ? err.resetAt : undefined;
    const resumeAt = reset ?? new Date(now.getTime() + DEFAULT_LIMIT_WAIT_MS).toISOString();
    return {
      kind: "rate_limited",
      resumeAt,
      why: reset ? said : `${said} (no reset time reported: trying again in 30 min)`,
    };
  }
  if (result.kind === "stalled" || result.kind === "timeout") {
    return {
      kind: "retry",
      why: `${result.kind}: ${result.detail}${said ? `; last: ${said}` : ""}`,
    };
  }
  if (result.code === 0) return { kind: "ok", why: result.detail };
  return { kind: "retry", why: said ? `${result.detail}: ${said}` : result.detail };
}
