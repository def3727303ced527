/** Missions over REST (/v1/missions…) and MCP (mission.* tools), against a real `tt townhall`. */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { api, closeHall, startHall } from "../townhall/helpers.ts";
import { ErrorBody } from "../../src/townhall/schemas.ts";
import { MissionOut } from "../../src/townhall/routes/missions.ts";

Deno.test("REST: start, list, show, pause/resume, note, stop; a cycle is a 400 that writes nothing", async () => {
  const h = await startHall({ keys: [["admin"], ["town.read"]] });
  const [admin, reader] = h.keys;
  try {
    const items = [
      { id: "a", title: "First" },
      { id: "b", title: "Second", depends_on: ["a"] },
    ];
    const created = await api(h, "POST", "/v1/missions", {
      key: admin,
      body: { title: "Via REST", items, max_parallel: 1, reviewer: false },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const m = MissionOut.parse(created.body);
    assert.equal(m.state, "running");
    assert.deepEqual(m.items.map((i) => [i.id, i.depends_on]), [["a", []], ["b", ["a"]]]);
    assert.equal(m.max_parallel, 1);

    // A reader may look but not start.
    const denied = await api(h, "POST", "/v1/missions", { key: reader, body: { items } });
    assert.equal(denied.status, 403);
    const list = await api<unknown[]>(h, "GET", "/v1/missions", { key: reader });
    assert.deepEqual(list.body.map((x) => MissionOut.parse(x).id), [m.id]);
    const one = await api(h, "GET", `/v1/missions/${m.id.slice(0, 8)}`, { key: reader });
    assert.equal(MissionOut.parse(one.body).title, "Via REST");

    const cyc = await api(h, "POST", "/v1/missions", {
      key: admin,
      body: {
        items: [{ id: "x", title: "X", depends_on: ["y"] }, {
          id: "y",
          title: "Y",
          depends_on: ["x"],
        }],
      },
    });
    assert.equal(cyc.status, 400);
    assert.match(ErrorBody.parse(cyc.body).error, /cycle: (x → y → x|y → x → y)/);
    const bad = await api(h, "POST", "/v1/missions", {
      key: admin,
      body: { items: [{ id: "a", title: "A", owner: 1 }] },
    });
    assert.equal(bad.status, 400);
    assert.equal(
      (await api<unknown[]>(h, "GET", "/v1/missions?all=true", { key: admin })).body.length,
      1,
    );

    const paused = await api(h, "POST", `/v1/missions/${m.id}/pause`, { key: admin });
    assert.equal(MissionOut.parse(paused.body).state, "paused");
    const twice = await api(h, "POST", `/v1/missions/${m.id}/pause`, { key: admin });
    assert.equal(twice.status, 409);
    assert.equal(
      MissionOut.parse((await api(h, "POST", `/v1/missions/${m.id}/resume`, { key: admin })).body)
        .state,
      "running",
    );
    const note = await api(h, "POST", `/v1/missions/${m.id}/note`, {
      key: admin,
      body: { text: "be careful" },
    });
    assert.equal(note.status, 200);
    const approve = await api(h, "POST", `/v1/missions/${m.id}/items/a/approve`, {
      key: admin,
      body: {},
    });
    assert.equal(approve.status, 409, JSON.stringify(approve.body));
    const missing = await api(h, "GET", "/v1/missions/ffffffff", { key: admin });
    assert.equal(missing.status, 404);
    const stopped = await api(h, "POST", `/v1/missions/${m.id}/stop`, { key: admin });
    assert.equal(MissionOut.parse(stopped.body).state, "stopped");
    assert.deepEqual((await api<unknown[]>(h, "GET", "/v1/missions", { key: admin })).body, []);
  } finally {
    await closeHall(h);
  }
});

Deno.test("MCP: mission tools list, start, show and stop a mission; a reader cannot start one", async () => {
  const h = await startHall({ keys: [["admin"], ["town.read"]] });
  const [admin, reader] = h.keys;
  const connect = async (key: string) => {
    const c = new Client({ name: "tt-test", version: "1.0.0" });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${h.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    return c;
  };
  const call = async (c: Client, name: string, args: Record<string, unknown>) => {
    const r = await c.callTool({ name, arguments: args });
    return JSON.parse((r.content as { text: string }[])[0].text) as {
      success: boolean;
      data?: { id: string; state: string };
      error?: string;
    };
  };
  try {
    const c = await connect(admin);
    const names = (await c.listTools()).tools.map((t: { name: string }) => t.name).filter((
      n: string,
    ) => n.startsWith("mission_"));
    assert.deepEqual(names.sort(), [
      "mission_approve",
      "mission_list",
      "mission_note",
      "mission_pause",
      "mission_reject",
      "mission_resume",
      "mission_show",
      "mission_start",
      "mission_stop",
    ]);
    const started = await call(c, "mission_start", {
      items: [{ id: "only", title: "Only" }],
      reviewer: false,
    });
    assert.ok(started.success, started.error);
    const id = started.data!.id;
    assert.equal(
      (await call(c, "mission.show", { mission: id })) // the dotted name still works
        .data!.state,
      "running",
    );
    const r = await connect(reader);
    const refused = await call(r, "mission.start", { items: [{ id: "x", title: "X" }] });
    assert.equal(refused.success, false);
    assert.equal((await call(c, "mission.stop", { mission: id })).data!.state, "stopped");
    await c.close();
    await r.close();
  } finally {
    await closeHall(h);
  }
});
