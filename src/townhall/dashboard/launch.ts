/**
 * `tt dashboard`: finds this town's townhall (its /health names the town), starts one detached
 * when none answers (output in .tt/logs/townhall.log), and makes a one-time login link.
 */
import { z } from "zod";
import type { TownContext } from "../../core/town.ts";
import { TtError, UsageError } from "../../core/errors.ts";
import { startDetachedTt } from "../../supervisor/detached.ts";
import { createLoginToken, LOGIN_TOKEN_TTL_SECS } from "./session.ts";

const Health = z.object({ status: z.literal("ok"), town: z.string() });
/** How long a started townhall gets to answer /health. */
const START_LIMIT_MS = 20_000;

/** The URL this machine reaches the town's townhall at (a wildcard bind is reached on loopback). */
function townhallUrl(t: TownContext): string {
  const { bind, port } = t.config.townhall;
  if (port === 0) {
    throw new UsageError(
      "[townhall] port is 0 (any free port), so tt dashboard cannot find it: set a fixed port",
    );
  }
  const host = ["0.0.0.0", ""].includes(bind)
    ? "127.0.0.1"
    : ["::", "[::]"].includes(bind)
    ? "[::1]"
    : bind.includes(":") && !bind.startsWith("[")
    ? `[${bind}]`
    : bind;
  return `http://${host}:${port}`;
}

/** "ours" when this town's townhall answers, "other" for another program, "none" for nothing. */
async function probe(url: string, town: string): Promise<"ours" | "other" | "none"> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    const body = await res.json().catch(() => undefined);
    const h = Health.safeParse(body);
    return h.success && h.data.town === town ? "ours" : "other";
  } catch {
    return "none";
  }
}

export interface DashboardLink {
  url: string;
  link: string;
  started: boolean;
  /** The townhall this call started (it runs on after tt exits: stop it with kill). */
  pid?: number;
  expires_in_secs: number;
}

export async function dashboardLink(t: TownContext, start = true): Promise<DashboardLink> {
  const url = townhallUrl(t);
  let state = await probe(url, t.name);
  let started = false;
  let pid: number | undefined;
  if (state === "other") {
    throw new TtError(
      `${url} answers, but not as the townhall of town '${t.name}': ` +
        "set another [townhall] port",
    );
  }
  if (state === "none") {
    if (!start) throw new TtError(`no townhall answers at ${url}: start it with 'tt townhall'`);
    const log = `${t.root}/.tt/logs/townhall.log`;
    pid = await startDetachedTt({
      root: t.root,
      args: ["townhall"],
      // The townhall's output (a first key is printed once) goes to its log.
      log,
      ready: async () => {
        const until = Date.now() + START_LIMIT_MS;
        while (state !== "ours" && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 100)); // bounded: a starting server has no event
          state = await probe(url, t.name);
        }
        return state === "ours";
      },
      notReady: `townhall did not answer at ${url} within 20 s: see ${log}`,
    });
    started = true;
  }
  const token = await createLoginToken(t);
  return {
    url,
    link: `${url}/login?token=${token}`,
    started,
    ...(pid ? { pid } : {}),
    expires_in_secs: LOGIN_TOKEN_TTL_SECS,
  };
}
