import assert from "node:assert/strict";
import { agentLabel, createAgent } from "../../src/core/agents.ts";
import { emitEvent } from "../../src/core/events.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownEvent } from "../../src/core/schemas.ts";
import { Sandbox, snapshotTown, withSandboxTown as withTown } from "../helpers.ts";
import { spawnTt } from "../agent_helpers.ts";

const TIME = "\\d\\d:\\d\\d:\\d\\d";

Deno.test("tt history: recent events oldest first, with icon and who; -n and --agent", async () => {
  await withTown(async (sb, t) => {
    assert.equal((await sb.ok(["history"])).stdout, "No events recorded yet.\n");
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    const b = await createAgent(t, { name: "beta", cli: "claude" });
    await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "build it", "task"));
    await sendMessage(t, textMessage(a.id, b.id, "review?", "query"));
    await emitEvent(t, { type: "something_new", message: "a town-wide note" });

    const lines = (await sb.ok(["history"])).stdout.trim().split("\n");
    const [la, lb] = [agentLabel(a), agentLabel(b)];
    const esc = (s: string) => s.replace(/[[\]]/g, "\\$&");
    assert.equal(lines.length, 5);
    assert.match(lines[0], new RegExp(`^${TIME} 🐣 ${esc(la)} Agent alpha created$`));
    assert.match(lines[1], new RegExp(`^${TIME} 🐣 ${esc(lb)} Agent beta created$`));
    assert.match(
      lines[2],
      new RegExp(`^${TIME} ✉️ supervisor → ${esc(la)} task message: build it$`),
    );
    assert.match(lines[3], new RegExp(`^${TIME} ✉️ ${esc(la)} → ${esc(lb)} query message: `));
    assert.match(lines[4], new RegExp(`^${TIME} • system a town-wide note$`));

    const last2 = (await sb.ok(["history", "-n", "2"])).stdout.trim().split("\n");
    assert.deepEqual(last2, lines.slice(3));
    const ofA = await sb.json<TownEvent[]>(["history", "--agent", "alpha"]);
    assert.deepEqual(ofA.map((e) => e.type), ["agent_spawned", "message_sent"]);
    assert.ok(ofA.every((e) => e.agent_id === a.id));
  });
});

Deno.test("tt events: the most recent N with [type] and scope; --agent; bad counts are usage errors", async () => {
  await withTown(async (sb, t) => {
    assert.match((await sb.ok(["events"])).stdout, /^No events found\./);
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    for (let i = 0; i < 25; i++) await emitEvent(t, { type: "tick", message: `tick ${i}` });
    await emitEvent(t, { type: "task_created", message: "made", task_id: "abcdef0123456789" });
    const lines = (await sb.ok(["events"])).stdout.trim().split("\n");
    assert.equal(lines.length, 20);
    assert.match(lines[0], new RegExp(`^${TIME} \\[tick\\] town — tick 6$`));
    assert.match(lines[19], new RegExp(`^${TIME} \\[task_created\\] task:abcdef01 — made$`));
    const mine = (await sb.ok(["events", "--agent", a.id.slice(0, 4), "-c", "5"])).stdout;
    assert.match(
      mine,
      new RegExp(
        `^${TIME} \\[agent_spawned\\] agent:${agentLabel(a).replace(/[[\]]/g, "\\$&")} — `,
      ),
    );
    assert.equal((await sb.json<TownEvent[]>(["events", "--count", "3"])).length, 3);

    const before = await snapshotTown(t);
    for (
      const args of [
        ["events", "-c", "-1"],
        ["events", "-c", "two"],
        ["history", "-n", "0"],
        ["history", "-n", "1.5"],
      ]
    ) {
      const r = await sb.tt(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /expected a whole number/);
    }
    const r = await sb.tt(["history", "--agent", "ghost"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tt: no agent 'ghost'/);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

/** Starts `tt events -f …` and gives a way to wait for its output, then to stop it. */
function follow(sb: Sandbox, args: string[]) {
  const child = spawnTt(sb, ["events", "-f", ...args]);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  // A safety net only: the waits below end as soon as the line is there.
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return {
    get out() {
      return out;
    },
    async waitFor(re: RegExp) {
      while (!re.test(out)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`tt events -f ended before ${re}; output:\n${out}`);
        out += value;
      }
    },
    async stop(signal: Deno.Signal) {
      child.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const status = await child.status;
      clearTimeout(guard);
      const stderr = await new Response(child.stderr).text();
      return { code: status.code, stderr };
    },
  };
}

Deno.test("tt events -f prints recent events, then each new one once, and exits 0 on SIGTERM", async () => {
  await withTown(async (sb, t) => {
    await emitEvent(t, { type: "old", message: "before the follow" });
    const f = follow(sb, ["-c", "5"]);
    await f.waitFor(/before the follow\n/);
    await emitEvent(t, { type: "new", message: "first live" });
    await f.waitFor(/first live\n/);
    await emitEvent(t, { type: "new", message: "second live" });
    await f.waitFor(/second live\n/);
    const { code, stderr } = await f.stop("SIGTERM");
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const lines = f.out.trim().split("\n");
    assert.equal(lines.length, 3, f.out);
    assert.match(lines[0], /\[old\] town — before the follow$/);
    assert.match(lines[1], /\[new\] town — first live$/);
    assert.match(lines[2], /\[new\] town — second live$/);
  });
});

Deno.test("tt events -f --json --agent prints one JSON object per line for that agent; SIGINT exits 0", async () => {
  await withTown(async (sb, t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    await emitEvent(t, { type: "other", message: "not mine" });
    const f = follow(sb, ["--json", "--agent", "alpha", "-c", "1"]);
    await f.waitFor(/"agent_spawned"/);
    await emitEvent(t, { type: "other", message: "still not mine" });
    await emitEvent(t, { type: "tick", message: "mine", agent_id: a.id });
    await f.waitFor(/"mine"/);
    const { code } = await f.stop("SIGINT");
    assert.equal(code, 0);
    const evs = f.out.trim().split("\n").map((l) => JSON.parse(l) as TownEvent);
    assert.deepEqual(evs.map((e) => [e.type, e.agent_id]), [
      ["agent_spawned", a.id],
      ["tick", a.id],
    ]);
  });
});
