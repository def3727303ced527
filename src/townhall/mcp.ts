/**
 * MCP over the same core: tools (results are JSON text `{success, data}` or `{success, error}`,
 * never protocol errors), resources and prompts. Served over stdio (`tt mcp`) and streamable
 * HTTP at `/mcp` (stateless, JSON responses) behind townhall's auth; each tool needs a scope.
 */
// The SDK's "./*" export maps types to `*.js.d.ts`, which do not exist: name the .d.ts explicitly.
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  type JSONRPCMessage,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "@hono/zod-openapi";
import { hasScope, type Scope } from "../core/auth.ts";
import { NotFoundError, UsageError } from "../core/errors.ts";
import type { TownContext } from "../core/town.ts";
import { VERSION } from "../version.ts";
import type { Principal } from "./env.ts";
import { toHttp, zodIssue } from "./errors.ts";
import type { TokenBuckets } from "./ratelimit.ts";
import { recordAudit } from "./middleware.ts";
import { scopeError } from "./auth.ts";
import { findTool, type ToolDef, TOOLS } from "./tools.ts";
import { execDenied } from "./exec.ts";
import * as ops from "./ops.ts";
import { conductorContext, roleHint } from "./prompts.ts";

export interface McpContext {
  town: TownContext;
  principal: Principal;
  /** Write-rate limiting for state-changing tools (HTTP only). */
  limit?: { write: TokenBuckets; client: string };
}

const INSTRUCTIONS =
  `Tinytown (tt) control plane: agents, messages, tasks and the backlog of one town.
Tools are named <noun>_<verb> (town_get_status, agent_list, message_send, task_assign, backlog_claim…);
only the tools this API key may call are listed.
Every tool returns JSON text {"success": true, "data": …} or {"success": false, "error": "…"}.
Resources: tinytown://town/current, tinytown://agents, tinytown://agents/{name},
tinytown://tasks/{id}, tinytown://backlog. Prompts: conductor.startup_context, agent.role_hint.`;

const text = (v: unknown, isError = false): CallToolResult => ({
  content: [{ type: "text", text: JSON.stringify(v, null, 2) }],
  ...(isError ? { isError: true } : {}),
});

/**
 * Runs one tool call: scope, rate limit, validation, the operation. Calls of state-changing tools
 * are audited like REST ones (denied and invalid ones too; rate-limited ones are not).
 */
export async function callTool(
  ctx: McpContext,
  d: ToolDef,
  args: unknown,
): Promise<CallToolResult> {
  if (d.write && ctx.limit) {
    const r = ctx.limit.write.take(ctx.limit.client);
    if (!r.ok) return fail(`rate limit exceeded: retry in ${r.retryAfterSecs}s`);
  }
  const { status, result } = await run(ctx, d, args);
  if (d.write) await recordAudit(ctx.town, ctx.principal, "MCP", `tools/call ${d.name}`, status);
  return result;
}

const fail = (error: string) => text({ success: false, error }, true);

async function run(
  ctx: McpContext,
  d: ToolDef,
  args: unknown,
): Promise<{ status: number; result: CallToolResult }> {
  const denied = scopeError(ctx.principal, d.scope);
  if (denied) return { status: 403, result: fail(denied.message) };
  const parsed = d.input.safeParse(args ?? {});
  if (!parsed.success) {
    return { status: 400, result: fail(zodIssue(parsed.error, "arguments").message) };
  }
  const noExec = execDenied(ctx.principal, d.exec?.(ctx.town, parsed.data));
  if (noExec) return { status: 403, result: fail(noExec.message) };
  try {
    return {
      status: 200,
      result: text({ success: true, data: await d.run(ctx.town, parsed.data) }),
    };
  } catch (e) {
    const r = toHttp(e);
    if (r.internal) console.error(`townhall: mcp ${d.name}: ${(e as Error)?.stack ?? e}`);
    return { status: r.status, result: fail(r.body.error) };
  }
}

function checkRead(ctx: McpContext, scope: Scope = "town.read") {
  if (!hasScope(ctx.principal.scopes, scope)) {
    throw new McpError(ErrorCode.InvalidRequest, scopeError(ctx.principal, scope)!.message);
  }
}

/** Resource reads: JSON text; unknown names/ids are InvalidParams errors naming them. */
async function resource(ctx: McpContext, uri: URL, read: () => Promise<unknown>) {
  checkRead(ctx);
  try {
    return {
      contents: [{
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify(await read()),
      }],
    };
  } catch (e) {
    if (e instanceof NotFoundError || e instanceof UsageError) {
      throw new McpError(ErrorCode.InvalidParams, e.message);
    }
    throw e;
  }
}

