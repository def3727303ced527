/**
 * The host a process stands for. No zod and no Redis: the operator channel's client
 * (src/cli/operator_client.ts) picks its supervisor's socket by it before anything heavy loads.
 */
import { ASCII_HOST_NAME, HOST_NAME_RULE, isValidHostName } from "./keys.ts";
import { UsageError } from "./errors.ts";

/**
 * The host this process stands for: `TT_HOST`, else the machine's hostname (characters outside
 * the host-name rule become '-'). Two supervisors with different `TT_HOST` on one machine are two
 * hosts of the town.
 */
export function thisHost(): string {
  const given = Deno.env.get("TT_HOST");
  if (given) {
    if (!isValidHostName(given)) {
      throw new UsageError(`invalid TT_HOST '${given.slice(0, 80)}': use ${HOST_NAME_RULE}`);
    }
    return given;
  }
  return machineHost();
}

/** The machine's hostname as a host name (what `thisHost()` is without `TT_HOST`). */
export function machineHost(): string {
  const given = Deno.hostname();
  if (ASCII_HOST_NAME.test(given)) return given; // what the rewrite below leaves as it is
  const name = given.replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^[._-]+/, "")
    .slice(0, 64);
  return isValidHostName(name) ? name : "localhost";
}
