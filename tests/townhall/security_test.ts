/** Black-box: API keys and scopes (401/403), body limit (413), rate limits (429), audit. */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { recentEvents } from "../../src/core/events.ts";
import { listKeys, revokeKey } from "../../src/core/auth.ts";
import { ErrorBody } from "../../src/townhall/schemas.ts";
import { snapshotTown } from "../helpers.ts";
import { api, assertUnchangedButEvents, closeHall, HallSandbox, startHall } from "./helpers.ts";

Deno.test("keys: 401 without or with a wrong key, X-API-Key works, 403 without the scope", async () => {
  const h = await startHall({
    keys: [["town.read"], ["town.read", "town.write"], ["agent.manage"], ["admin"]],
  });
  const [reader, writer, manager, admin] = h.keys;
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const none = await api(h, "GET", "/v1/agents");
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.match(ErrorBody.parse(none.body).error, /authentication required/);
    assert.equal((await api(h, "GET", "/v1/agents", { key: "tt_" + "A".repeat(43) })).status, 401);
    assert.equal(
      (await api(h, "GET", "/v1/agents", { headers: { authorization: `Basic ${reader}` } }))
        .status,
      401,
    );
    assert.equal((await api(h, "GET", "/v1/agents", { key: reader })).status, 200);
    assert.equal(
      (await api(h, "GET", "/v1/agents", { headers: { "x-api-key": reader } })).status,
      200,
    );

    const send = { to: "w1", message: "hi" };
    const denied = await api(h, "POST", "/v1/messages/send", { key: reader, body: send });
    assert.equal(denied.status, 403);
    assert.match(ErrorBody.parse(denied.body).error, /lacks the 'town\.write' scope/);
    assert.equal(
      (await api(h, "POST", "/v1/messages/send", { key: writer, body: send })).status,
      201,
    );
    assert.equal((await api(h, "GET", "/v1/status", { key: manager })).status, 403);
    const spawnDenied = await api(h, "POST", "/v1/agents/w1/interrupt", { key: writer });
    assert.equal(spawnDenied.status, 403);
    const paused = await api(h, "POST", "/v1/agents/w1/interrupt", { key: manager });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal((await api(h, "POST", "/v1/agents/w1/resume", { key: admin })).status, 200);
    assert.equal((await api(h, "GET", "/v1/status", { key: admin })).status, 200);

    // The audit trail names the key, and records denials too.
    const audit = (await recentEvents(h.t, { count: 100 })).filter((e) => e.type === "audit");
    const ids = (await listKeys(h.t)).map((k) => k.id);
    assert.deepEqual(
      audit.map((e) => [e.actor, e.status, e.path]),
      [
        [ids[0], 403, "/v1/messages/send"],
        [ids[1], 201, "/v1/messages/send"],
        [ids[1], 403, "/v1/agents/w1/interrupt"],
        [ids[2], 200, "/v1/agents/w1/interrupt"],
        [ids[3], 200, "/v1/agents/w1/resume"],
      ],
    );

    // Revocation applies to the running server at once.
    await revokeKey(h.t, ids[0]);
    assert.equal((await api(h, "GET", "/v1/agents", { key: reader })).status, 401);
  } finally {
    await closeHall(h);
  }
});

