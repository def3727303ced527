/** The OpenAPI document: parses, is 3.1, lists every served route with its security. */
import assert from "node:assert/strict";
import { buildApp } from "../../src/townhall/app.ts";
import { depsFor } from "../../src/townhall/server.ts";
import { withTestTown } from "../helpers.ts";
import { api, closeHall, startHall } from "./helpers.ts";

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security?: unknown[]; responses: object; operationId?: string }>
  >;
  components: { securitySchemes: Record<string, { type: string }>; schemas: object };
};

/** Every `$ref` in the document points at something that exists. */
function checkRefs(doc: unknown, node: unknown = doc): number {
  if (!node || typeof node !== "object") return 0;
  let n = 0;
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string") {
      const target = v.replace(/^#\//, "").split("/").reduce(
        (o: unknown, part) => (o as Record<string, unknown>)?.[part],
        doc,
      );
      assert.ok(target, `dangling ${v}`);
      n++;
    } else n += checkRefs(doc, v);
  }
  return n;
}

interface AgentDoc {
  properties: Record<string, { type?: string; minimum?: number; enum?: string[] }>;
  required: string[];
}

Deno.test("GET /openapi.json: OpenAPI 3.1 with security schemes; every served route is documented", async () => {
  const h = await startHall({ keys: [["admin"]] });
  try {
    const r = await api<Doc>(h, "GET", "/openapi.json", { key: h.keys[0] });
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.equal(doc.openapi, "3.1.0");
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), [
      "apiKeyHeader",
      "bearerAuth",
      "sessionCookie", // the dashboard's (src/townhall/dashboard/openapi.ts)
    ]);
    assert.ok(checkRefs(doc) > 10);
    // Records read from Redis are documented from their readers (record.ts): types, counters'
    // bounds, optional fields, enums.
    const agent = (doc.components.schemas as Record<string, AgentDoc>).Agent;
    assert.deepEqual(agent.properties.tasks_completed, { type: "integer", minimum: 0 });
    assert.equal(agent.properties.max_rounds.minimum, 1);
    assert.ok(agent.required.includes("state") && !agent.required.includes("role"));
    assert.ok(agent.properties.state.enum?.includes("rate_limited"));

    // The served routes, from the app itself (built in-process on a scratch town).
    const served = await withTestTown((t) => {
      const app = buildApp(depsFor(t, "none", new AbortController().signal));
      return Promise.resolve(
        app.routes
          .filter((x) => x.method !== "ALL" && x.path !== "/openapi.json")
          .map((x) => `${x.method.toLowerCase()} ${x.path.replace(/:(\w+)/g, "{$1}")}`),
      );
    });
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`)
    );
    assert.deepEqual([...new Set(served)].sort(), documented.sort());
    assert.ok(documented.length >= 35, `only ${documented.length} operations`);
    for (
      const must of [
        "get /v1/status",
        "post /v1/tasks/assign",
        "post /v1/backlog/{task}/claim",
        "get /v1/events/stream",
        "post /v1/agents",
        "post /v1/agents/{agent}/kill",
      ]
    ) assert.ok(documented.includes(must), must);

    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const where = `${m} ${p}`;
        const isPublic = p === "/health" || p === "/ready";
        assert.equal(!op.security, isPublic, `${where} security`);
        const has = (s: number) => String(s) in op.responses;
        // What the middleware really answers on every route (see src/townhall/openapi.ts).
        for (const s of [403, 429, 500]) assert.ok(has(s), `${where} ${s}`);
        if (p !== "/health") assert.ok(has(503), `${where} 503`);
        if (!isPublic) assert.ok(has(401), `${where} 401`);
        if (m !== "get") { for (const s of [400, 413, 415]) assert.ok(has(s), `${where} ${s}`); }
        if (p.includes("{")) assert.ok(has(404), `${where} 404`);
        assert.match(op.operationId ?? "", /^[a-z][A-Za-z0-9]+$/, `${where} operationId`);
        assert.ok(!ids.has(op.operationId!), `${where}: duplicate operationId`);
        ids.add(op.operationId!);
      }
    }
    assert.equal(doc.paths["/v1/agents/{agent}/kill"].post.operationId, "postAgentsByAgentKill");
  } finally {
    await closeHall(h);
  }
});
