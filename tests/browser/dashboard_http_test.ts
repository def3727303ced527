/**
 * The dashboard's login, session and CSRF rules over plain HTTP, as an attacker would try them:
 * a real `tt townhall` in a sandbox town.
 */
import assert from "node:assert/strict";
import { api, closeHall, type Hall, HallSandbox, startHall } from "../townhall/helpers.ts";
import { alive, waitUntil } from "../agent_helpers.ts";
import { recentEvents } from "../../src/core/events.ts";
import { listKeys } from "../../src/core/auth.ts";

async function req(
  h: Hall,
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${h.url}${path}`, { redirect: "manual", ...init });
  return { res, text: await res.text() };
}

/** Logs in with a key (JSON); returns the cookie header value and the page's CSRF token. */
async function login(h: Hall, key: string) {
  const { res } = await req(h, "/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key }),
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/");
  const set = res.headers.get("set-cookie") ?? "";
  assert.match(set, /HttpOnly/i);
  assert.match(set, /SameSite=Strict/i);
  const cookie = set.split(";")[0];
  const page = await req(h, "/", { headers: { cookie, accept: "text/html" } });
  assert.equal(page.res.status, 200);
  const csrf = /<meta name="tt-csrf" content="([^"]+)"/.exec(page.text)?.[1];
  return { cookie, csrf, page: page.text };
}

const act = (h: Hall, name: string, cookie: string, body: unknown, csrf?: string) =>
  req(h, `/ui/act/${name}`, {
    method: "POST",
    headers: {
      cookie,
      "content-type": "application/json",
      ...(csrf ? { "x-csrf-token": csrf } : {}),
    },
    body: JSON.stringify(body),
  });

Deno.test("dashboard login: key → HttpOnly SameSite=Strict session; wrong key, foreign Origin, form without Origin refused", async () => {
  const h = await startHall();
  try {
    const anon = await req(h, "/", { headers: { accept: "text/html" } });
    assert.equal(anon.res.status, 303);
    assert.equal(anon.res.headers.get("location"), "/login");
    assert.equal((await req(h, "/")).res.status, 401, "non-HTML clients get 401");
    const form = await req(h, "/login");
    assert.equal(form.res.status, 200);
    assert.match(form.text, /name="key"/);
    assert.match(form.res.headers.get("content-security-policy") ?? "", /script-src 'self'/);

    const wrong = await req(h, "/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "tt_" + "x".repeat(43) }),
    });
    assert.equal(wrong.res.status, 401);
    assert.equal(wrong.res.headers.get("set-cookie"), null);

    const foreign = await req(h, "/login", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: JSON.stringify({ key: h.createdKey }),
    });
    assert.equal(foreign.res.status, 403);
    assert.equal(foreign.res.headers.get("set-cookie"), null);

    const noOrigin = await req(h, "/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `key=${h.createdKey}`,
    });
    assert.equal(noOrigin.res.status, 415, "a form post must carry its Origin");
    const okForm = await req(h, "/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: h.url },
      body: `key=${h.createdKey}`,
    });
    assert.equal(okForm.res.status, 303);
    assert.match(okForm.res.headers.get("set-cookie") ?? "", /^tt_session=/);
    // Both logins are audited: the refused one as anonymous, the good one as the key.
    const [keyRecord] = await listKeys(h.t);
    const logins = (await recentEvents(h.t, { count: 1000 }))
      .filter((e) => e.type === "audit" && e.path === "/login")
      .map((e) => `${e.method} ${e.status} ${e.actor}`);
    assert.deepEqual(logins, ["POST 401 anonymous", `POST 303 ${keyRecord.id}`]);

    const { cookie, csrf, page } = await login(h, h.createdKey!);
    assert.ok(csrf, "the page carries its CSRF token");
    assert.match(page, /Needs attention/);
    // A made-up session id is no session; a key header, even a wrong one, wins over the cookie.
    const forged = `tt_session=${"A".repeat(43)}`;
    assert.equal((await req(h, "/", { headers: { cookie: forged } })).res.status, 401);
    const mixed = await req(h, "/", { headers: { cookie, authorization: "Bearer tt_nope" } });
    assert.equal(mixed.res.status, 401);
    // The cookie is a dashboard credential only: the REST API still wants a key.
    assert.equal((await req(h, "/v1/status", { headers: { cookie } })).res.status, 401);
    const stream = await fetch(`${h.url}/ui/stream`, { headers: { cookie } });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
    await stream.body?.cancel();
    const events = await fetch(`${h.url}/v1/events/stream`, { headers: { cookie } });
    assert.equal(events.status, 200, "the SSE endpoint takes the session cookie");
    await events.body?.cancel();
  } finally {
    await closeHall(h);
  }
});

Deno.test("dashboard actions need the session's CSRF token and the key's scope; the cookie dies with logout and with its key", async () => {
  const h = await startHall({ keys: [["admin"], ["town.read"], ["agent.manage"]] });
  try {
    const admin = await login(h, h.keys[0]);
    const none = await act(h, "backlog", admin.cookie, { description: "no token" });
    assert.equal(none.res.status, 403);
    assert.match(none.text, /CSRF/);
    const bad = await act(h, "backlog", admin.cookie, { description: "bad" }, "x".repeat(43));
    assert.equal(bad.res.status, 403);
    const noSession = await req(h, "/ui/act/backlog", {
      method: "POST",
      headers: { authorization: `Bearer ${h.keys[0]}`, "content-type": "application/json" },
      body: JSON.stringify({ description: "key header, no session" }),
    });
    assert.equal(noSession.res.status, 403);
    assert.equal(await h.t.redis.llen(h.t.keys.backlog), 0, "nothing was added");
    const ok = await act(
      h,
      "backlog",
      admin.cookie,
      { description: "from the dashboard" },
      admin.csrf,
    );
    assert.equal(ok.res.status, 200, ok.text);
    assert.equal(await h.t.redis.llen(h.t.keys.backlog), 1);
    // Bad input is a 400/404 with a message, never a 500.
    const cases: [string, unknown, number, RegExp][] = [
      ["nosuch", {}, 404, /no dashboard action/],
      ["kill", {}, 400, /agent/],
      ["kill", { agent: "ghost" }, 404, /ghost/],
      ["reply", { agent: "ghost", answer: " " }, 400, /answer/],
      ["reject", { mission: "nope", item: "x" }, 400, /reason/],
      ["approve", { mission: "nope", item: "x" }, 404, /nope/],
      ["backlog", { description: "x", verify: "true" }, 200, /backlog/],
    ];
    for (const [name, body, status, re] of cases) {
      const r = await act(h, name, admin.cookie, body, admin.csrf);
      assert.equal(r.res.status, status, `${name}: ${r.text}`);
      assert.match(r.text, re, name);
    }

    // A read-only key: no buttons, and the server refuses the action anyway.
    const reader = await login(h, h.keys[1]);
    assert.doesNotMatch(reader.page, /data-act="backlog"/);
    assert.doesNotMatch(reader.page, /data-act="kill"/);
    const denied = await act(h, "backlog", reader.cookie, { description: "x" }, reader.csrf);
    assert.equal(denied.res.status, 403);
    assert.match(denied.text, /town\.write/);

    // A key without town.read sees nothing (the page, the log, the stream).
    const manager = await req(h, "/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: h.keys[2] }),
    });
    const mcookie = (manager.res.headers.get("set-cookie") ?? "").split(";")[0];
    for (const path of ["/", "/ui/stream", "/ui/tasks", "/ui/log/nobody"]) {
      const r = await req(h, path, { headers: { cookie: mcookie } });
      assert.equal(r.res.status, 403, path);
    }

    // Logout ends the session; revoking a key ends its sessions.
    const out = await act(h, "logout", admin.cookie, {}, admin.csrf);
    assert.equal(out.res.status, 200);
    assert.equal((await req(h, "/", { headers: { cookie: admin.cookie } })).res.status, 401);
    const id = (await h.sb.json<{ id: string; scopes: string[] }[]>(["auth", "list"]))
      .find((k) => k.scopes.includes("town.read") && k.scopes.length === 1)!.id;
    await h.sb.ok(["auth", "revoke", id]);
    assert.equal((await req(h, "/", { headers: { cookie: reader.cookie } })).res.status, 401);
  } finally {
    await closeHall(h);
  }
});

Deno.test("tt dashboard: a one-time link logs in once; task text is escaped in the page", async () => {
  const h = await startHall();
  try {
    const port = new URL(h.url).port;
    const toml = `${h.sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(
      toml,
      (await Deno.readTextFile(toml)).replace(/^port = 8080$/m, `port = ${port}`),
    );
    const d = await h.sb.json<{ link: string; started: boolean }>(["dashboard", "--no-start"]);
    assert.equal(d.started, false);
    const path = new URL(d.link).pathname + new URL(d.link).search;
    const first = await req(h, path);
    assert.equal(first.res.status, 303);
    const cookie = (first.res.headers.get("set-cookie") ?? "").split(";")[0];
    assert.match(cookie, /^tt_session=./);
    const again = await req(h, path);
    assert.equal(again.res.status, 401, "the link works once");
    const linkLogins = (await recentEvents(h.t, { count: 1000 }))
      .filter((e) => e.type === "audit" && e.path === "/login?token")
      .map((e) => `${e.method} ${e.status} ${e.actor}`);
    assert.deepEqual(linkLogins, ["GET 303 operator"]);
    assert.equal(again.res.headers.get("set-cookie"), null);

    const evil = "<img src=x onerror=alert(1)>";
    await h.sb.ok(["backlog", "add", evil]);
    const page = await req(h, "/", { headers: { cookie } });
    assert.equal(page.res.status, 200);
    assert.ok(!page.text.includes(evil), "the raw tag never reaches the page");
    assert.ok(page.text.includes("&lt;img src=x onerror=alert(1)&gt;"));
    const sessions = [];
    for await (const k of h.t.redis.scanStream({ match: `${h.t.keys.prefix}dash:*` })) {
      sessions.push(...(k as string[]));
    }
    assert.ok(sessions.length >= 1);
    const raw = await h.t.redis.get(sessions.find((k) => k.includes(":session:"))!);
    assert.ok(raw && !raw.includes(h.createdKey!), "the session never holds the key");
  } finally {
    await closeHall(h);
  }
});

