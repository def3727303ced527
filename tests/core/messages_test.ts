import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import {
  countCategories,
  peekInbox,
  peekInboxes,
  resolveSender,
  sendMessage,
  textMessage,
} from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { MAX_MESSAGE_BYTES } from "../../src/core/schemas.ts";
import { NotFoundError, UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("textMessage: kinds map to types, and --ack keeps its text in the body", () => {
  assert.deepEqual(textMessage("a", "b", "do it", "task"), {
    from: "a",
    to: "b",
    type: "task",
    body: "do it",
  });
  assert.equal(textMessage("a", "b", "why?", "query").type, "query");
  assert.equal(textMessage("a", "b", "fyi", "info").type, "informational");
  const ack = textMessage("a", "b", "Rejected: tests fail on CI", "ack");
  assert.equal(ack.type, "confirmation");
  assert.equal(ack.kind, "rejected");
  assert.equal(ack.body, "Rejected: tests fail on CI");
  assert.equal(textMessage("a", "b", "thank you!", "ack").kind, "thanks");
  for (const empty of ["", "  \n\t"]) {
    assert.throws(() => textMessage("a", "b", empty, "task"), UsageError);
  }
});

Deno.test("resolveSender: explicit ref, then agent id, then agent name, then supervisor", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    const b = await createAgent(t, { name: "beta", cli: "claude" });
    assert.equal((await resolveSender(t, "beta", { agentId: a.id })).id, b.id);
    assert.equal((await resolveSender(t, "conductor")).id, SUPERVISOR_ID);
    assert.equal(
      (await resolveSender(t, undefined, { agentId: a.id, agentName: "beta" })).id,
      a.id,
    );
    assert.equal((await resolveSender(t, undefined, { agentName: "BETA" })).id, b.id);
    // A stale identity in the environment falls through; a wrong explicit one is an error.
    const gone = crypto.randomUUID();
    assert.equal(
      (await resolveSender(t, undefined, { agentId: gone, agentName: "nobody" })).id,
      SUPERVISOR_ID,
    );
    assert.equal((await resolveSender(t, undefined, {})).id, SUPERVISOR_ID);
    await assert.rejects(resolveSender(t, "nobody"), NotFoundError);
    await assert.rejects(resolveSender(t, gone), NotFoundError);
  });
});

Deno.test("urgent messages are FIFO in their own list; inbox order is kept", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "claude" });
    for (const body of ["u1", "u2", "u3"]) {
      await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, body, "task"), { urgent: true });
    }
    for (const body of ["n1", "n2"]) {
      await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, body, "info"));
    }
    const v = await peekInbox(t, a.id);
    assert.deepEqual(v.urgent.map((m) => m.body), ["u1", "u2", "u3"]);
    assert.deepEqual(v.inbox.map((m) => m.body), ["n1", "n2"]);
    assert.deepEqual(v.counts, { processing: 0, urgent: 3, inbox: 2 });
  });
});

Deno.test("a message over MAX_MESSAGE_BYTES is refused and changes nothing; the limit itself passes", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "claude" });
    const before = await snapshotTown(t);
    const tooBig = "é".repeat(MAX_MESSAGE_BYTES / 2) + "x";
    await assert.rejects(
      sendMessage(t, textMessage(SUPERVISOR_ID, a.id, tooBig, "task")),
      /65537 bytes; the limit is 65536/,
    );
    assert.deepEqual(await snapshotTown(t), before);
    const exact = "é".repeat(MAX_MESSAGE_BYTES / 2);
    await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, exact, "task"));
    assert.equal((await peekInbox(t, a.id)).inbox[0].body, exact);
  });
});

Deno.test("peekInboxes reads many mailboxes in one pipeline and agrees with peekInbox", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "a", cli: "claude" });
    const b = await createAgent(t, { name: "b", cli: "claude" });
    await sendMessage(t, textMessage(b.id, a.id, "q?", "query"), { urgent: true });
    await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "ok", "ack"));
    const taken = (await peekInbox(t, a.id)).urgent[0];
    await t.redis.rpush(t.keys.processing(a.id), "not json", JSON.stringify(taken));
    const views = await peekInboxes(t, [a.id, b.id, SUPERVISOR_ID]);
    for (const id of [a.id, b.id, SUPERVISOR_ID]) {
      assert.deepEqual(views.get(id), await peekInbox(t, id), id);
    }
    const va = views.get(a.id)!;
    assert.equal(va.unreadable, 1);
    assert.deepEqual(va.counts, { processing: 2, urgent: 1, inbox: 0 });
    assert.deepEqual(countCategories([...va.processing, ...va.urgent]), {
      task: 0,
      query: 2,
      info: 0,
      confirmation: 0,
    });
    assert.equal(views.get(SUPERVISOR_ID)!.inbox[0].kind, "acknowledged");
  });
});
