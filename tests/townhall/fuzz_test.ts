/**
 * Bounded fuzz (loopback only, seeded): thousands of malformed bodies, paths, queries and headers
 * against every route. Expect no 500 and no change in Redis besides `audit` events.
 */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { recentEvents } from "../../src/core/events.ts";
import { addToBacklog } from "../../src/core/backlog.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { resolveRecipient } from "../../src/core/agents.ts";
import { report, snapshotTown } from "../helpers.ts";
import {
  assertUnchangedButEvents,
  BODY_FIELDS,
  closeHall,
  type Hall,
  startHall,
} from "./helpers.ts";

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(Deno.env.get("TT_FUZZ_SEED") ?? 20261123);

/** Route templates; `{a}` becomes an agent-ish segment, `{t}` a task-ish one (never real ones). */
const WRITE_ROUTES = [
  "POST /v1/messages/send",
  "POST /v1/tasks/assign",
  "POST /v1/tasks/{t}/complete",
  "POST /v1/tasks/{t}/fail",
  "POST /v1/tasks/{t}/cancel",
  "POST /v1/backlog",
  "POST /v1/backlog/{t}/claim",
  "POST /v1/backlog/assign-all",
  "DELETE /v1/backlog/{t}",
  "POST /v1/agents",
  "POST /v1/agents/{a}/kill",
  "POST /v1/agents/{a}/interrupt",
  "POST /v1/agents/{a}/resume",
  "POST /v1/agents/{a}/close",
  "POST /v1/agents/{a}/restart",
  "POST /v1/agents/prune",
  "POST /v1/recover",
  "POST /v1/reclaim",
  "POST /v1/reclaim/orphan-tasks",
];
const READ_ROUTES = [
  "GET /v1/status",
  "GET /v1/town",
  "GET /v1/agents",
  "GET /v1/agents/{a}",
  "GET /v1/agents/{a}/inbox",
  "GET /v1/agents/{a}/wait",
  "GET /v1/tasks",
  "GET /v1/tasks/{t}",
  "GET /v1/backlog",
  "GET /v1/events",
  "GET /v1/history",
  "GET /health",
  "GET /ready",
  "GET /metrics",
  "GET /api/scaling",
  "GET /openapi.json",
];

function makeCase(r: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const junk = (n = 12) =>
    Array.from(
      { length: Math.floor(r() * n) + 1 },
      () => pick([..."abcXYZ019-_.%~!@$^&*()[]{}<>'\"\\ é漢😀\u0000\u202e"]),
    ).join("");
  const segment = () =>
    pick([
      encodeURIComponent(junk()),
      "ffffffff",
      "00000000-0000-0000-0000-00000000000x",
      "%00",
      "..",
      "a".repeat(300),
      "supervisor%0a",
      encodeURIComponent("Nick [role]"),
    ]);
  const wrong = () =>
    pick<unknown>([
      null,
      0,
      -1,
      1e309,
      true,
      [],
      {},
      [1, 2],
      { $ne: 1 },
      "",
      junk(),
      "x".repeat(70_000),
    ]);
  /** A body that is never valid: malformed text, a non-object, or an object with a bad field. */
  const badBody = (): { text: string; type: string } => {
    const k = Math.floor(r() * 8);
    if (k === 0) return { text: junk(40), type: "application/json" };
    if (k === 1) {
      // Any JSON but an empty object (which is a valid body for routes with optional fields).
      const v = wrong();
      return {
        text: JSON.stringify(
          v && typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length ? [v] : v,
        ),
        type: "application/json",
      };
    }
    if (k === 2) return { text: "[".repeat(5000), type: "application/json" };
    if (k === 3) return { text: `{"to":"w", "message": "x"`, type: "application/json" };
    if (k === 4) {
      return {
        text: JSON.stringify({ [junk()]: wrong() }),
        type: pick(["text/plain", "application/xml", "multipart/form-data", ""]),
      };
    }
    const obj: Record<string, unknown> = {};
    for (let i = 0; i < 1 + Math.floor(r() * 3); i++) obj[pick(BODY_FIELDS)] = wrong();
    // An unknown field makes every (strict) body invalid, whatever the others hold.
    obj[`zz_${junk(4)}`] = wrong();
    return {
      text: JSON.stringify(obj),
      type: pick(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]),
    };
  };
  const write = r() < 0.6;
  const [method, tmpl] = pick(write ? WRITE_ROUTES : READ_ROUTES).split(" ");
  let path = tmpl.replace("{a}", segment()).replace("{t}", segment());
  if (r() < 0.5) {
    const q = ["count", "agent", "limit", "state", "until", "timeout", "after", junk(3)];
    path += "?" +
      Array.from(
        { length: 1 + Math.floor(r() * 3) },
        () => `${pick(q)}=${encodeURIComponent(String(wrong()).slice(0, 50))}`,
      ).join("&");
  }
  if (method === "GET" && path.includes("/wait")) {
    path += (path.includes("?") ? "&" : "?") + "timeout=0";
  }
  const headers: Record<string, string> = {};
  if (r() < 0.3) {
    headers.authorization = pick(["Bearer", "Bearer  ", "Basic x", `Bearer ${junk()}`, "tt_"]);
  }
  if (r() < 0.2) headers["x-api-key"] = junk().replace(/[^\x20-\x7e]/g, "");
  if (r() < 0.1) headers["last-event-id"] = junk().replace(/[^\x20-\x7e]/g, "");
  if (r() < 0.1) headers["content-length"] = "0";
  let body: string | undefined;
  if (write) {
    const b = badBody();
    body = b.text;
    if (b.type) headers["content-type"] = b.type;
    delete headers["content-length"];
  }
  return { method, path, headers, body };
}

