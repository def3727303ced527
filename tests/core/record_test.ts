/**
 * record.ts claims zod's semantics for the fields it has, without zod: each field kind is checked
 * against the zod schema it stands for, on values like those Redis hashes and JSON hold and on
 * anything at all, and whole records against z.object (which keys come out, in which order).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  arrayOf,
  before,
  boolean,
  coerced,
  FAIL,
  type Field,
  nonEmpty,
  number,
  oneOf,
  optional,
  orElse,
  pattern,
  record,
  string,
  withDefault,
} from "../../src/core/record.ts";
import { Agent, Message, Task, TownEvent } from "../../src/core/schemas.ts";
import { OwnerRecord, UUID } from "../../src/core/identity.ts";
import { assertCatches, assertProperty, fc } from "../property/prop.ts";

/** Values a field might meet: hash strings that look like numbers or not, and JSON values. */
const value = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "0",
    " 7 ",
    "-1",
    "1.5",
    "1e400",
    "9007199254740993",
    "0x10",
    "NaN",
    "Infinity",
    "null",
    "1",
    "true",
    "[]",
    '["a","b"]',
    '["a",1]',
    "idle",
    "error",
    "00000000-0000-0000-0000-000000000000",
    "4f5539c5-d117-4b5a-936d-224e38f1c4f8",
    "4f5539c5-d117-0b5a-936d-224e38f1c4f8",
  ),
  fc.string({ maxLength: 8 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.integer()), { maxLength: 3 }),
  fc.anything({ maxDepth: 1 }),
);

/** The same field as zod reads it: { ok, value } either way. */
function both(f: Field<unknown>, schema: z.ZodType, v: unknown) {
  const mine = f.read(v);
  const theirs = schema.safeParse(v);
  return {
    mine: mine === FAIL ? { ok: false } : { ok: true, value: mine },
    theirs: theirs.success ? { ok: true, value: theirs.data } : { ok: false },
  };
}

const STATES = ["idle", "working", "error"] as const;
const tags = (v: unknown) => {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return [];
  }
};

/** Each field kind of record.ts with the zod schema it claims to be. */
const KINDS: [string, Field<unknown>, z.ZodType][] = [
  ["string", string(), z.string()],
  ["nonEmpty", nonEmpty(), z.string().min(1)],
  ["boolean", boolean(), z.boolean()],
  ["number", number(), z.number()],
  ["integer", number({ int: true }), z.number().int()],
  ["enum", oneOf(STATES), z.enum(STATES)],
  ["uuid", pattern(UUID), z.uuid()],
  ["array", arrayOf(string()), z.array(z.string())],
  ["coerced", coerced(), z.coerce.number()],
  ["counter", coerced({ int: true, min: 0 }), z.coerce.number().int().nonnegative()],
  ["positive", coerced({ int: true, min: 1 }), z.coerce.number().int().positive()],
  ["usd", coerced({ min: 0 }), z.coerce.number().nonnegative()],
  ["optional", optional(string()), z.string().optional()],
  ["default", withDefault(string(), ""), z.string().default("")],
  ["enum default", withDefault(oneOf(STATES), "idle"), z.enum(STATES).default("idle")],
  ["catch", orElse(oneOf(STATES), "error"), z.enum(STATES).catch("error")],
  [
    "optional text",
    orElse(optional(nonEmpty()), undefined),
    z.string().min(1).optional().catch(undefined),
  ],
  [
    "optional positive",
    orElse(optional(coerced({ int: true, min: 1 })), undefined),
    z.coerce.number().int().positive().optional().catch(undefined),
  ],
  [
    "tags",
    before(tags, orElse(arrayOf(string()), [] as string[])),
    z.preprocess(tags, z.array(z.string()).catch([])),
  ],
];

Deno.test("record.ts: every field kind reads what its zod schema reads, and fails where it fails", async () => {
  for (const [name, f, schema] of KINDS) {
    await assertProperty(`${name} agrees with zod`, 400, [value], (v) => {
      const { mine, theirs } = both(f, schema, v);
      assert.deepEqual(mine, theirs, `${name} differs from zod`);
    });
  }
});

