/**
 * `/mcp`: loads the MCP SDK on first use only, so townhall starts without it. Stateless: POST
 * only; `GET /mcp` (a server-to-client stream) and `DELETE /mcp` (a session) answer 405, so a
 * client does not keep re-opening a stream that is never offered.
 */
import type { Context } from "hono";
import type { AppEnv, TownhallDeps } from "./env.ts";
import { clientId } from "./middleware.ts";
import { OPEN } from "./auth.ts";
import { body } from "./errors.ts";

let mcp: Promise<typeof import("./mcp.ts")> | undefined;

export async function handleMcp(c: Context<AppEnv>, deps: TownhallDeps): Promise<Response> {
  if (c.req.method !== "POST") {
    const msg =
      `${c.req.method} /mcp is not offered: this server is stateless, send JSON-RPC with POST`;
    return c.json(body(405, msg), 405, { Allow: "POST" });
  }
  const m = await (mcp ??= import("./mcp.ts"));
  return await m.serveHttp(c.req.raw, {
    town: deps.town,
    principal: c.get("principal") ?? OPEN,
    limit: { write: deps.limits.write, client: clientId(c) },
  }, {
    allowedHosts: deps.guard.allowedHostValues(),
    allowedOrigins: deps.guard.allowedOriginValues(),
  });
}
