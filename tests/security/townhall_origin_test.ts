/**
 * What a web page could do to a townhall on 127.0.0.1 (issue 9, item 2): DNS rebinding (a foreign
 * Host), cross-site calls (a foreign Origin) and "simple" no-cors POSTs (no JSON Content-Type)
 * are refused on every route, SSE and MCP included, even with a valid key; nothing changes.
 */
import assert from "node:assert/strict";
import { createAgent, getAgent } from "../../src/core/agents.ts";
import { snapshotTown } from "../helpers.ts";
import { api, assertUnchangedButEvents, closeHall, startHall } from "../townhall/helpers.ts";
import { bearer, raw } from "./townhall_http.ts";

const EVIL = { host: "evil.example", origin: "http://evil.example" };

Deno.test("DNS rebinding: a foreign Host gets 403 on every kind of route, even with a valid key", async () => {
  const h = await startHall();
  const key = bearer(h.createdKey!);
  const port = new URL(h.url).port;
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const before = await snapshotTown(h.t);
    // The reproduction, byte for byte (plus a valid key, which must not help).
    const repro = await raw(h, "POST", "/v1/backlog", {
      host: EVIL.host,
      headers: { ...key, origin: EVIL.origin, "content-type": "application/json" },
      body: '{"description":"x"}',
    });
    assert.equal(repro.status, 403);
    assert.match(String(repro.json().error), /Host 'evil\.example' is not allowed/);
    const mcp = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
    const routes: [string, string, string?][] = [
      ["GET", "/health"],
      ["GET", "/ready"],
      ["GET", "/metrics"],
      ["GET", "/v1/status"],
      ["GET", "/v1/events/stream"],
      ["POST", "/v1/agents/w1/kill", "{}"],
      ["POST", "/mcp", mcp],
    ];
    for (const host of [EVIL.host, `${EVIL.host}:${port}`, `127.0.0.1.evil.example:${port}`]) {
      for (const [m, p, body] of routes) {
        const r = await raw(h, m, p, {
          host,
          headers: {
            ...key,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
          body,
        });
        assert.equal(r.status, 403, `${m} ${p} with Host ${host}`);
        assert.equal(r.json().code, "forbidden");
      }
    }
    // No Host at all, or the right name on another port: refused too.
    assert.ok([400, 403].includes((await raw(h, "GET", "/health", { host: null })).status));
    assert.equal((await raw(h, "GET", "/health", { host: "127.0.0.1:1" })).status, 403);
    await assertUnchangedButEvents(h, before);

    // The names a local client uses, with or without the port, pass.
    for (const host of ["127.0.0.1", "localhost", `localhost:${port}`, `[::1]:${port}`, "[::1]"]) {
      assert.equal((await raw(h, "GET", "/v1/status", { host, headers: key })).status, 200, host);
    }
  } finally {
    await closeHall(h);
  }
});

Deno.test("a foreign Origin gets 403 (REST, SSE, MCP); the server's own and allowed_origins pass", async () => {
  const h = await startHall({
    townhall: 'allowed_origins = ["https://dash.example.com"]\nallowed_hosts = ["tt.internal"]',
  });
  const key = bearer(h.createdKey!);
  try {
    const before = await snapshotTown(h.t);
    for (
      const origin of [EVIL.origin, "null", "http://127.0.0.1:1", "https://dash.example.com.evil"]
    ) {
      for (
        const [m, p] of [["GET", "/v1/status"], ["GET", "/v1/events/stream"], ["POST", "/mcp"]]
      ) {
        const r = await raw(h, m, p, {
          headers: { ...key, origin, "content-type": "application/json" },
          body: m === "POST" ? '{"jsonrpc":"2.0","id":1,"method":"ping"}' : undefined,
        });
        assert.equal(r.status, 403, `${m} ${p} from ${origin}`);
        assert.match(String(r.json().error), /Origin .* is not allowed/);
      }
      const w = await api(h, "POST", "/v1/backlog", {
        headers: { origin },
        body: { description: "from a web page" },
      });
      assert.equal(w.status, 403);
    }
    assert.deepEqual(
      Object.keys(await snapshotTown(h.t)).sort(),
      Object.keys(before).sort(),
      "nothing was added",
    );
    for (
      const origin of ["https://dash.example.com", h.url, h.url.replace("127.0.0.1", "localhost")]
    ) {
      const r = await api(h, "GET", "/v1/status", { headers: { origin } });
      assert.equal(r.status, 200, origin);
    }
    const named = await raw(h, "GET", "/v1/status", { host: "tt.internal", headers: key });
    assert.equal(named.status, 200, "allowed_hosts");

    // A page at an allowed origin may call with the key (CORS); its preflight needs no key.
    const dash = "https://dash.example.com";
    const pre = await raw(h, "OPTIONS", "/v1/backlog", {
      headers: {
        origin: dash,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers["access-control-allow-origin"], dash);
    assert.match(pre.headers["access-control-allow-headers"], /Authorization/i);
    const fromDash = await api(h, "GET", "/v1/status", { headers: { origin: dash } });
    assert.equal(fromDash.headers.get("access-control-allow-origin"), dash);
    const own = await api(h, "GET", "/v1/status", { headers: { origin: h.url } });
    assert.equal(own.headers.get("access-control-allow-origin"), null, "same-origin: no CORS");
    const evilPre = await raw(h, "OPTIONS", "/v1/backlog", {
      headers: { origin: EVIL.origin, "access-control-request-method": "POST" },
    });
    assert.equal(evilPre.status, 403);
    assert.equal(evilPre.headers["access-control-allow-origin"], undefined);
  } finally {
    await closeHall(h);
  }
});

Deno.test("a state-changing request without Content-Type: application/json gets 415 and does nothing", async () => {
  const h = await startHall();
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const w2 = await createAgent(h.t, { name: "w2", cli: "claude" });
    const before = await snapshotTown(h.t);
    // The body-less POSTs a browser sends cross-site without a preflight, with the admin key.
    const bodyless = [
      "/v1/agents/w1/kill",
      "/v1/agents/w1/interrupt",
      "/v1/agents/w1/resume",
      "/v1/agents/w1/close",
      "/v1/agents/w1/restart",
      "/v1/agents/prune",
      "/v1/recover",
      "/v1/reclaim",
      "/v1/reclaim/orphan-tasks",
    ];
    const simpleTypes = [undefined, "text/plain", "application/x-www-form-urlencoded"];
    for (const p of bodyless) {
      for (const type of simpleTypes) {
        const r = await raw(h, "POST", p, {
          headers: { ...bearer(h.createdKey!), ...(type ? { "content-type": type } : {}) },
          body: type ? '{"all":true}' : undefined,
        });
        assert.equal(r.status, 415, `${p} with ${type ?? "no Content-Type"}`);
        assert.equal(r.json().code, "unsupported_media_type");
      }
    }
    const del = await raw(h, "DELETE", "/v1/backlog/abcd", { headers: bearer(h.createdKey!) });
    assert.equal(del.status, 415);
    await assertUnchangedButEvents(h, before);

    // With the header, a body-less POST is fine (it reads as {}).
    const ok = await raw(h, "POST", "/v1/agents/w2/interrupt", {
      headers: { ...bearer(h.createdKey!), "content-type": "application/json; charset=utf-8" },
    });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await getAgent(h.t, w2.id))?.state, "paused");
  } finally {
    await closeHall(h);
  }
});
