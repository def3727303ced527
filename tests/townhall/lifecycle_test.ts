/** Agent lifecycle over REST with a real supervisor and the fake agent CLI. */
import assert from "node:assert/strict";
import { waitForEvent, waitUntil } from "../agent_helpers.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { getAgent } from "../../src/core/agents.ts";
import { getTask } from "../../src/core/tasks.ts";
import { api, closeHall, type Hall, startHall, stopSupervisor } from "./helpers.ts";

/** The --cli of an agent that completes its tasks through this townhall's REST API. */
function restAgent(h: Hall): string {
  const fixture = new URL("./fixtures/rest-agent.ts", import.meta.url).pathname;
  return `'${Deno.execPath()}' run -q --no-config --no-prompt --allow-net=127.0.0.1 --allow-env '${fixture}' ${h.url} ${h.createdKey}`;
}

/** The agent's round logs and the supervisor log, for failure messages. */
async function logs(h: Hall): Promise<string> {
  const dir = `${h.sb.dir}/.tt/logs`;
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    out.push(`--- ${e.name}\n${(await Deno.readTextFile(`${dir}/${e.name}`)).slice(-2000)}`);
  }
  return out.join("\n");
}

type Agent = { id: string; name: string; state: string; rounds_completed: number };

/** Spawns worker `w1` (a restAgent) over REST; returns its id. */
async function spawnW1(h: Hall): Promise<string> {
  const sp = await api<{ agent: Agent }>(h, "POST", "/v1/agents", {
    body: { name: "w1", cli: restAgent(h), role: "worker" },
  });
  assert.equal(sp.status, 201, JSON.stringify(sp.body));
  return sp.body.agent.id;
}

Deno.test("spawn → assign → the agent completes it → wait; interrupt/resume; kill, restart, prune", async () => {
  const h = await startHall();
  try {
    const id = await spawnW1(h);
    assert.ok(await supervisorInfo(h.t), "spawn started the supervisor");
    assert.equal((await api(h, "POST", "/v1/agents", { body: { name: "w1" } })).status, 409);
    assert.equal((await api(h, "POST", "/v1/agents", { body: { name: "bad name!" } })).status, 400);

    const as = await api<{ task: { id: string } }>(h, "POST", "/v1/tasks/assign", {
      body: { agent: "w1", description: "say hello" },
    });
    assert.equal(as.status, 201);
    const wait = await api<{ met: boolean; agent: Agent }>(
      h,
      "GET",
      "/v1/agents/w1/wait?until=idle&timeout=60",
    );
    assert.equal(wait.status, 200);
    assert.ok(wait.body.met, `${JSON.stringify(wait.body)}\n${await logs(h)}`);
    const task = await getTask(h.t, as.body.task.id);
    assert.equal(task?.state, "completed");
    assert.equal(task?.result, "done over REST by w1");
    assert.equal((await getAgent(h.t, id))?.tasks_completed, 1);

    const paused = await api<Agent & { state: string }>(h, "POST", "/v1/agents/w1/interrupt");
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.state, "paused");
    assert.equal((await api(h, "POST", "/v1/agents/w1/interrupt")).status, 409);
    const resumed = await api<{ state: string }>(h, "POST", "/v1/agents/w1/resume");
    assert.equal(resumed.body.state, "idle");

    const killed = await api<{ state: string }>(h, "POST", "/v1/agents/w1/kill", {
      body: { reason: "test over" },
    });
    assert.equal(killed.status, 200, JSON.stringify(killed.body));
    await waitUntil(async () => (await getAgent(h.t, id))?.state === "stopped");
    assert.equal((await api(h, "POST", "/v1/agents/w1/kill")).status, 409);
    const ev = await waitForEvent(h.t, (e) => e.type === "agent_stopped" && e.agent_id === id);
    assert.match(ev.message, /test over/);

    const restarted = await api<{ state: string }>(h, "POST", "/v1/agents/w1/restart", {
      body: { rounds: 2 },
    });
    assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
    assert.equal((await getAgent(h.t, id))?.max_rounds, 2);
    assert.equal((await api(h, "POST", "/v1/agents/w1/restart")).status, 409);

    // Closing the restarted agent is its own (known-broken) test below; kill it here.
    const killedAgain = await api(h, "POST", "/v1/agents/w1/kill", { body: { reason: "done" } });
    assert.equal(killedAgain.status, 200, JSON.stringify(killedAgain.body));
    const stopped = await api<{ met: boolean }>(
      h,
      "GET",
      "/v1/agents/w1/wait?until=stopped&timeout=60",
    );
    assert.ok(stopped.body.met, JSON.stringify(stopped.body));

    const orphans = await api<{ count: number }>(h, "POST", "/v1/reclaim/orphan-tasks", {
      body: { action: "list" },
    });
    assert.equal(orphans.status, 200);
    const reclaim = await api<{ destination: string }>(h, "POST", "/v1/reclaim");
    assert.equal(reclaim.body.destination, "listed");
    const rec = await api<{ checked: number }>(h, "POST", "/v1/recover");
    assert.equal(rec.status, 200);

    const pruned = await api<{ removed: { name: string }[] }>(h, "POST", "/v1/agents/prune");
    assert.equal(pruned.status, 200);
    assert.deepEqual(pruned.body.removed.map((a) => a.name), ["w1"]);
    assert.equal((await api(h, "GET", "/v1/agents/w1")).status, 404);
    assert.equal((await api(h, "POST", "/v1/agents/w1/kill")).status, 404);
  } finally {
    await stopSupervisor(h);
    await closeHall(h);
  }
});

// An agent restarted and closed at once: the close's wake came after the new loop had read the
// agent's state, and the loop's takeRound deleted it (rounds.ts), so the loop blocked for ever
// (about half the runs at stop 18).
Deno.test({
  name: "restart, then close at once over REST: the agent stops",
  fn: async () => {
    const h = await startHall();
    try {
      const id = await spawnW1(h);
      await api(h, "POST", "/v1/agents/w1/kill", { body: { reason: "first" } });
      await waitUntil(async () => (await getAgent(h.t, id))?.state === "stopped");
      const restarted = await api(h, "POST", "/v1/agents/w1/restart", { body: { rounds: 2 } });
      assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
      assert.equal((await api(h, "POST", "/v1/agents/w1/close")).status, 200);
      const stopped = await api<{ met: boolean }>(
        h,
        "GET",
        "/v1/agents/w1/wait?until=stopped&timeout=60",
      );
      assert.ok(stopped.body.met, `${JSON.stringify(stopped.body)}\n${await logs(h)}`);
    } finally {
      await stopSupervisor(h);
      await closeHall(h);
    }
  },
});
