/**
 * The round hand-off never loses or duplicates a message. Random sequences of send (urgent, high
 * or normal priority), take, and end (ok with a random subset requeued | failed | parked |
 * cutoff) run against Redis and against a small model of the lists; after every step the
 * agent's urgent list, inbox, processing list and notes must equal the model's, in order, and
 * every id ever sent must be in exactly one of them or acknowledged (or trimmed from the
 * bounded notes). Sends racing a take (two connections) must match one of the two orders.
 */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { duplicateConnection } from "../../src/redis/connection.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { endRound, MAX_ROUND_MESSAGES, takeRound } from "../../src/core/rounds.ts";
import { SUPERVISOR_ID, townKeys } from "../../src/core/keys.ts";
import type { Priority } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { report, uniqueName, withTestTown } from "../helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

/** Notes kept after a parked round (LTRIM -50 -1 in rounds.ts). */
const NOTES_KEPT = 50;

interface Lists {
  urgent: string[];
  inbox: string[];
  processing: string[];
  notes: string[];
}

class Model implements Lists {
  urgent: string[] = [];
  inbox: string[] = [];
  processing: string[] = [];
  notes: string[] = [];
  acked: string[] = [];
  trimmed: string[] = [];
  sent: string[] = [];
  /** Takes that left messages behind because the round was full. */
  fullTakes = 0;

  clone(): Model {
    const m = new Model();
    for (
      const k of ["urgent", "inbox", "processing", "notes", "acked", "trimmed", "sent"] as const
    ) {
      m[k] = [...this[k]];
    }
    m.fullTakes = this.fullTakes;
    return m;
  }

  send(id: string, urgent: boolean, priority: Priority) {
    this.sent.push(id);
    if (urgent || priority === "urgent") this.urgent.push(id);
    else if (priority === "high") this.inbox.unshift(id);
    else this.inbox.push(id);
  }

  take() {
    for (const src of [this.urgent, this.inbox]) {
      while (this.processing.length < MAX_ROUND_MESSAGES && src.length) {
        this.processing.push(src.shift()!);
      }
    }
    if (this.processing.length === MAX_ROUND_MESSAGES && this.urgent.length + this.inbox.length) {
      this.fullTakes++;
    }
  }

  end(kind: "ok" | "failed" | "parked" | "cutoff", requeue: Set<string>): number {
    const all = kind === "failed" || kind === "cutoff";
    const back = this.processing.filter((id) => all || (kind === "ok" && requeue.has(id)));
    if (kind === "ok") {
      this.acked.push(...this.processing.filter((id) => !requeue.has(id)), ...this.notes);
      this.notes = [];
    }
    if (kind === "parked") {
      this.notes.push(...this.processing);
      const over = this.notes.length - NOTES_KEPT;
      if (over > 0) this.trimmed.push(...this.notes.splice(0, over));
    }
    this.inbox.unshift(...back);
    this.processing = [];
    return back.length;
  }

  lists(): Lists {
    return {
      urgent: this.urgent,
      inbox: this.inbox,
      processing: this.processing,
      notes: this.notes,
    };
  }
}

type Op =
  | { op: "send"; n: number; urgent: boolean; priority: Priority }
  | { op: "take" }
  | { op: "end"; kind: "ok"; requeue: number[]; strays: number }
  | { op: "end"; kind: "failed" | "parked" | "cutoff" }
  | { op: "race"; urgent: boolean; priority: Priority };

const priority = fc.constantFrom<Priority>("low", "normal", "normal", "high", "urgent");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("send" as const),
      // Now and then a burst, so the 50-message round limit and the notes bound are reached.
      n: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, fc.integer({ min: 2, max: 40 })),
      urgent: fc.boolean(),
      priority,
    }),
  },
  { weight: 3, arbitrary: fc.constant({ op: "take" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("end" as const),
      kind: fc.constant("ok" as const),
      requeue: fc.array(fc.nat(), { maxLength: 6 }),
      strays: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("end" as const),
      kind: fc.constantFrom("failed" as const, "parked" as const, "cutoff" as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("race" as const), urgent: fc.boolean(), priority }),
  },
);

type Ctx = Pick<TownContext, "redis" | "keys">;

interface Subject {
  take(t: Ctx, agent: string): Promise<string[]>;
  end(t: Ctx, agent: string, kind: string, requeue: string[]): Promise<number>;
}

const real: Subject = {
  async take(t, agent) {
    return (await takeRound(t, agent)).messages.map((m) => m.id);
  },
  async end(t, agent, kind, requeue) {
    const outcome = kind === "ok"
      ? { kind: "ok" as const, requeue }
      : kind === "parked"
      ? { kind: "parked" as const }
      : { kind: kind as "failed" | "cutoff", reason: "test" };
    return await endRound(t, agent, outcome, `round ${kind}`);
  },
};

async function redisLists(t: Ctx, agent: string): Promise<Lists> {
  const res = (await t.redis.pipeline()
    .lrange(t.keys.urgent(agent), 0, -1)
    .lrange(t.keys.inbox(agent), 0, -1)
    .lrange(t.keys.processing(agent), 0, -1)
    .lrange(t.keys.notes(agent), 0, -1)
    .exec())!.map(([err, v]) => {
      if (err) throw err;
      return (v as string[]).map((raw) => JSON.parse(raw).id as string);
    });
  return { urgent: res[0], inbox: res[1], processing: res[2], notes: res[3] };
}

