/** MCP with the SDK's own client: over streamable HTTP (auth + scopes) and over stdio (`tt mcp`). */
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createAgent } from "../../src/core/agents.ts";
import { recentEvents } from "../../src/core/events.ts";
import { getTask } from "../../src/core/tasks.ts";
import { ttCommand, withTestTown } from "../helpers.ts";
import { closeHall, type Hall, startHall } from "./helpers.ts";

async function connect(h: Hall, key?: string): Promise<Client> {
  const client = new Client({ name: "tt-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
    requestInit: key ? { headers: { authorization: `Bearer ${key}` } } : undefined,
  });
  await client.connect(transport);
  return client;
}

type Outcome = { success: boolean; data?: Record<string, unknown>; error?: string };

async function call(c: Client, name: string, args: Record<string, unknown> = {}) {
  const r = await c.callTool({ name, arguments: args });
  const content = r.content as { type: string; text: string }[];
  const out = JSON.parse(content[0].text) as Outcome;
  assert.equal(!!r.isError, !out.success);
  return out;
}

Deno.test("MCP over HTTP: tools list; send, assign, complete drive the core; errors are {success:false}", async () => {
  const h = await startHall({ keys: [["admin"], ["town.read"], ["agent.manage"]] });
  const [admin, reader, manager] = h.keys;
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    await assert.rejects(connect(h), /401|Unauthorized|authentication/i);
    const c = await connect(h, admin);
    try {
      const tools = (await c.listTools()).tools;
      const names = tools.map((t) => t.name);
      for (
        const n of [
          "town_get_status",
          "agent_list",
          "agent_inbox",
          "message_send",
          "task_assign",
          "task_complete",
          "task_fail",
          "task_cancel",
          "task_get",
          "backlog_list",
          "backlog_add",
          "backlog_claim",
          "backlog_assign_all",
          "backlog_remove",
          "agent_spawn",
          "agent_kill",
          "agent_wait",
          "recovery_reclaim_tasks",
        ]
      ) assert.ok(names.includes(n), n);
      const send = tools.find((t) => t.name === "message_send")!;
      assert.deepEqual(send.inputSchema.required?.sort(), ["message", "to"]);
      assert.equal(send.annotations?.readOnlyHint, false);

      const sent = await call(c, "message_send", { to: "w1", message: "hello", kind: "info" });
      assert.ok(sent.success, sent.error);
      const inbox = await call(c, "agent_inbox", { agent: "w1" });
      assert.equal((inbox.data!.inbox as { body: string }[])[0].body, "hello");

      const assigned = await call(c, "task_assign", { agent: "w1", description: "build it" });
      assert.ok(assigned.success, assigned.error);
      const id = (assigned.data!.task as { id: string }).id;
      assert.equal((await getTask(h.t, id))?.assigned_to, a.id);
      const done = await call(c, "task_complete", { task_id: id.slice(0, 8), result: "built" });
      assert.ok(done.success, done.error);
      assert.equal((await getTask(h.t, id))?.state, "completed");
      const result = await call(c, "agent_get_result", { agent: "w1" });
      assert.equal((result.data!.task as { result: string }).result, "built");
      assert.equal((await call(c, "task_list_pending")).data!.count, 0);
      assert.equal((await call(c, "agent_list_open")).data!.count, 1);
      const again = await call(c, "task_complete", { task_id: id });
      assert.equal(again.success, false);
      assert.match(again.error!, /already completed/);

      const bad = await call(c, "task_assign", { description: "no agent" });
      assert.equal(bad.success, false);
      assert.match(bad.error!, /^arguments\.agent: /);
      const extra = await call(c, "message_send", { to: "w1", message: "x", bogus: 1 });
      assert.equal(extra.success, false);
      const ghost = await call(c, "task_assign", { agent: "ghost", description: "x" });
      assert.match(ghost.error!, /no agent 'ghost'/);

      const added = await call(c, "backlog_add", { description: "later", tags: ["x"] });
      const bid = (added.data!.task as { id: string }).id;
      assert.equal((await call(c, "backlog_list")).data!.count, 1);
      const claimed = await call(c, "backlog_claim", { task_id: bid, agent: "w1" });
      assert.ok(claimed.success, claimed.error);
      const status = await call(c, "town_get_status");
      assert.equal((status.data!.tasks as { total: number }).total, 2);

      // Resources: any task (not only backlog ones), agents by name, the town.
      const task = await c.readResource({ uri: `tinytown://tasks/${id}` });
      assert.equal(JSON.parse((task.contents[0] as { text: string }).text).state, "completed");
      const agent = await c.readResource({ uri: "tinytown://agents/w1" });
      assert.equal(JSON.parse((agent.contents[0] as { text: string }).text).agent.id, a.id);
      const town = await c.readResource({ uri: "tinytown://town/current" });
      assert.equal(JSON.parse((town.contents[0] as { text: string }).text).town, h.name);
      for (const uri of ["tinytown://agents", "tinytown://backlog"]) {
        assert.ok((await c.readResource({ uri })).contents.length);
      }
      await assert.rejects(c.readResource({ uri: "tinytown://tasks/ffffffff" }), /no task/);
      const templates = (await c.listResourceTemplates()).resourceTemplates.map((t) =>
        t.uriTemplate
      );
      assert.deepEqual(templates.sort(), ["tinytown://agents/{name}", "tinytown://tasks/{id}"]);

      const prompts = (await c.listPrompts()).prompts.map((p) => p.name).sort();
      assert.deepEqual(prompts, ["agent.role_hint", "conductor.startup_context"]);
      const ctx = await c.getPrompt({ name: "conductor.startup_context" });
      assert.match((ctx.messages[0].content as { text: string }).text, /w1/);
      const hint = await c.getPrompt({
        name: "agent.role_hint",
        arguments: { agent_name: "qa-bot", tags: "e2e" },
      });
      assert.match((hint.messages[0].content as { text: string }).text, /Tester.*\n.*e2e/);
    } finally {
      await c.close();
    }

    // Scopes apply per tool; writes are audited with the key and the tool.
    const r = await connect(h, reader);
    try {
      assert.ok((await call(r, "agent_list")).success);
      const denied = await call(r, "message_send", { to: "w1", message: "x" });
      assert.match(denied.error!, /lacks the 'town\.write' scope/);
      assert.ok((await r.readResource({ uri: "tinytown://agents" })).contents.length);
    } finally {
      await r.close();
    }
    const m = await connect(h, manager);
    try {
      await assert.rejects(m.readResource({ uri: "tinytown://agents" }), /lacks the 'town\.read'/);
      assert.match((await call(m, "town_get_status")).error!, /lacks the 'town\.read'/);
    } finally {
      await m.close();
    }
    const audit = (await recentEvents(h.t, { count: 200 })).filter((e) =>
      e.type === "audit" && e.method === "MCP"
    );
    assert.ok(audit.some((e) => e.path === "tools/call task_complete" && e.status === 200));
    assert.ok(audit.some((e) => e.path === "tools/call task_complete" && e.status === 409));
    assert.ok(audit.some((e) => e.path === "tools/call message_send" && e.status === 403));
  } finally {
    await closeHall(h);
  }
});