export function buildMcpServer(ctx: McpContext): McpServer {
  const server = new McpServer(
    { name: "tinytown-mcp", version: VERSION },
    { instructions: INSTRUCTIONS },
  );
  // tools/list shows what this key may call; a call of any other tool names the missing scope.
  for (const d of TOOLS.filter((d) => hasScope(ctx.principal.scopes, d.scope))) {
    server.registerTool(d.name, {
      description: `${d.description} (scope: ${d.scope})`,
      inputSchema: d.input,
      annotations: { readOnlyHint: !d.write, destructiveHint: !!d.destructive },
    }, (args: unknown) => callTool(ctx, d, args));
  }
  // Our own tools/call: the SDK's would answer invalid arguments with plain text; ours always
  // answers {success:false, error} naming the field, after the scope check.
  server.server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const d = findTool(req.params.name);
    if (!d) throw new McpError(ErrorCode.InvalidParams, `Tool ${req.params.name} not found`);
    return await callTool(ctx, d, req.params.arguments);
  });

  const t = ctx.town;
  server.registerResource("town", "tinytown://town/current", {
    description: "The town: status, agents with queue depths, tasks by state, backlog length",
    mimeType: "application/json",
  }, (uri) => resource(ctx, uri, () => ops.status(t)));
  server.registerResource("agents", "tinytown://agents", {
    description: "Every agent",
    mimeType: "application/json",
  }, (uri) => resource(ctx, uri, () => ops.agentList(t)));
  server.registerResource("backlog", "tinytown://backlog", {
    description: "Tasks waiting in the backlog, oldest first",
    mimeType: "application/json",
  }, (uri) => resource(ctx, uri, () => ops.backlogList(t)));
  server.registerResource(
    "agent",
    new ResourceTemplate("tinytown://agents/{name}", { list: undefined }),
    { description: "One agent (name, nickname, label or id) with its queue depths" },
    (uri, vars) => resource(ctx, uri, () => ops.agentDetail(t, String(vars.name))),
  );
  server.registerResource(
    "task",
    new ResourceTemplate("tinytown://tasks/{id}", { list: undefined }),
    { description: "Any task by id or id prefix, whatever its state or owner" },
    (uri, vars) => resource(ctx, uri, () => ops.taskShow(t, String(vars.id))),
  );

  server.registerPrompt("conductor.startup_context", {
    description: "Markdown briefing for a conductor: the town, its agents, backlog and tools",
  }, async () => {
    checkRead(ctx);
    return {
      messages: [{
        role: "user" as const,
        content: { type: "text" as const, text: await conductorContext(t, TOOLS) },
      }],
    };
  });
  server.registerPrompt("agent.role_hint", {
    description: "A short role hint for an agent, from its name (and optional tags)",
    argsSchema: {
      agent_name: z.string().min(1),
      tags: z.string().optional(),
    },
  }, ({ agent_name, tags }) => ({
    messages: [{
      role: "user" as const,
      content: { type: "text" as const, text: roleHint(agent_name, tags) },
    }],
  }));
  return server;
}

/**
 * The SDK puts "MCP error <code>: " into the message of the errors it throws, and its client adds
 * it again: strip it from what goes out, so a client shows it once.
 */
function plainErrors(transport: { send: (m: JSONRPCMessage, o?: never) => Promise<void> }) {
  const send = transport.send.bind(transport);
  transport.send = (m, o) => {
    if ("error" in m && typeof m.error?.message === "string") {
      m = {
        ...m,
        error: { ...m.error, message: m.error.message.replace(/^(MCP error -?\d+: )+/, "") },
      };
    }
    return send(m, o);
  };
}

export interface HttpOptions {
  /** Exact Host header values and Origins accepted (the SDK's DNS-rebinding protection). */
  allowedHosts: string[];
  allowedOrigins: string[];
}

/** Serves one streamable-HTTP request statelessly (a fresh server per request). */
export async function serveHttp(
  req: Request,
  ctx: McpContext,
  opts: HttpOptions,
): Promise<Response> {
  const server = buildMcpServer(ctx);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    enableDnsRebindingProtection: true,
    allowedHosts: opts.allowedHosts,
    allowedOrigins: opts.allowedOrigins,
  });
  plainErrors(transport as never);
  await server.connect(transport);
  try {
    return await transport.handleRequest(req);
  } finally {
    await server.close();
  }
}

/** `tt mcp`: MCP over stdin/stdout until stdin closes. The local user gets every scope. */
export async function serveStdio(town: TownContext, principal: Principal): Promise<void> {
  const { StdioServerTransport } = await import(
    // @ts-types="@modelcontextprotocol/sdk/server/stdio"
    "@modelcontextprotocol/sdk/server/stdio.js"
  );
  const server = buildMcpServer({ town, principal });
  const transport = new StdioServerTransport();
  plainErrors(transport as never);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
  });
  await server.connect(transport);
  const { stdin } = await import("node:process");
  stdin.on("end", () => void server.close());
  await closed;
}