/** Every sent id is in exactly one place: the lists, acknowledged, or trimmed from the notes. */
function assertAccounted(m: Model) {
  const held = [
    ...m.urgent,
    ...m.inbox,
    ...m.processing,
    ...m.notes,
    ...m.acked,
    ...m.trimmed,
  ].sort();
  assert.deepEqual(held, [...m.sent].sort(), "a message was lost or duplicated");
}

async function runOps(base: TownContext, other: Ctx, ops: Op[], subject: Subject) {
  const name = uniqueName("rounds");
  const t: Ctx = { redis: base.redis, keys: townKeys(name) };
  const t2: Ctx = { redis: other.redis, keys: t.keys };
  const agent = (await createAgent(t, { name: "w", cli: "x" })).id;
  let model = new Model();
  const send = async (c: Ctx, urgent: boolean, p: Priority) =>
    (await sendMessage(c, { from: SUPERVISOR_ID, to: agent, type: "task", priority: p }, {
      urgent,
    })).id;
  for (const op of ops) {
    switch (op.op) {
      case "send":
        for (let i = 0; i < op.n; i++) {
          model.send(await send(t, op.urgent, op.priority), op.urgent, op.priority);
        }
        break;
      case "take": {
        const got = await subject.take(t, agent);
        model.take();
        assert.deepEqual(got, model.processing, "takeRound returned other messages than it took");
        break;
      }
      case "end": {
        let requeue: string[] = [];
        if (op.kind === "ok") {
          const p = model.processing;
          requeue = p.length ? op.requeue.map((i) => p[i % p.length]) : [];
          // Ids that are not in processing (already handled, or never existed) change nothing.
          for (let i = 0; i < op.strays; i++) {
            requeue.push(i ? crypto.randomUUID() : model.sent[0] ?? "x");
          }
        }
        const back = await subject.end(t, agent, op.kind, requeue);
        assert.equal(back, model.end(op.kind, new Set(requeue)), "endRound requeue count");
        break;
      }
      case "race": {
        // A send racing a take on another connection: the result must be one of the two orders.
        const [id] = await Promise.all([
          send(t2, op.urgent, op.priority),
          subject.take(t, agent),
        ]);
        const sendFirst = model.clone();
        sendFirst.send(id, op.urgent, op.priority);
        sendFirst.take();
        const takeFirst = model.clone();
        takeFirst.take();
        takeFirst.send(id, op.urgent, op.priority);
        const now = await redisLists(t, agent);
        const match = [sendFirst, takeFirst].find((c) =>
          JSON.stringify(c.lists()) === JSON.stringify(now)
        );
        assert.ok(match, `lists after a send racing a take match neither order`);
        model = match;
        break;
      }
    }
    assert.deepEqual(await redisLists(t, agent), model.lists(), `lists differ after ${op.op}`);
    assertAccounted(model);
  }
  return model;
}

const ops = fc.array(opArb, { minLength: 1, maxLength: 60, size: "max" });

Deno.test("round hand-off: no message lost or duplicated, requeued ones keep their order", async () => {
  await withTestTown(async (base) => {
    const other = await duplicateConnection(base.redis);
    try {
      const stats = { sent: 0, acked: 0, requeued: 0, trimmed: 0, full: 0 };
      await assertProperty("send/take/end sequences", 250, [ops], async (seq) => {
        const m = await runOps(base, { redis: other, keys: base.keys }, seq, real);
        stats.sent += m.sent.length;
        stats.acked += m.acked.length;
        stats.trimmed += m.trimmed.length;
        stats.full += m.fullTakes;
      });
      report(
        `  ${stats.sent} messages sent, ${stats.acked} acknowledged, ${stats.trimmed} trimmed from notes`,
      );
      // The sequences must reach the round limit and the notes bound, not only short lists.
      assert.ok(stats.full > 0, "no round ever took the maximum of messages");
      assert.ok(stats.trimmed > 0, "the notes were never trimmed");
      assert.ok(stats.acked > 1000, "too few messages were acknowledged");
    } finally {
      other.disconnect();
    }
  });
});

Deno.test("the hand-off property can fail: a lost message and a reversed requeue are caught", async () => {
  await withTestTown(async (base) => {
    const other = await duplicateConnection(base.redis);
    try {
      const o = { redis: other, keys: base.keys };
      // A take that drops the last message of its round.
      const lossy: Subject = {
        ...real,
        async take(t, agent) {
          const ids = await real.take(t, agent);
          if (ids.length) await t.redis.rpop(t.keys.processing(agent));
          return ids;
        },
      };
      await assertCatches(
        "a message dropped by take",
        /lists differ|lost or duplicated|neither order/,
        100,
        [
          ops,
        ],
        async (seq) => {
          await runOps(base, o, seq, lossy);
        },
      );
      // An end that puts failed rounds back in reverse order.
      const reversed: Subject = {
        ...real,
        async end(t, agent, kind, requeue) {
          const n = await real.end(t, agent, kind, requeue);
          if (kind === "failed" && n > 1) {
            const head = await t.redis.lpop(t.keys.inbox(agent), n);
            await t.redis.lpush(t.keys.inbox(agent), ...head!);
          }
          return n;
        },
      };
      await assertCatches("a requeue in reverse order", /lists differ/, 200, [ops], async (seq) => {
        await runOps(base, o, seq, reversed);
      });
    } finally {
      other.disconnect();
    }
  });
});
