/**
 * Whatever is in Redis, reading it never throws: message, task, agent and event JSON read back
 * from Redis, including garbage written into the town's lists, hashes and stream by hand. Junk is
 * skipped (or counted/shown as unreadable); everything well-formed next to it is still seen.
 */
import assert from "node:assert/strict";
import { createAgent, listAgents, parseAgent } from "../../src/core/agents.ts";
import { parseMessage, peekInbox, sendMessage } from "../../src/core/messages.ts";
import { addToBacklog, listBacklog } from "../../src/core/backlog.ts";
import { assignTask, getTask, listTasks, parseTask } from "../../src/core/tasks.ts";
import { parseEntry, recentEvents } from "../../src/core/events.ts";
import { townStatus } from "../../src/core/status.ts";
import { thisHost } from "../../src/core/control.ts";
import { SUPERVISOR_ID, townKeys } from "../../src/core/keys.ts";
import {
  Agent,
  Message,
  MESSAGE_KINDS,
  Task,
  TASK_STATES,
  TownEvent,
} from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { uniqueName, withTestTown } from "../helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

// ---- junk ----

const AGENT_FIELDS = Object.keys(Agent.shape);
const TASK_FIELDS = Object.keys(Task.shape);
const MESSAGE_FIELDS = Object.keys(Message.shape);
const EVENT_FIELDS = Object.keys(TownEvent.shape);

/** Strings that look like what a field might hold, and strings that look like nothing. */
const fieldValue = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "0",
    "-1",
    "1e400",
    "NaN",
    "null",
    "[]",
    "{}",
    '["a",1]',
    "idle",
    "pending",
    "completed",
    "2026-11-23T10:00:00.000Z",
    "not a date",
    SUPERVISOR_ID,
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.uuid(),
);

const jsonish = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fieldValue);
const fieldsOf = (names: string[]) =>
  fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 6 })), fieldValue, {
    maxKeys: 10,
  });

/** A list entry: free text, any JSON, or a message with fields missing or of the wrong type. */
const junkEntry = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.json({ maxDepth: 2 }),
  fc.record({
    id: fc.oneof(fc.uuid(), jsonish),
    from: fc.oneof(fc.constant(SUPERVISOR_ID), jsonish),
    to: jsonish,
    type: fc.oneof(fc.constantFrom(...MESSAGE_KINDS), jsonish),
    body: jsonish,
    priority: fc.oneof(fc.constantFrom("low", "normal", "high", "urgent"), jsonish),
    created_at: jsonish,
    kind: jsonish,
    task_id: jsonish,
  }, { requiredKeys: [] }).map((m) => JSON.stringify(m)),
  fc.dictionary(fc.constantFrom(...MESSAGE_FIELDS), jsonish).map((m) => JSON.stringify(m)),
);

type Junk =
  | { op: "list"; list: "inbox" | "urgent" | "processing" | "notes"; who: number; raw: string }
  | { op: "agentField"; who: number; fields: Record<string, string> }
  | { op: "junkAgent"; id: string; fields: Record<string, string> }
  | { op: "taskField"; which: number; fields: Record<string, string> }
  | { op: "junkTask"; id: string; score: number; fields: Record<string, string> }
  | { op: "backlog"; id: string }
  | { op: "event"; ms: bigint | null; fields: string[] }
  | { op: "supervisor"; raw: string };

const junkOp: fc.Arbitrary<Junk> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("list" as const),
      list: fc.constantFrom("inbox" as const, "urgent" as const, "processing" as const, "notes"),
      who: fc.nat(),
      raw: junkEntry,
    }),
  },
  fc.record({
    op: fc.constant("agentField" as const),
    who: fc.nat(),
    fields: fieldsOf(AGENT_FIELDS),
  }),
  fc.record({
    op: fc.constant("junkAgent" as const),
    id: fc.oneof(fc.uuid(), fc.string({ maxLength: 8 })),
    fields: fieldsOf(AGENT_FIELDS),
  }),
  fc.record({
    op: fc.constant("taskField" as const),
    which: fc.nat(),
    fields: fieldsOf(TASK_FIELDS),
  }),
  fc.record({
    op: fc.constant("junkTask" as const),
    id: fc.oneof(fc.uuid(), fc.string({ maxLength: 8 })),
    score: fc.oneof(fc.integer(), fc.double({ noNaN: true })),
    fields: fieldsOf(TASK_FIELDS),
  }),
  fc.record({ op: fc.constant("backlog" as const), id: fc.oneof(fc.uuid(), fc.string()) }),
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("event" as const),
      // An explicit stream id (any millisecond Redis accepts), or "*".
      ms: fc.option(fc.bigInt({ min: 1n, max: 2n ** 64n - 1n })),
      fields: fc.oneof(
        fc.tuple(fc.constant("e"), junkEntry),
        fc.tuple(fc.constant("e"), fieldsOf(EVENT_FIELDS).map((f) => JSON.stringify(f))),
        fc.array(fc.oneof(fc.constant("e"), fc.string({ maxLength: 6 })), {
          minLength: 1,
          maxLength: 3,
        }).map((a) => a.length % 2 ? [...a, "x"] : a),
      ),
    }),
  },
  fc.record({ op: fc.constant("supervisor" as const), raw: junkEntry }),
);

