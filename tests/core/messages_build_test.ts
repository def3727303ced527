// buildMessage builds its Message typed instead of parsing it with the Message schema: each
// rule that parse enforced on the caller's input is checked here, and the JSON it stores must be
// what the schema reads back.
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { buildMessage, type NewMessage, sendMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { MAX_MESSAGE_BYTES, Message } from "../../src/core/schemas.ts";
import { UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

/** The stored JSON of a plain message: the schema's field order, nothing else. */
const STORED_FIELDS = ["id", "from", "to", "type", "body", "priority", "created_at"];

/** Input a JavaScript caller (library, plugin) may pass whatever the types say. */
// deno-lint-ignore no-explicit-any
const loose = (x: Record<string, unknown>) => x as any as NewMessage;

const base = { from: SUPERVISOR_ID, to: "b", type: "task" } as const;

Deno.test("buildMessage: what it returns is what the schema reads from its JSON, fields in order", () => {
  const inputs: NewMessage[] = [
    base,
    { ...base, type: "task_assign", task_id: "t1", body: "do it" },
    { ...base, type: "confirmation", kind: "thanks", priority: "high", correlation_id: "c" },
  ];
  const order = Object.keys(Message.shape);
  for (const input of inputs) {
    const m = buildMessage(input);
    const json = JSON.stringify(m);
    assert.deepEqual(m, Message.parse(JSON.parse(json)));
    const keys = Object.keys(JSON.parse(json));
    assert.deepEqual(keys, order.filter((k) => keys.includes(k)), json);
  }
});

Deno.test("buildMessage: body defaults to empty and priority to normal; absent fields are left out", () => {
  const m = buildMessage(base);
  assert.equal(m.body, "");
  assert.equal(m.priority, "normal");
  assert.match(m.id, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(m.created_at)));
  for (const k of ["task_id", "kind", "correlation_id"]) assert.ok(!(k in m), k);
  assert.ok(!("task_id" in buildMessage({ ...base, task_id: undefined })));
});

Deno.test("buildMessage refuses an unknown type or priority", () => {
  assert.throws(() => buildMessage(loose({ ...base, type: "bogus" })), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /unknown message type 'bogus': use one of task, query/);
    return true;
  });
  for (const priority of ["critical", "", "URGENT"]) {
    assert.throws(() => buildMessage(loose({ ...base, priority })), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /unknown message priority .*: use one of low, normal, high, urgent/);
      return true;
    });
  }
  for (const priority of ["low", "normal", "high", "urgent"] as const) {
    assert.equal(buildMessage({ ...base, priority }).priority, priority);
  }
});

Deno.test("buildMessage refuses fields that are not text", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ from: 1 }, /message from must be text, not number/],
    [{ to: undefined }, /message to must be text, not undefined/],
    [{ body: 5 }, /message body must be text/],
    [{ task_id: 7 }, /message task_id must be text/],
    [{ kind: ["x"] }, /message kind must be text/],
    [{ correlation_id: null }, /message correlation_id must be text/],
  ];
  for (const [change, msg] of bad) {
    assert.throws(() => buildMessage(loose({ ...base, ...change })), (e: Error) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(change)}: ${e}`);
      assert.match(e.message, msg);
      return true;
    });
  }
});

Deno.test("sendMessage stores only the schema's fields and refuses bad input unwritten", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "claude" });
    const before = await snapshotTown(t);
    await assert.rejects(sendMessage(t, loose({ ...base, to: a.id, type: "nope" })), UsageError);
    await assert.rejects(
      sendMessage(t, loose({ ...base, to: a.id, priority: "asap" })),
      UsageError,
    );
    assert.deepEqual(await snapshotTown(t), before);
    await sendMessage(t, loose({ ...base, to: a.id, body: "hi", extra: "x", __proto_x: 1 }));
    const [raw] = await t.redis.lrange(t.keys.inbox(a.id), 0, -1);
    assert.deepEqual(Object.keys(JSON.parse(raw)), STORED_FIELDS);
  });
});

Deno.test("the size check counts UTF-8 bytes of multi-byte text (3- and 4-byte characters)", () => {
  const over3 = "日".repeat(Math.floor(MAX_MESSAGE_BYTES / 3) + 1); // 65,538 bytes
  assert.throws(() => buildMessage({ ...base, body: over3 }), /65538 bytes; the limit is 65536/);
  const over4 = "🚀".repeat(MAX_MESSAGE_BYTES / 4 + 1); // 65,540 bytes in 32,770 code units
  assert.throws(() => buildMessage({ ...base, body: over4 }), /65540 bytes/);
  const under3 = "日".repeat(Math.floor(MAX_MESSAGE_BYTES / 3)); // 65,535 bytes
  assert.equal(buildMessage({ ...base, body: under3 }).body, under3);
  assert.equal(
    buildMessage({ ...base, body: "🚀".repeat(MAX_MESSAGE_BYTES / 4) }).body.length,
    32768,
  );
});

Deno.test("a message built from parsed JSON carries no smuggled fields (__proto__, extra keys)", () => {
  // What a REST body or a plugin could hand over: an own "__proto__" key and extras.
  const input = JSON.parse(
    `{"from":"a","to":"b","type":"task","body":"x","__proto__":{"priority":"urgent"},` +
      `"id":"forged","created_at":"1970-01-01T00:00:00Z","admin":true}`,
  );
  const m = buildMessage(input);
  assert.equal(m.priority, "normal");
  assert.notEqual(m.id, "forged");
  assert.notEqual(m.created_at, "1970-01-01T00:00:00Z");
  const stored = JSON.parse(JSON.stringify(m));
  assert.deepEqual(Object.keys(stored), STORED_FIELDS);
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
});
