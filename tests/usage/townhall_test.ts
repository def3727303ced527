/**
 * Usage over townhall: GET /v1/usage and /v1/budget, MCP usage_get, and the Prometheus counters
 * tinytown_tokens_total{agent,model,kind} and tinytown_cost_usd_total{agent}.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createAgent } from "../../src/core/agents.ts";
import { recordRoundUsage } from "../../src/core/usage/record.ts";
import { api, closeHall, startHall } from "../townhall/helpers.ts";

Deno.test("REST, MCP and /metrics show the recorded usage and budgets", async () => {
  const h = await startHall({
    keys: [["town.read"], ["town.write"]],
    append: '[budget]\nagent_usd = 0.50\nwindow = "5h"',
  });
  const [reader] = h.keys;
  try {
    const a = await createAgent(h.t, { name: "m1", cli: "claude" });
    for (const cost of [0.25, 0.35]) {
      await recordRoundUsage(h.t, {
        agentId: a.id,
        cli: "claude",
        model: 'odd"model',
        tokens: { input: 1000, output: 10, cached: 5 },
        costUsd: cost,
        durationMs: 10,
        round: 1,
        taskIds: [],
        pricing: {},
        keepSecs: 86400,
        slotMinutes: 1,
      });
    }
    assert.equal((await api(h, "GET", "/v1/usage")).status, 401);
    const u = await api<{ total: { input: number; usd: number }; rows: { key: string }[] }>(
      h,
      "GET",
      "/v1/usage?by=model",
      { key: reader },
    );
    assert.equal(u.status, 200);
    assert.equal(u.body.total.input, 2000);
    assert.ok(Math.abs(u.body.total.usd - 0.6) < 1e-9);
    assert.deepEqual(u.body.rows.map((r) => r.key), ["odd_model"], "model labels are sanitised");
    assert.equal((await api(h, "GET", "/v1/usage?by=nonsense", { key: reader })).status, 400);
    const b = await api<{ agents: { agent: string; over?: { text: string } }[] }>(
      h,
      "GET",
      "/v1/budget",
      { key: reader },
    );
    assert.equal(b.status, 200);
    assert.match(b.body.agents[0].over!.text, /agent_usd: \$0\.60 of \$0\.50 over 5h/);

    const st = await api<{ agents: { budget?: { line?: string; left: { agent_usd: number } } }[] }>(
      h,
      "GET",
      "/v1/status",
      { key: reader },
    );
    assert.equal(st.body.agents[0].budget?.line, "$0.60 of $0.50 over 5h");
    assert.equal(st.body.agents[0].budget?.left.agent_usd, 0);

    const m = await api<string>(h, "GET", "/metrics", { key: reader });
    assert.match(
      m.body,
      /^tinytown_tokens_total\{agent="m1",model="odd_model",kind="input"\} 2000$/m,
    );
    assert.match(
      m.body,
      /^tinytown_tokens_total\{agent="m1",model="odd_model",kind="cached"\} 10$/m,
    );
    assert.match(m.body, /^tinytown_cost_usd_total\{agent="m1"\} 0\.6\d*$/m);

    const client = new Client({ name: "tt-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${reader}` } },
      }),
    );
    const r = await client.callTool({ name: "usage_get", arguments: { by: "agent" } });
    const out = JSON.parse((r.content as { text: string }[])[0].text);
    assert.equal(out.success, true, JSON.stringify(out));
    assert.equal(out.data.rows[0].key, a.id);
    assert.equal(out.data.total.output, 20);
    await client.close();
  } finally {
    await closeHall(h);
  }
});
