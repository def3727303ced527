import assert from "node:assert/strict";
import { agentLabel, createAgent, setAgentState, toRecipient } from "../../src/core/agents.ts";
import { assignTask, completeTask, createTask, startTask } from "../../src/core/tasks.ts";
import { sendMessage, textMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownStatus } from "../../src/core/status.ts";
import { snapshotTown, withSandboxTown as withTown } from "../helpers.ts";

Deno.test("tt status: agents with mailbox breakdown and current task, tasks by state, backlog", async () => {
  await withTown(async (sb, t, name) => {
    const a = await createAgent(t, { name: "backend", cli: "claude", role: "worker" });
    const b = await createAgent(t, { name: "docs", cli: "claude" });
    await setAgentState(t, b.id, "stopped");
    const running = await assignTask(t, toRecipient(a), { description: "build the parser" });
    await startTask(t, running.id, a.id);
    const done = await assignTask(t, toRecipient(a), { description: "old job" });
    await completeTask(t, done.id);
    await createTask(t, { description: "someday" }, { kind: "backlog" });
    await sendMessage(t, textMessage(SUPERVISOR_ID, a.id, "where?", "query"), { urgent: true });
    await sendMessage(t, textMessage(a.id, SUPERVISOR_ID, "fyi", "info"));

    const s = await sb.json<TownStatus>(["status"]);
    assert.equal(s.town, name);
    assert.equal(s.root, await Deno.realPath(sb.dir));
    const [sa, sb_] = [a, b].map((x) => s.agents.find((y) => y.id === x.id)!);
    assert.equal(s.agents.length, 2);
    assert.deepEqual([sa.label, sa.agent.state, sb_.label, sb_.agent.state], [
      agentLabel(a),
      "starting",
      agentLabel(b),
      "stopped",
    ]);
    assert.equal(sa.mailbox.urgent, 1);
    assert.equal(sa.mailbox.inbox, 2); // the two task_assign messages
    assert.deepEqual(sa.mailbox.categories, { task: 2, query: 1, info: 0, confirmation: 0 });
    assert.equal(sa.current_task?.id, running.id);
    assert.equal(s.conductor.inbox, 1);
    assert.deepEqual(s.tasks, {
      total: 3,
      by_state: { pending: 1, assigned: 0, running: 1, completed: 1, failed: 0, cancelled: 0 },
      backlog: 1,
    });

    const human = (await sb.ok(["status"])).stdout;
    assert.match(human, new RegExp(`^Town ${name} at `));
    assert.match(human, /^Agents: 2$/m);
    assert.match(
      human,
      /^ {2}.* \[worker\] \(\w{4}\) starting — inbox 3 \(1 urgent\) \[T\] 2 \[Q\] 1 \[I\] 0 \[C\] 0$/m,
    );
    assert.match(human, /^ {4}Working: build the parser$/m);
    assert.match(human, /^ {2}1 stopped agent\(s\): 'tt prune' removes them$/m);
    assert.match(
      human,
      /^Tasks: 3 \(1 pending, 0 assigned, 1 running, 1 completed, 0 failed, 0 cancelled\); backlog 1$/m,
    );
    assert.doesNotMatch(human, /role /);
    assert.match(human, /Supervisor: NOT RUNNING with 1 active agent\(s\): .tt start. restarts it/);
  });
});

Deno.test("tt status --deep --tasks: per-agent details and events, tasks grouped by agent", async () => {
  await withTown(async (sb, t) => {
    const p = await createAgent(t, { name: "lead", cli: "claude", role: "reviewer" });
    const c = await createAgent(t, { name: "helper", cli: "claude", parent: p.id });
    for (let i = 1; i <= 6; i++) {
      await assignTask(t, toRecipient(p), { description: `task number ${i} ${"x".repeat(60)}` });
    }
    await createTask(t, { description: "free for all" }, { kind: "backlog" });
    const s = await sb.json<TownStatus>(["status", "--deep", "--tasks"]);
    const deep = (id: string) => s.agents.find((x) => x.id === id)!.deep!;
    assert.equal(deep(p.id).events.length, 5);
    assert.equal(deep(c.id).parent_label, agentLabel(p));
    assert.deepEqual(s.task_groups!.map((g) => [g.label, g.active, g.done, g.tasks.length]), [
      [agentLabel(p), 6, 0, 6],
      ["(unassigned)", 1, 0, 1],
    ]);

    const human = (await sb.ok(["status", "--deep", "--tasks"])).stdout.split("\n");
    const at = human.findIndex((l) => l.includes("[reviewer]") && !l.includes("parent"));
    assert.match(
      human[at + 1],
      /^ {4}role reviewer, parent -, rounds 0, tasks done 0, up \d+s, heartbeat \d+s ago$/,
    );
    assert.equal(
      human.slice(at + 2, at + 7).filter((l) => /^ {4}\d+s ago: \[\w+\] /.test(l)).length,
      5,
    );
    assert.ok(human.some((l) => l.includes(`parent ${agentLabel(p)}`)));
    const g = human.findIndex((l) => l === `  ${agentLabel(p)}: 6 active, 0 done`);
    assert.ok(g > 0, human.join("\n"));
    assert.match(human[g + 1], /^ {4}📌 [0-9a-f]{8} task number 1 x+…$/);
    assert.equal([...human[g + 1].split(" ").slice(6).join(" ")].length, 50);
    assert.equal(human[g + 6], "    … plus 1 more");
    assert.equal(human[g + 7], "  (unassigned): 1 active, 0 done");
    assert.match(human[g + 8], /^ {4}⏳ [0-9a-f]{8} free for all$/);
  });
});

Deno.test("tt list: label, short id, state; a hint about stopped agents; empty town", async () => {
  await withTown(async (sb, t) => {
    assert.equal(
      (await sb.ok(["list"])).stdout,
      "No agents. Run 'tt spawn <name>' to create one.\n",
    );
    const a = await createAgent(t, { name: "one", cli: "claude" });
    const b = await createAgent(t, { name: "two", cli: "claude", role: "tester" });
    await setAgentState(t, b.id, "stopped");
    // Agents created in the same millisecond may be listed in either order.
    const lines = (await sb.ok(["list"])).stdout.trim().split("\n");
    assert.equal(lines.pop(), "1 stopped agent(s): 'tt prune' removes them");
    assert.deepEqual(
      lines.sort(),
      [
        `${agentLabel(a)} (${a.id.slice(0, 4)}) starting`,
        `${agentLabel(b)} (${b.id.slice(0, 4)}) stopped`,
      ].sort(),
    );
    const json = await sb.json<{ id: string; label: string; state: string }[]>(["list"]);
    assert.deepEqual(
      json.map((x) => [x.id, x.label, x.state]).sort(),
      [
        [a.id, agentLabel(a), "starting"],
        [b.id, agentLabel(b), "stopped"],
      ].sort(),
    );
  });
});

Deno.test("tt status and tt list with a dead REDIS_URL: one line, exit 1, nothing written", async () => {
  await withTown(async (sb, t) => {
    await createAgent(t, { name: "one", cli: "claude" });
    const before = await snapshotTown(t);
    for (const args of [["status"], ["status", "--deep"], ["list"]]) {
      const r = await sb.tt(args, { env: { REDIS_URL: `unix://${sb.dir}/dead.sock` } });
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.match(r.stderr, /^tt: Failed to connect to configured Redis at unix:\/\/.*dead\.sock/);
    }
    assert.deepEqual(await snapshotTown(t), before);
  });
});
