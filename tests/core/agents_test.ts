import assert from "node:assert/strict";
import {
  agentLabel,
  createAgent,
  listAgents,
  resolveAgent,
  resolveRecipient,
  setAgentState,
} from "../../src/core/agents.ts";
import { recentEvents } from "../../src/core/events.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import { ConflictError, NotFoundError, UsageError } from "../../src/core/errors.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("createAgent stores a starting agent with a nickname and emits agent_spawned", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "backend", cli: "claude", role: "worker" });
    assert.equal(a.state, "starting");
    assert.ok(a.nickname.length > 0);
    const all = await listAgents(t);
    assert.deepEqual(all.map((x) => x.id), [a.id]);
    const ev = await recentEvents(t, { count: 10 });
    assert.equal(ev.at(-1)?.type, "agent_spawned");
    assert.equal(ev.at(-1)?.agent_id, a.id);
  });
});

Deno.test("a name in use is refused and changes nothing", async () => {
  await withTestTown(async (t) => {
    await createAgent(t, { name: "w1", cli: "claude" });
    const before = await snapshotTown(t);
    await assert.rejects(createAgent(t, { name: "W1", cli: "claude" }), ConflictError);
    assert.deepEqual(await snapshotTown(t), before);
  });
});

Deno.test("reserved and malformed names are usage errors", async () => {
  await withTestTown(async (t) => {
    for (const bad of ["supervisor", "Conductor", "", "a b", "x;rm -rf", "$(id)", "-x"]) {
      await assert.rejects(createAgent(t, { name: bad, cli: "claude" }), UsageError, bad);
    }
    await createAgent(t, { name: "conductor-helper", cli: "claude" });
    await createAgent(t, { name: "élodie", cli: "claude" });
  });
});

Deno.test("references: name, nickname, label, short id, case-insensitive; ambiguity lists candidates", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, {
      name: "worker141",
      cli: "claude",
      nickname: "Piper",
      role: "worker",
    });
    for (
      const ref of ["worker141", "WORKER141", "piper", "Piper [worker]", a.id.slice(0, 4), a.id]
    ) {
      assert.equal((await resolveAgent(t, ref)).id, a.id, ref);
    }
    assert.equal(agentLabel(a), "Piper [worker]");
    await createAgent(t, { name: "other", cli: "claude", nickname: "Piper" });
    await assert.rejects(
      resolveAgent(t, "piper"),
      /ambiguous: .*Piper \[worker\].*Piper \[other\]/,
    );
    await assert.rejects(resolveAgent(t, "nobody"), NotFoundError);
  });
});

Deno.test("supervisor and conductor name the same mailbox", async () => {
  await withTestTown(async (t) => {
    assert.equal((await resolveRecipient(t, "supervisor")).id, SUPERVISOR_ID);
    assert.equal((await resolveRecipient(t, " Conductor ")).id, SUPERVISOR_ID);
  });
});

Deno.test("setAgentState records old and new state, and can require a current state", async () => {
  await withTestTown(async (t) => {
    const a = await createAgent(t, { name: "w", cli: "claude" });
    const r = await setAgentState(t, a.id, "idle");
    assert.equal(r.old, "starting");
    await assert.rejects(
      setAgentState(t, a.id, "idle", { from: ["paused"] }),
      /is idle; expected paused/,
    );
    const ev = (await recentEvents(t, { count: 1 }))[0];
    assert.equal(ev.old_state, "starting");
    assert.equal(ev.new_state, "idle");
  });
});