/** The legitimate part of a town: agents, messages, tasks. */
const townSpec = fc.record({
  agents: fc.integer({ min: 0, max: 2 }),
  messages: fc.array(fc.record({ to: fc.nat(), urgent: fc.boolean(), body: fc.string() }), {
    maxLength: 4,
  }),
  tasks: fc.array(fc.record({ to: fc.option(fc.nat()), body: fc.string().map((s) => `t ${s}`) }), {
    maxLength: 3,
  }),
  junk: fc.array(junkOp, { minLength: 1, maxLength: 10 }),
});
type TownSpec = typeof townSpec extends fc.Arbitrary<infer T> ? T : never;

/** Builds a fresh town from the spec on the test Redis: legit state first, then the junk. */
async function build(base: TownContext, spec: TownSpec) {
  const name = uniqueName("junk");
  const t: TownContext = { ...base, name, keys: townKeys(name) };
  const agents = [];
  for (let i = 0; i < spec.agents; i++) {
    agents.push(await createAgent(t, { name: `a${i}`, cli: "x" }));
  }
  const mailboxes = [...agents.map((a) => a.id), SUPERVISOR_ID];
  const sent: Message[] = [];
  for (const m of spec.messages) {
    const to = mailboxes[m.to % mailboxes.length];
    sent.push(
      await sendMessage(t, { from: SUPERVISOR_ID, to, type: "task", body: m.body }, {
        urgent: m.urgent,
      }),
    );
  }
  const tasks: string[] = [];
  for (const x of spec.tasks) {
    const task = x.to === null || !agents.length
      ? await addToBacklog(t, { description: x.body })
      : await assignTask(t, {
        kind: "agent",
        id: agents[x.to % agents.length].id,
        name: "a",
        label: "a",
        agent: agents[x.to % agents.length],
      }, { description: x.body });
    tasks.push(task.id);
  }
  // What junk touched, so the checks below only expect untouched legit things intact.
  const touchedAgents = new Set<string>();
  const touchedTasks = new Set<string>();
  for (const j of spec.junk) {
    switch (j.op) {
      case "list": {
        const who = mailboxes[j.who % mailboxes.length];
        const key = t.keys[j.list](who);
        await (j.who % 2 ? t.redis.lpush(key, j.raw) : t.redis.rpush(key, j.raw));
        break;
      }
      case "agentField":
        if (!agents.length || !Object.keys(j.fields).length) break;
        touchedAgents.add(agents[j.who % agents.length].id);
        await t.redis.hset(t.keys.agent(agents[j.who % agents.length].id), j.fields);
        break;
      case "junkAgent":
        await t.redis.sadd(t.keys.agents, j.id);
        if (Object.keys(j.fields).length) await t.redis.hset(t.keys.agent(j.id), j.fields);
        break;
      case "taskField":
        if (!tasks.length || !Object.keys(j.fields).length) break;
        touchedTasks.add(tasks[j.which % tasks.length]);
        await t.redis.hset(t.keys.task(tasks[j.which % tasks.length]), j.fields);
        break;
      case "junkTask":
        await t.redis.zadd(t.keys.tasks, j.score, j.id);
        if (Object.keys(j.fields).length) await t.redis.hset(t.keys.task(j.id), j.fields);
        break;
      case "backlog":
        await t.redis.rpush(t.keys.backlog, j.id);
        break;
      case "event":
        try {
          await t.redis.xadd(t.keys.events, j.ms === null ? "*" : `${j.ms}-1`, ...j.fields);
        } catch (e) {
          // An explicit id at or below the stream's last one is refused by Redis: not junk.
          if (!/equal or smaller/.test(String(e))) throw e;
        }
        break;
      case "supervisor":
        await t.redis.set(t.keys.supervisor(thisHost()), j.raw);
        break;
    }
  }
  return { t, agents, mailboxes, sent, tasks, touchedAgents, touchedTasks };
}