Deno.test("record.ts: the same check catches a field kind that reads differently", async () => {
  // A counter that forgot its integer check, against zod's counter.
  const broken = coerced({ min: 0 });
  const zodCounter = z.coerce.number().int().nonnegative();
  await assertCatches("a counter without .int()", /differs from zod/, 400, [value], (v) => {
    const { mine, theirs } = both(broken, zodCounter, v);
    assert.deepEqual(mine, theirs, "counter differs from zod");
  });
});

const shapeValue = fc.dictionary(
  fc.constantFrom("a", "b", "c", "d", "e", "zz", "__proto__"),
  value,
  { maxKeys: 6 },
);

Deno.test("record(): the keys of z.object's output (shape order, unknown dropped, undefined kept only when given)", async () => {
  const mine = record({
    a: optional(string()),
    b: orElse(optional(nonEmpty()), undefined),
    c: orElse(coerced({ int: true, min: 0 }), 0),
    d: withDefault(string(), ""),
    e: orElse(oneOf(STATES), "error"),
  });
  const theirs = z.object({
    a: z.string().optional(),
    b: z.string().min(1).optional().catch(undefined),
    c: z.coerce.number().int().nonnegative().catch(0),
    d: z.string().default(""),
    e: z.enum(STATES).catch("error"),
  });
  await assertProperty("records agree with z.object", 400, [shapeValue], (v) => {
    const a = mine.safeParse(v);
    const b = theirs.safeParse(v);
    assert.equal(a.success, b.success, JSON.stringify(v));
    if (a.success && b.success) {
      assert.deepEqual(Object.keys(a.data), Object.keys(b.data));
      assert.deepEqual(a.data, b.data);
    }
  });
  for (const v of [null, "x", 3, [], undefined]) {
    assert.equal(mine.safeParse(v).success, false, `not an object: ${String(v)}`);
  }
});

Deno.test("record(): parse throws naming the record and the field; safeParse does not throw", () => {
  assert.throws(() => Task.parse({ id: "t1" }), /invalid task record: description/);
  const r = Agent.safeParse({ id: "a" });
  assert.equal(r.success, false);
  assert.throws(
    () => OwnerRecord.parse({ id: "nope", path: "/", host: "h", created_at: "" }),
    /id/,
  );
  assert.equal(Message.safeParse("{}").success, false);
});

Deno.test("the core records read a stored hash as before: coerced counters, fallbacks, defaults", () => {
  const agent = Agent.parse({
    id: "a1",
    name: "backend",
    nickname: "Jack",
    cli: "claude",
    state: "bogus",
    created_at: "t",
    last_heartbeat: "t",
    last_active_at: "t",
    tasks_completed: "3",
    max_rounds: "0",
    round_pgid: "-5",
    role: "",
    sandboxed: "1",
    cost_usd: "0.25",
    extra: "dropped",
  });
  assert.equal(agent.state, "error");
  assert.equal(agent.tasks_completed, 3);
  assert.equal(agent.rounds_completed, 0);
  assert.equal(agent.max_rounds, 10);
  assert.equal(agent.round_pgid, undefined);
  assert.equal(agent.role, undefined);
  assert.equal(agent.sandboxed, true);
  assert.equal(agent.cost_usd, 0.25);
  assert.equal("extra" in agent, false);
  const task = Task.parse({
    id: "t",
    description: "d",
    state: "running",
    created_at: "t",
    updated_at: "t",
    tags: "not json",
  });
  assert.deepEqual(task.tags, []);
  assert.equal(task.attempts, 0);
  const msg = Message.parse({ id: "m", from: "a", to: "b", type: "task", created_at: "t" });
  assert.equal(msg.body, "");
  assert.equal(msg.priority, "normal");
  assert.equal(Message.safeParse({ ...msg, priority: "meh" }).success, false);
  const ev = { type: "x", ts: "t", message: "m" };
  assert.equal(TownEvent.parse(ev).id, "");
  assert.equal(TownEvent.safeParse({ ...ev, usage: { model: "m" } }).success, false);
  assert.equal(TownEvent.safeParse({ ...ev, status: 1.5 }).success, false);
});