async function fire(h: Hall, c: ReturnType<typeof makeCase>): Promise<number> {
  try {
    const res = await fetch(`${h.url}${c.path}`, {
      method: c.method,
      headers: c.headers,
      body: c.body,
    });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    // Header values fetch itself refuses never reach the server: not a case.
    if (e instanceof TypeError && /header|Header/.test(e.message)) return -1;
    throw e;
  }
}

Deno.test("fuzz: malformed requests never give 500 and never change Redis", async () => {
  const h = await startHall({
    keys: [["admin"]],
    append: "[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0",
  });
  try {
    const w = await createAgent(h.t, { name: "w1", cli: "claude" });
    await addToBacklog(h.t, { description: "queued" });
    await assignTask(h.t, await resolveRecipient(h.t, w.id), { description: "assigned" });
    const before = await snapshotTown(h.t);
    const evBefore = (await recentEvents(h.t, { count: 100_000 })).length;
    const r = rng(SEED);
    const statuses = new Map<number, number>();
    let tried = 0;
    const deadline = Date.now() + 120_000;
    for (let batch = 0; batch < 150 && Date.now() < deadline; batch++) {
      const cases = Array.from({ length: 20 }, () => makeCase(r));
      // Past the key check (a case without credentials gets the valid key): the fuzz is of input.
      for (const c of cases) c.headers.authorization ??= `Bearer ${h.keys[0]}`;
      const got = await Promise.all(cases.map((c) => fire(h, c)));
      got.forEach((s, i) => {
        if (s < 0) return;
        tried++;
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
        assert.ok(s < 500, `${s} for ${JSON.stringify(cases[i]).slice(0, 300)} (seed ${SEED})`);
        if (cases[i].method !== "GET") {
          assert.ok(s >= 400, `${s} for ${JSON.stringify(cases[i]).slice(0, 300)}`);
        }
      });
    }
    report(
      `fuzz: ${tried} cases (seed ${SEED}); statuses ${
        JSON.stringify(Object.fromEntries(statuses))
      }`,
    );
    assert.ok(tried >= 2000, `only ${tried} cases ran`);
    const newEvents = (await recentEvents(h.t, { count: 100_000 })).slice(evBefore);
    assert.deepEqual(
      newEvents.filter((e) => e.type !== "audit").map((e) => e.type),
      [],
      "only audit events may be added",
    );
    await assertUnchangedButEvents(h, before);
    assert.equal(h.stderr(), "", "no internal errors logged");
  } finally {
    await closeHall(h);
  }
});

Deno.test("fuzz: with keys, garbage credentials always get 401 and change nothing", async () => {
  const h = await startHall({
    keys: [["admin"]],
    append: "[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0",
  });
  try {
    await createAgent(h.t, { name: "w1", cli: "claude" });
    const before = await snapshotTown(h.t);
    const r = rng(SEED + 1);
    const valid = h.keys[0];
    let tried = 0;
    for (let batch = 0; batch < 30; batch++) {
      const cases = Array.from({ length: 20 }, () => {
        const c = makeCase(r);
        // Near misses of the real key, and plain garbage.
        const near = [
          valid.slice(0, -1),
          valid + "A",
          valid.toUpperCase(),
          valid.slice(3),
          ` ${valid}x`,
        ];
        c.headers.authorization = `Bearer ${near[Math.floor(r() * near.length)]}`;
        if (r() < 0.3) delete c.headers.authorization;
        return c;
      }).filter((c) => c.path.startsWith("/v1/"));
      const got = await Promise.all(cases.map((c) => fire(h, c)));
      got.forEach((s, i) => {
        if (s < 0) return;
        tried++;
        // A state-changing request that is not JSON is refused first (415, before the key).
        const c = cases[i];
        const json = /^application\/json\s*(;|$)/i.test(c.headers["content-type"] ?? "");
        const expected = c.method !== "GET" && !json ? 415 : 401;
        assert.equal(s, expected, JSON.stringify(c).slice(0, 300));
      });
    }
    report(`fuzz (credentials): ${tried} cases (seed ${SEED + 1})`);
    assert.ok(tried >= 300);
    await assertUnchangedButEvents(h, before);
  } finally {
    await closeHall(h);
  }
});
