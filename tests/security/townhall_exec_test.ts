/**
 * Running code on the host is its own scope (issue 9, item 3): a key with `town.write` or
 * `agent.manage` alone cannot make the host run a command, neither through a raw agent `cli` nor
 * through a task's `verify`, over REST or MCP. MCP `tools/list` shows only what the key may call.
 */
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { listAgents } from "../../src/core/agents.ts";
import { snapshotTown } from "../helpers.ts";
import {
  api,
  assertUnchangedButEvents,
  closeHall,
  type Hall,
  startHall,
  stopSupervisor,
} from "../townhall/helpers.ts";

async function mcp(h: Hall, key: string): Promise<Client> {
  const c = new Client({ name: "attacker", version: "1.0.0" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return c;
}

async function tool(c: Client, name: string, args: Record<string, unknown>) {
  const r = await c.callTool({ name, arguments: args });
  return JSON.parse((r.content as { text: string }[])[0].text) as {
    success: boolean;
    error?: string;
  };
}

Deno.test("town.write and agent.manage alone cannot run a command on the host (REST and MCP)", async () => {
  const h = await startHall({
    keys: [["town.read", "town.write"], ["town.read", "agent.manage"], [
      "town.write",
      "agent.manage",
      "exec",
    ]],
    append: '[agent_clis.fake]\ncommand = "true"',
  });
  const [writer, manager, runner] = h.keys;
  const marker = `${h.sb.dir}/pwned`;
  try {
    const before = await snapshotTown(h.t);
    const raws = [`sh -c 'touch ${marker}'`, `touch ${marker}`, "constructor", "toString"];
    for (const cli of raws) {
      const r = await api(h, "POST", "/v1/agents", { key: manager, body: { name: "x", cli } });
      assert.equal(r.status, 403, `cli ${cli}`);
      assert.match(String(r.body.error), /lacks the 'exec' scope: 'cli' is not a preset/);
    }
    const verify = `touch ${marker}`;
    const assign = await api(h, "POST", "/v1/tasks/assign", {
      key: writer,
      body: { agent: "supervisor", description: "x", verify },
    });
    assert.equal(assign.status, 403);
    assert.match(String(assign.body.error), /lacks the 'exec' scope: 'verify' is a command/);
    const backlog = await api(h, "POST", "/v1/backlog", {
      key: writer,
      body: { description: "x", verify },
    });
    assert.equal(backlog.status, 403);

    const w = await mcp(h, writer);
    const m = await mcp(h, manager);
    try {
      const wNames = (await w.listTools()).tools.map((t) => t.name);
      const mNames = (await m.listTools()).tools.map((t) => t.name);
      assert.ok(wNames.includes("task_assign") && !wNames.includes("agent_spawn"), `${wNames}`);
      assert.ok(mNames.includes("agent_spawn") && !mNames.includes("task_assign"), `${mNames}`);
      for (const names of [wNames, mNames]) {
        for (const n of names) assert.match(n, /^[a-zA-Z0-9_-]{1,64}$/);
      }
      const spawn = await tool(m, "agent_spawn", { name: "x", cli: raws[0] });
      assert.match(spawn.error ?? "", /lacks the 'exec' scope/);
      const dotted = await tool(m, "agent.spawn", { name: "x", cli: raws[0] });
      assert.match(dotted.error ?? "", /lacks the 'exec' scope/, "the old name is checked too");
      const task = await tool(w, "task_assign", { agent: "supervisor", description: "x", verify });
      assert.match(task.error ?? "", /lacks the 'exec' scope/);
      const later = await tool(w, "backlog_add", { description: "x", verify });
      assert.match(later.error ?? "", /lacks the 'exec' scope/);
    } finally {
      await w.close();
      await m.close();
    }
    await assertUnchangedButEvents(h, before, "nothing was created");
    assert.ok(!(await Deno.stat(marker).catch(() => undefined)), "nothing ran");

    // What those scopes may still do: tasks without verify, agents running configured CLIs.
    const plain = await api(h, "POST", "/v1/backlog", { key: writer, body: { description: "y" } });
    assert.equal(plain.status, 201);
    const fake = await api(h, "POST", "/v1/agents", {
      key: manager,
      body: { name: "f", cli: "fake" },
    });
    assert.equal(fake.status, 201, JSON.stringify(fake.body));
    const withExec = await api(h, "POST", "/v1/backlog", {
      key: runner,
      body: { description: "z", verify: "true" },
    });
    assert.equal(withExec.status, 201, JSON.stringify(withExec.body));
    assert.deepEqual((await listAgents(h.t)).map((a) => a.name), ["f"]);
  } finally {
    await stopSupervisor(h);
    await closeHall(h);
  }
});