Deno.test("tt dashboard starts this town's townhall when none answers, then the link logs in", async () => {
  const sb = new HallSandbox();
  let pid: number | undefined;
  try {
    await sb.init();
    // A free port for the configured one (the server is started by tt dashboard itself).
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const toml = `${sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(
      toml,
      (await Deno.readTextFile(toml)).replace(/^port = 8080$/m, `port = ${port}`),
    );
    const refused = await sb.tt(["dashboard", "--no-start"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /no townhall answers/);
    const d = await sb.json<{ link: string; started: boolean; pid: number }>(["dashboard"]);
    pid = d.pid;
    assert.equal(d.started, true);
    assert.ok(d.link.startsWith(`http://127.0.0.1:${port}/login?token=`), d.link);
    // Its output (the first key, shown once) went to its private log, not to this terminal.
    const log = `${sb.dir}/.tt/logs/townhall.log`;
    assert.equal((await Deno.stat(log)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(log), /no API key, so one was created/);
    const res = await fetch(d.link, { redirect: "manual" });
    await res.body?.cancel();
    assert.equal(res.status, 303);
    const again = await sb.json<{ started: boolean }>(["dashboard"]);
    assert.equal(again.started, false, "the running one is found, not a second one started");
  } finally {
    if (pid) {
      Deno.kill(pid, "SIGTERM");
      await waitUntil(async () => !(await alive(pid!)));
    }
    sb.cleanup();
  }
});

Deno.test('auth = "none": the page works without a login, and its actions still need the CSRF token', async () => {
  const h = await startHall({ townhall: 'auth = "none"' });
  try {
    const page = await req(h, "/", { headers: { accept: "text/html" } });
    assert.equal(page.res.status, 200);
    const cookie = (page.res.headers.get("set-cookie") ?? "").split(";")[0];
    const csrf = /<meta name="tt-csrf" content="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(cookie && csrf);
    assert.equal((await act(h, "backlog", cookie, { description: "x" })).res.status, 403);
    const ok = await act(h, "backlog", cookie, { description: "keyless" }, csrf);
    assert.equal(ok.res.status, 200, ok.text);
    assert.equal(await h.t.redis.llen(h.t.keys.backlog), 1);
  } finally {
    await closeHall(h);
  }
});

Deno.test("a started mission shows as a graph of its items on the page, titles escaped", async () => {
  const h = await startHall();
  try {
    const started = await api(h, "POST", "/v1/missions", {
      body: {
        title: "Ship <b>it</b>",
        items: [
          { id: "schema", title: "DB schema" },
          { id: "api", title: "<i>API</i>", depends_on: ["schema"] },
        ],
      },
    });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const { cookie } = await login(h, h.createdKey!);
    const page = await req(h, "/", { headers: { cookie } });
    assert.match(page.text, /<svg class="graph"/);
    assert.match(page.text, /data-item="schema"/);
    assert.match(page.text, /data-item="api"/);
    assert.match(page.text, /Ship &lt;b&gt;it&lt;\/b&gt;/);
    assert.ok(!page.text.includes("<i>API</i>"));
  } finally {
    await closeHall(h);
  }
});