Deno.test("tt mcp serves the same tools over stdio", async () => {
  const h = await startHall();
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const { cmd, args } = ttCommand();
    const transport = new StdioClientTransport({
      command: cmd,
      args: [...args, "mcp"],
      cwd: h.sb.dir,
      env: h.sb.env(),
      stderr: "pipe",
    });
    const c = new Client({ name: "tt-test", version: "1.0.0" });
    await c.connect(transport);
    try {
      const list = await call(c, "agent_list");
      assert.deepEqual((list.data!.agents as { name: string }[]).map((a) => a.name), ["w1"]);
      const sent = await call(c, "message_send", { to: "w1", message: "via stdio" });
      assert.ok(sent.success, sent.error);
    } finally {
      await c.close();
    }
  } finally {
    await closeHall(h);
  }
});

Deno.test("MCP polish: function-safe tool names (dotted ones still work), GET /mcp 405, errors said once", async () => {
  const h = await startHall();
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const c = await connect(h, h.createdKey);
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      assert.ok(names.length >= 30);
      for (const n of names) assert.match(n, /^[a-zA-Z0-9_-]{1,64}$/, n);
      // The reference's dotted names are accepted in calls (not listed).
      assert.ok(!names.includes("agent.list"));
      assert.ok((await call(c, "agent.list")).success);
      assert.ok((await call(c, "agent_list")).success);
      // The SDK wraps its protocol errors in "MCP error <code>: "; the message comes once.
      const e = await c.readResource({ uri: "tinytown://tasks/ffffffff" }).catch((x) => x);
      assert.match(String(e.message), /no task/);
      assert.doesNotMatch(String(e.message), /MCP error -?\d+: MCP error/);
      const unknown = await c.callTool({ name: "no_such_tool", arguments: {} }).catch((x) => x);
      assert.match(String(unknown.message), /^MCP error -32602: Tool no_such_tool not found$/);
    } finally {
      await c.close();
    }
    const auth = { authorization: `Bearer ${h.createdKey}` };
    const get = await fetch(`${h.url}/mcp`, {
      headers: { ...auth, accept: "text/event-stream" },
    });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    assert.equal((await get.json()).code, "method_not_allowed");
  } finally {
    await closeHall(h);
  }
});

Deno.test("the MCP transport runs the SDK's own DNS-rebinding protection with townhall's lists", async () => {
  const { serveHttp } = await import("../../src/townhall/mcp.ts");
  const { OPEN } = await import("../../src/townhall/auth.ts");
  await withTestTown(async (t) => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const req = (host: string, origin?: string) =>
      new Request(`http://${host}/mcp`, {
        method: "POST",
        headers: {
          host,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(origin ? { origin } : {}),
        },
        body,
      });
    const lists = { allowedHosts: ["127.0.0.1:9"], allowedOrigins: ["http://127.0.0.1:9"] };
    const ctx = { town: t, principal: OPEN };
    const evil = await serveHttp(req("evil.example"), ctx, lists);
    assert.equal(evil.status, 403);
    assert.match(await evil.text(), /Invalid Host header/);
    const cross = await serveHttp(req("127.0.0.1:9", "http://evil.example"), ctx, lists);
    assert.equal(cross.status, 403);
    assert.match(await cross.text(), /Invalid Origin header/);
    const ok = await serveHttp(req("127.0.0.1:9", "http://127.0.0.1:9"), ctx, lists);
    assert.equal(ok.status, 200, await ok.clone().text());
    await ok.body?.cancel();
  });
});
