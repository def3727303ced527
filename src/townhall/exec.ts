/**
 * Running code on the host is its own scope (`exec`): a key with `agent.manage` may spawn agents
 * that run a preset or a configured `[agent_clis]` CLI, and one with `town.write` may create
 * tasks, but a raw agent command or a task's `verify` check needs `exec` (or `admin`).
 */
import { hasScope } from "../core/auth.ts";
import { CLI_PRESETS } from "../core/presets.ts";
import type { TownConfig } from "../core/config.ts";
import { HttpError } from "./errors.ts";
import type { Principal } from "./env.ts";

/** Why spawning with this `cli` runs an arbitrary command, or undefined when it does not. */
export function spawnRunsCode(config: TownConfig, cli: string | undefined): string | undefined {
  const name = cli?.trim();
  if (!name || name === config.default_cli) return undefined; // the operator's choice
  if (Object.hasOwn(CLI_PRESETS, name) || Object.hasOwn(config.agent_clis, name)) return undefined;
  return `'cli' is not a preset nor an [agent_clis] name, so it would run as a command on the host`;
}

/** Why a task body runs a command on the host (its `verify`), or undefined. */
export function verifyRunsCode(body: { verify?: string }): string | undefined {
  return body.verify === undefined
    ? undefined
    : "'verify' is a command that runs on the host when the task is reported done";
}

/** 403 when the caller lacks `exec` and the request would run code; else undefined. */
export function execDenied(
  p: Principal | undefined,
  why: string | undefined,
): HttpError | undefined {
  if (why === undefined || (p && hasScope(p.scopes, "exec"))) return undefined;
  return new HttpError(
    403,
    "forbidden",
    `this API key lacks the 'exec' scope: ${why} ('tt auth gen-key --scope exec' grants it)`,
  );
}

/** Throws execDenied's error, if any. */
export function requireExec(p: Principal | undefined, why: string | undefined): void {
  const e = execDenied(p, why);
  if (e) throw e;
}