/** Reads the town every way the CLI does and checks that junk never breaks a reader. */
async function readEverything(built: Awaited<ReturnType<typeof build>>) {
  const { t, agents, mailboxes, sent, tasks, touchedAgents, touchedTasks } = built;
  // Mailboxes: entries are messages or counted unreadable, and every sent message is seen.
  for (const id of mailboxes) {
    const v = await peekInbox(t, id);
    const total = v.counts.processing + v.counts.urgent + v.counts.inbox;
    const seen = [...v.processing, ...v.urgent, ...v.inbox];
    assert.equal(seen.length + v.unreadable, total, "every entry is a message or unreadable");
    for (const m of seen) assert.ok(Message.safeParse(m).success);
    const seenIds = new Set(seen.map((m) => m.id));
    for (const m of sent.filter((m) => m.to === id)) {
      assert.ok(seenIds.has(m.id), `sent message ${m.id} is not shown`);
    }
  }
  const listed = await listAgents(t);
  for (const a of agents.filter((a) => !touchedAgents.has(a.id))) {
    assert.ok(listed.some((x) => x.id === a.id), `agent ${a.name} is not listed`);
  }
  const all = await listTasks(t);
  for (const id of tasks.filter((id) => !touchedTasks.has(id))) {
    assert.ok(all.some((x) => x.id === id), `task ${id} is not listed`);
    assert.equal((await getTask(t, id))?.id, id);
  }
  for (const id of await t.redis.zrange(t.keys.tasks, "0", "-1")) await getTask(t, id);
  await listTasks(t, { state: "pending" });
  await listBacklog(t);
  const events = await recentEvents(t, { count: 30 });
  assert.ok(events.length <= 30);
  for (const ev of events) assert.ok(TownEvent.safeParse(ev).success);
  for (const deep of [false, true]) {
    const s = await townStatus(t, { deep, tasks: true });
    const sum = Object.values(s.tasks.by_state).reduce((a, b) => a + b, 0);
    assert.equal(sum, s.tasks.total);
    for (const a of agents.filter((a) => !touchedAgents.has(a.id))) {
      assert.ok(s.agents.some((x) => x.id === a.id), `status misses agent ${a.name}`);
    }
    assert.ok(s.tasks.total >= tasks.filter((id) => !touchedTasks.has(id)).length);
    const c = (await peekInbox(t, SUPERVISOR_ID)).counts;
    assert.deepEqual([s.conductor.processing, s.conductor.urgent, s.conductor.inbox], [
      c.processing,
      c.urgent,
      c.inbox,
    ]);
  }
}

// ---- pure parsers ----

Deno.test("parseMessage, parseTask, parseAgent: any input gives a valid value or undefined", async () => {
  await assertProperty("parseMessage(any text)", 2000, [junkEntry], (raw) => {
    const m = parseMessage(raw);
    if (m !== undefined) assert.ok(Message.safeParse(m).success);
  });
  const validMessage = fc.record({
    id: fc.uuid(),
    from: fc.string(),
    to: fc.string(),
    type: fc.constantFrom(...MESSAGE_KINDS),
    body: fc.string(),
    priority: fc.constantFrom(
      "low" as const,
      "normal" as const,
      "high" as const,
      "urgent" as const,
    ),
    created_at: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  });
  await assertProperty("parseMessage(valid message JSON)", 1000, [validMessage], (m) => {
    assert.deepEqual(parseMessage(JSON.stringify(m)), JSON.parse(JSON.stringify(m)));
  });
  await assertProperty("parseTask(any hash)", 2000, [fieldsOf(TASK_FIELDS)], (h) => {
    const x = parseTask(h);
    if (x !== undefined) assert.ok(Task.safeParse(x).success);
  });
  await assertProperty("parseAgent(any hash)", 2000, [fieldsOf(AGENT_FIELDS)], (h) => {
    const a = parseAgent(h);
    if (a !== undefined) assert.ok(Agent.safeParse(a).success);
  });
});

Deno.test("parseEntry: any stream entry Redis can hold gives an event", async () => {
  // Stream ids are <ms>-<seq> with ms up to 2^64-1 (XADD accepts any explicit id above the last).
  const entryId = fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat()).map((
    [ms, seq],
  ) => `${ms}-${seq}`);
  const fields = fc.oneof(
    fc.tuple(fc.constant("e"), junkEntry),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }),
  );
  await assertProperty("parseEntry(any entry)", 3000, [entryId, fields], (id, f) => {
    const ev = parseEntry([id, f]);
    assert.ok(TownEvent.safeParse(ev).success);
    assert.equal(ev.id, id);
  });
});

// ---- the same against Redis ----

Deno.test("junk in a town's lists, hashes, indexes and stream never breaks a reader", async () => {
  await withTestTown(async (base) => {
    await assertProperty("towns with junk in Redis", 300, [townSpec], async (spec) => {
      await readEverything(await build(base, spec));
    });
  });
});

Deno.test("the junk property can fail: a sent message hidden by hand is noticed", async () => {
  await withTestTown(async (base) => {
    await assertCatches("a lost message", /is not shown/, 50, [townSpec], async (spec) => {
      const built = await build(base, { ...spec, messages: [{ to: 0, urgent: false, body: "x" }] });
      // Stand-in for a reader that drops a well-formed message: remove it behind its back.
      const m = built.sent[0];
      await built.t.redis.lrem(built.t.keys.inbox(m.to), 0, JSON.stringify(m));
      await readEverything(built);
    });
  });
});

Deno.test("task states read back are always known states", () => {
  // TaskState.catch keeps junk states from reaching by_state as new keys.
  for (const s of ["", "done", "RUNNING", "null"]) {
    assert.ok(
      TASK_STATES.includes(
        parseTask({ id: "x", description: "", state: s, created_at: "", updated_at: "" })!.state,
      ),
    );
  }
});
