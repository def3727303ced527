/**
 * `tt status`'s mailbox breakdown counted in Redis (src/core/mailbox_counts.ts) against the
 * breakdown `tt inbox` computes from the whole messages (peekInboxes + countCategories), on a
 * real redis-server: every message type tt writes, texts that contain `"type":"…"` themselves,
 * custom messages whose text decides, urgent and in-flight lists, the limit, and junk written
 * into the lists by hand.
 */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import {
  countCategories,
  type NewMessage,
  peekInboxes,
  sendMessage,
} from "../../src/core/messages.ts";
import { mailboxCounts } from "../../src/core/mailbox_counts.ts";
import { MESSAGE_KINDS } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { withTestTown } from "../helpers.ts";
import { Rng } from "../chaos/rng.ts";

const TEXTS = [
  "Build the REST API",
  '{"type":"query"} is not my type',
  'say "type":"confirmation" to me',
  '\\"type\\":\\"ping\\"',
  "thanks, received", // custom: a confirmation by its words
  "fyi: status update",
  "a question for you",
  "日本語 🚀 \u0000 \u001f",
  "",
];

/** What `tt inbox` counts for these mailboxes, from the whole messages. */
async function inboxView(t: TownContext, ids: string[], limit: number) {
  const views = await peekInboxes(t, ids, limit);
  return new Map(
    ids.map((id) => {
      const v = views.get(id)!;
      return [id, {
        ...v.counts,
        categories: countCategories([...v.processing, ...v.urgent, ...v.inbox]),
      }];
    }),
  );
}

Deno.test("mailboxCounts gives the breakdown tt inbox computes, for every message tt writes", async () => {
  await withTestTown(async (t) => {
    const agents = await Promise.all(
      ["a", "b", "c"].map((name) => createAgent(t, { name, cli: "true" })),
    );
    const rng = new Rng(4242);
    for (let i = 0; i < 400; i++) {
      const to = rng.pick(agents);
      const type = rng.pick(MESSAGE_KINDS);
      const m: NewMessage = {
        from: rng.pick(agents).id,
        to: to.id,
        type,
        body: rng.pick(TEXTS) + (rng.chance(0.3) ? ` ${i}` : ""),
        ...(type === "custom" || rng.chance(0.2)
          ? { kind: rng.pick(["ack", "info", "question", "x"]) }
          : {}),
        ...(rng.chance(0.3) ? { task_id: crypto.randomUUID() } : {}),
        ...(rng.chance(0.2) ? { priority: rng.pick(["low", "high", "urgent"] as const) } : {}),
      };
      await sendMessage(t, m, { urgent: rng.chance(0.2) });
    }
    // A round in flight: some of b's messages moved to its processing list, as a round takes them.
    for (let i = 0; i < 5; i++) {
      await t.redis.lmove(
        t.keys.inbox(agents[1].id),
        t.keys.processing(agents[1].id),
        "LEFT",
        "RIGHT",
      );
    }
    const ids = agents.map((a) => a.id);
    for (const limit of [200, 30, 1]) {
      const got = await mailboxCounts(t, ids, limit);
      assert.deepEqual(got, await inboxView(t, ids, limit), `limit ${limit}`);
    }
    const all = await mailboxCounts(t, ids, 200);
    const total = [...all.values()].reduce((n, v) => n + v.processing + v.urgent + v.inbox, 0);
    assert.equal(total, 400);
    const counted = [...all.values()].reduce(
      (n, v) => n + Object.values(v.categories).reduce((a, b) => a + b, 0),
      0,
    );
    assert.equal(counted, 400, "every message is in a category");
    assert.ok([...all.values()].every((v) => v.categories.query > 0 && v.categories.info > 0));
    assert.deepEqual(await mailboxCounts(t, [], 200), new Map());
  });
});

Deno.test("mailboxCounts attack: junk in a mailbox is counted as tt inbox counts it, or not at all", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "a", cli: "true" });
    const valid = JSON.stringify({
      id: "m1",
      from: "x",
      to: a.id,
      type: "query",
      body: "q",
      priority: "normal",
      created_at: new Date().toISOString(),
    });
    const junk = [
      "not json",
      "",
      '"type":"task"', // no object: the type text alone
      '{"type": "task"}', // not tt's spacing: left to the full parse, which refuses it
      '{"type":"task\\u005fassign"}', // an escaped type: left to the full parse
      '{"type":"custom","body":"thanks"}', // custom but invalid: unreadable
      '{"type":"nonsense","id":"1"}',
      valid.replace('"type":"query"', '"type":"custom","kind":"question"'), // custom, valid
      valid,
      // Two type keys: the parse keeps the last, so the first is not taken for it.
      valid.replace('"type":"query"', '"type":"task","type":"query"'),
      // Valid, with its text first: the text's own "type":"ping" is escaped, so not taken for it.
      JSON.stringify(
        Object.assign({ body: "" }, JSON.parse(valid), { id: "m2", body: 'x "type":"ping"' }),
      ),
    ];
    await t.redis.rpush(t.keys.inbox(a.id), ...junk);
    const got = (await mailboxCounts(t, [a.id], 200)).get(a.id)!;
    assert.deepEqual(got, (await inboxView(t, [a.id], 200)).get(a.id));
    assert.deepEqual(got.categories, { task: 0, query: 4, info: 0, confirmation: 0 });
    assert.equal(got.inbox, junk.length);
    // The documented difference: an entry with tt's own type text but nothing else of a message
    // is counted by its type here; the inbox calls it unreadable.
    await t.redis.rpush(t.keys.inbox(a.id), '{"type":"task"}');
    const after = (await mailboxCounts(t, [a.id], 200)).get(a.id)!;
    assert.equal(after.categories.task, 1);
    assert.equal((await inboxView(t, [a.id], 200)).get(a.id)!.categories.task, 0);
  });
});
