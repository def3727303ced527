/**
 * REST bodies: any JSON (or not-JSON) body sent to a townhall write route ends in a 2xx with a
 * JSON result, or a 4xx with a JSON error, and a 4xx changes nothing in Redis. Never a 500.
 */
import assert from "node:assert/strict";
import { createAgent, toRecipient } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { addToBacklog } from "../../src/core/backlog.ts";
import { ErrorBody } from "../../src/townhall/schemas.ts";
import { snapshotTown } from "../helpers.ts";
import {
  api,
  BODY_FIELDS,
  closeHall,
  type Hall,
  type Reply,
  startHall,
} from "../townhall/helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

/** Write routes that start no processes; `{a}` is a real agent, `{t}` a real task. */
const ROUTES = [
  "POST /v1/messages/send",
  "POST /v1/tasks/assign",
  "POST /v1/tasks/{t}/complete",
  "POST /v1/tasks/{t}/fail",
  "POST /v1/tasks/{t}/cancel",
  "POST /v1/backlog",
  "POST /v1/backlog/{b}/claim",
  "POST /v1/backlog/assign-all",
  "POST /v1/agents/{a}/interrupt",
  "POST /v1/agents/{a}/resume",
  "POST /v1/reclaim",
  "POST /v1/reclaim/orphan-tasks",
];

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom("w1", "W1", "supervisor", "", " ", "ghost", "x".repeat(70_000)),
);
const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...BODY_FIELDS), value, { maxKeys: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 40 }).map((s) => `{${s}`), // not JSON at all
);

interface Town {
  h: Hall;
  path: (route: string) => [string, string];
}

async function town(): Promise<Town> {
  const h = await startHall({
    append: "[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0",
  });
  const w = await createAgent(h.t, { name: "w1", cli: "claude" });
  const task = await assignTask(h.t, toRecipient(w), { description: "assigned" });
  const queued = await addToBacklog(h.t, { description: "queued" });
  return {
    h,
    path: (route) => {
      const [method, p] = route.split(" ");
      return [method, p.replace("{a}", "w1").replace("{t}", task.id).replace("{b}", queued.id)];
    },
  };
}

/** Redis without the event stream (audit events are expected even for refused calls). */
async function state(h: Hall) {
  const s = await snapshotTown(h.t);
  delete s[h.t.keys.events];
  return s;
}

type Send = (h: Hall, method: string, path: string, body: unknown) => Promise<Reply>;
const send: Send = (h, method, path, body) => api(h, method, path, { body });

/** The property, over a `send` that may be broken on purpose. */
function checker(tw: Town, send: Send) {
  return async (route: string, b: unknown) => {
    const [method, path] = tw.path(route);
    const before = await state(tw.h);
    const r = await send(tw.h, method, path, b);
    assert.ok(r.status < 500, `${r.status} for ${route} ${JSON.stringify(b).slice(0, 200)}`);
    if (r.status >= 400) {
      const e = ErrorBody.safeParse(r.body);
      assert.ok(e.success, `error body is not an Error: ${JSON.stringify(r.body).slice(0, 200)}`);
      assert.deepEqual(await state(tw.h), before, `a refused ${route} changed Redis`);
    } else {
      assert.ok(r.body && typeof r.body === "object", `${route}: ${r.status} without a JSON body`);
    }
  };
}

Deno.test("REST bodies: 2xx with JSON or 4xx that changes nothing, never a 500", async () => {
  const tw = await town();
  try {
    const n = await assertProperty(
      "REST write bodies",
      300,
      [fc.constantFrom(...ROUTES), body],
      checker(tw, send),
    );
    assert.equal(n, 300);
  } finally {
    await closeHall(tw.h);
  }
});

Deno.test("the REST property can fail: a refused call that writes anyway is caught", async () => {
  const tw = await town();
  try {
    const leaky: Send = async (h, method, path, b) => {
      const r = await send(h, method, path, b);
      if (r.status >= 400) await h.t.redis.set(`${h.t.keys.events}:leak`, "half-written");
      return r;
    };
    await assertCatches(
      "a half-written refusal",
      /changed Redis/,
      50,
      [fc.constantFrom(...ROUTES), body],
      checker(tw, leaky),
    );
  } finally {
    await closeHall(tw.h);
  }
});