Deno.test("413 for a body over max_body_bytes, with nothing changed", async () => {
  const h = await startHall({ townhall: "max_body_bytes = 1024" });
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const ok = await api(h, "POST", "/v1/messages/send", { body: { to: "w1", message: "x" } });
    assert.equal(ok.status, 201);
    const before = await snapshotTown(h.t);
    const big = await api(h, "POST", "/v1/messages/send", {
      body: { to: "w1", message: "y".repeat(2000) },
    });
    assert.equal(big.status, 413);
    assert.equal(ErrorBody.parse(big.body).code, "payload_too_large");
    // Chunked (no Content-Length) is counted too.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(
          new TextEncoder().encode(JSON.stringify({ to: "w1", message: "z".repeat(5000) })),
        );
        c.close();
      },
    });
    const chunked = await fetch(`${h.url}/v1/messages/send`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${h.createdKey}` },
      body: stream,
    });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    await assertUnchangedButEvents(h, before);
  } finally {
    await closeHall(h);
  }
});

Deno.test("429 with Retry-After once a key's write bucket is empty; reads and other keys go on", async () => {
  const h = await startHall({
    keys: [["admin"], ["admin"]],
    append: "[townhall.rate_limit]\nwrite_per_min = 1\nread_per_min = 6000\nburst = 3",
  });
  const [k1, k2] = h.keys;
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const send = () =>
      api(h, "POST", "/v1/messages/send", { key: k1, body: { to: "w1", message: "m" } });
    for (let i = 0; i < 3; i++) assert.equal((await send()).status, 201);
    const limited = await send();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal(ErrorBody.parse(limited.body).code, "rate_limited");
    assert.equal((await api(h, "GET", "/v1/agents", { key: k1 })).status, 200);
    const other = await api(h, "POST", "/v1/messages/send", {
      key: k2,
      body: { to: "w1", message: "m" },
    });
    assert.equal(other.status, 201);
    const inbox = await api<{ counts: { inbox: number } }>(h, "GET", "/v1/agents/w1/inbox", {
      key: k1,
    });
    assert.equal(inbox.body.counts.inbox, 4, "the refused request delivered nothing");
    const audit = (await recentEvents(h.t, { count: 100 })).filter((e) => e.type === "audit");
    assert.ok(audit.every((e) => e.status !== 429), "refused floods are not written to the stream");
  } finally {
    await closeHall(h);
  }
});

Deno.test("tt auth gen-key/list/revoke; --json; bad scope is a usage error", async () => {
  const sb = new HallSandbox();
  try {
    await sb.init();
    const made = await sb.json<{ id: string; key: string; scopes: string[]; name: string }>([
      "auth",
      "gen-key",
      "--scope",
      "town.read,town:write",
      "--name",
      "ci",
    ]);
    assert.match(made.key, /^tt_/);
    assert.deepEqual(made.scopes, ["town.read", "town.write"]);
    const plain = await sb.ok(["auth", "gen-key"]);
    assert.match(plain.stdout, /^tt_[A-Za-z0-9_-]{43}\n$/);
    assert.match(plain.stderr, /shown only this once/);
    const list = await sb.json<{ id: string; name: string; hash?: string }[]>(["auth", "list"]);
    assert.deepEqual(list.map((k) => k.name), ["ci", list[1].name]);
    assert.ok(list.every((k) => k.hash === undefined));
    assert.ok(!(await sb.ok(["auth", "list"])).stdout.includes(made.key));
    await sb.ok(["auth", "revoke", made.id]);
    assert.equal((await sb.json<unknown[]>(["auth", "list"])).length, 1);
    const again = await sb.tt(["auth", "revoke", made.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no key with id/);
    const bad = await sb.tt(["auth", "gen-key", "--scope", "root"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown scope 'root'/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("tt townhall: port in use and unsafe binds fail with one line; SIGTERM exits 0", async () => {
  const h = await startHall();
  try {
    const port = new URL(h.url).port;
    const busy = await h.sb.tt(["townhall", "--port", port]);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr.trim().split("\n").length, 1);
    assert.match(busy.stderr, new RegExp(`port ${port} .*already in use`));
    const forced = await h.sb.tt(["townhall", "--bind", "0.0.0.0", "--port", "0", "--force"]);
    assert.equal(forced.code, 2, "there is no --force any more");
    const badPort = await h.sb.tt(["townhall", "--port", "99999"]);
    assert.equal(badPort.code, 2);
    assert.equal(await h.stop(), 0);
    // Only the banner of the key this start created: no warning, no error.
    assert.ok(h.createdKey);
    assert.equal(h.stderr().split("\n")[0], h.stderr().trim().split("\n")[0]);
    assert.match(h.stderr(), /^townhall: this town had no API key, so one was created/);
    assert.doesNotMatch(h.stderr(), /warning|error/i);
  } finally {
    await closeHall(h);
  }
});
