/** `/mcp`: loads the MCP SDK on first use only, so townhall starts without it. */
import type { Context } from "hono";
import type { AppEnv, TownhallDeps } from "./env.ts";
import { clientId } from "./middleware.ts";
import { OPEN } from "./auth.ts";

let mcp: Promise<typeof import("./mcp.ts")> | undefined;

export async function handleMcp(c: Context<AppEnv>, deps: TownhallDeps): Promise<Response> {
  const m = await (mcp ??= import("./mcp.ts"));
  return await m.serveHttp(c.req.raw, {
    town: deps.town,
    principal: c.get("principal") ?? OPEN,
    limit: { write: deps.limits.write, client: clientId(c) },
  });
}
