/**
 * The attacker's view of townhall authentication (issue 9, item 1): nothing but /health and /ready
 * answers without a key, a fresh town gets its key on the first start, and neither revoking every
 * key nor `tt reset --force` opens a running server. Real townhall, real Redis, HTTP requests.
 */
import assert from "node:assert/strict";
import { countKeys, listKeys, revokeKey } from "../../src/core/auth.ts";
import { snapshotTown } from "../helpers.ts";
import {
  api,
  assertUnchangedButEvents,
  closeHall,
  HallSandbox,
  startHall,
} from "../townhall/helpers.ts";

/** Every documented operation, with its path parameters filled in. */
async function operations(url: string, key: string): Promise<[string, string][]> {
  const res = await fetch(`${url}/openapi.json`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const doc = await res.json() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m): [string, string] => [
      m.toUpperCase(),
      p.replace("{agent}", "w1").replace("{task}", "abcd1234"),
    ])
  );
}

Deno.test("a fresh town: the first townhall creates one admin key, prints it once on stderr, and requires it", async () => {
  const h = await startHall();
  try {
    const key = h.createdKey!;
    assert.match(key, /^tt_[A-Za-z0-9_-]{43}$/);
    const err = h.stderr();
    assert.equal(err.split(key).length - 1, 3, "the key text, and in the curl and MCP lines");
    assert.match(err, new RegExp(`curl -H 'Authorization: Bearer ${key}' ${h.url}/v1/status`));
    assert.match(err, new RegExp(`MCP client: URL ${h.url}/mcp, header 'Authorization: Bearer`));
    const keys = await listKeys(h.t);
    assert.equal(keys.length, 1);
    assert.deepEqual(keys[0].scopes, ["admin"]);
    assert.notEqual(keys[0].hash, key, "stored hashed");

    // The reproduction, without a key: refused, nothing written.
    const before = await snapshotTown(h.t);
    const r = await api(h, "POST", "/v1/backlog", { key: null, body: { description: "x" } });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
    const spawn = await api(h, "POST", "/v1/agents", {
      key: null,
      body: { name: "evil", cli: "sh -c 'touch /tmp/tt-pwned'" },
    });
    assert.equal(spawn.status, 401);
    await assertUnchangedButEvents(h, before);

    // Every route but /health, /ready and the dashboard's login page and static assets, any
    // method: 401 without a key (POST /login refuses the empty body: no key, no session).
    const ops = await operations(h.url, key);
    assert.ok(ops.length >= 35);
    const open = new Set(["/health", "/ready", "/assets/tt.js", "/assets/tt.css", "/favicon.ico"]);
    let refused = 0;
    for (const [m, p] of [...ops, ["GET", "/openapi.json"], ["POST", "/mcp"]]) {
      const res = await api(h, m, p, { key: null, body: m === "GET" ? undefined : {} });
      if (open.has(p) || (m === "GET" && p === "/login")) {
        assert.ok(res.status === 200 || res.status === 204, `${m} ${p}: ${res.status}`);
        if (p === "/login") assert.equal(res.headers.get("set-cookie"), null, "a session");
      } else if (m === "GET" && p === "/") {
        // A browser is sent to the login page; nothing of the town is in the answer.
        assert.ok([302, 303, 401].includes(res.status), `${m} ${p}: ${res.status}`);
        assert.doesNotMatch(JSON.stringify(res.body), /Agents|agent\(s\)/);
        refused++;
      } else {
        assert.equal(res.status, 401, `${m} ${p}`);
        refused++;
      }
    }
    // The open ones out, /openapi.json and /mcp in.
    assert.equal(
      refused,
      ops.length - [...ops].filter(([m, p]) =>
        open.has(p) || (m === "GET" && p === "/login")
      ).length + 2,
    );
    assert.equal((await api(h, "GET", "/v1/status")).status, 200, "the printed key works");

    // A start that cannot listen leaves no key behind that nobody was shown.
    const other = new HallSandbox();
    try {
      await other.init();
      const busy = await other.tt(["townhall", "--port", new URL(h.url).port]);
      assert.equal(busy.code, 1);
      assert.doesNotMatch(busy.stderr, /tt_[A-Za-z0-9_-]{43}/);
      assert.deepEqual(await other.json(["auth", "list"]), []);
    } finally {
      other.cleanup();
    }
  } finally {
    await closeHall(h);
  }
  // The next start of the same town creates no second key and prints none.
  const first = await startHall();
  await first.stop();
  const second = await startHall({ sandbox: first.sb, name: first.name });
  try {
    assert.equal(second.createdKey, undefined);
    assert.doesNotMatch(second.stderr(), /tt_[A-Za-z0-9_-]{43}/);
    assert.equal(await countKeys(second.t), 1);
    assert.equal((await api(second, "GET", "/v1/status", { key: first.createdKey })).status, 200);
  } finally {
    await first.t.close();
    await closeHall(second);
  }
});

Deno.test("revoking every key or tt reset --force never opens a running townhall", async () => {
  const h = await startHall();
  try {
    const key = h.createdKey!;
    assert.equal((await api(h, "GET", "/v1/agents")).status, 200);
    const [k] = await listKeys(h.t);
    await revokeKey(h.t, k.id);
    assert.equal(await countKeys(h.t), 0);
    for (const creds of [undefined, key]) {
      const r = await api(h, "GET", "/v1/agents", { key: creds ?? null });
      assert.equal(r.status, 401, `with ${creds ? "the revoked key" : "no key"}`);
      const w = await api(h, "POST", "/v1/backlog", {
        key: creds ?? null,
        body: { description: "x" },
      });
      assert.equal(w.status, 401);
    }
    const fresh = (await h.sb.ok(["auth", "gen-key"])).stdout.trim();
    assert.equal((await api(h, "GET", "/v1/agents", { key: fresh })).status, 200);

    await h.sb.ok(["reset", "--force"]);
    assert.equal(await countKeys(h.t), 0);
    assert.equal((await api(h, "GET", "/v1/agents", { key: null })).status, 401);
    assert.equal((await api(h, "GET", "/v1/agents", { key: fresh })).status, 401);
    assert.equal(
      (await api(h, "POST", "/v1/backlog", { key: null, body: { description: "x" } })).status,
      401,
    );
    assert.equal(await countKeys(h.t), 0, "a running server creates no key by itself");
  } finally {
    await closeHall(h);
  }
});

Deno.test('auth = "none": served on loopback with a loud banner; refused on any other bind, no --force', async () => {
  const h = await startHall({ townhall: 'auth = "none"' });
  try {
    assert.equal(h.createdKey, undefined);
    assert.equal(await countKeys(h.t), 0);
    assert.match(h.stderr(), /NO API KEY IS CHECKED/);
    assert.equal((await api(h, "GET", "/v1/status")).status, 200);
    for (const args of [["--bind", "0.0.0.0"], ["--bind", "0.0.0.0", "--force"]]) {
      const r = await h.sb.tt(["townhall", "--port", "0", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    const refused = await h.sb.tt(["townhall", "--port", "0", "--bind", "0.0.0.0"]);
    assert.match(refused.stderr, /refusing to serve 0\.0\.0\.0 with \[townhall\] auth = "none"/);
    assert.equal(await countKeys(h.t), 0);
  } finally {
    await closeHall(h);
  }
});
