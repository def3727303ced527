/**
 * A round's channel served in this process, asked by the real agent client (the round's shim,
 * with a cleared environment): the CLI's own output, the agent's fixed identity, isolation of
 * concurrent requests, tokens, closing, and powers granted in the config.
 */
import assert from "node:assert/strict";
import { Sandbox, townOf, type TtResult } from "../helpers.ts";
import { openRoundChannel, type RoundChannel } from "../../src/supervisor/channel/mod.ts";
import { runForAgent } from "../../src/supervisor/channel/run.ts";
import { clientSource } from "../../src/agent/client.ts";
import { createAgent } from "../../src/core/agents.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { peekInboxes } from "../../src/core/messages.ts";
import { recentEvents } from "../../src/core/events.ts";
import { TownConfig } from "../../src/core/config_schema.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { TownContext } from "../../src/core/town.ts";
import type { Agent } from "../../src/core/schemas.ts";

const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

/** Runs the round's `tt` with nothing but the channel's variables (and PATH, HOME, DENO_DIR). */
async function agentTt(ch: RoundChannel, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("sh", {
    args: [`${ch.binDir}/tt`, ...args],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_DIR,
      DENO_NO_UPDATE_CHECK: "1",
      ...ch.env,
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

interface Fixture {
  sb: Sandbox;
  t: TownContext;
  a: Agent;
  b: Agent;
}

async function withChannelTown(
  fn: (x: Fixture) => Promise<void>,
  powers: Record<string, string[]> = {},
) {
  const sb = new Sandbox();
  const base = await townOf(await sb.init());
  const t: TownContext = {
    ...base,
    root: sb.dir,
    config: TownConfig.parse({ ...base.config, agent: { powers } }),
  };
  try {
    const a = await createAgent(t, { name: "alice", cli: "claude", role: "lead" });
    const b = await createAgent(t, { name: "bob", cli: "claude" });
    await fn({ sb, t, a, b });
  } finally {
    await base.close();
    sb.cleanup();
  }
}

const to = (x: Agent) => ({
  kind: "agent" as const,
  id: x.id,
  name: x.name,
  label: x.name,
  agent: x,
});
const lines = (r: TtResult) => `${r.code}\n${r.stdout}\n${r.stderr}`;

Deno.test("channel: the agent's tt prints what the operator's tt prints, acting as the agent", async () => {
  await withChannelTown(async ({ sb, t, a, b }) => {
    const mine = await assignTask(t, to(a), { description: "alice's task" });
    await assignTask(t, to(b), { description: "bob's task" });
    const ch = await openRoundChannel(t, a, 1);
    try {
      assert.equal((await Deno.stat(ch.dir)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(ch.env.TT_CHANNEL)).mode! & 0o777, 0o600);
      const asAgent = { TINYTOWN_AGENT_ID: a.id, TINYTOWN_AGENT_NAME: a.name };
      for (const args of [["task", "list"], ["task", "current"], ["task", "list", "--json"]]) {
        const viaChannel = await agentTt(ch, args);
        const direct = await sb.tt(args, { env: asAgent });
        assert.equal(lines(viaChannel), lines(direct), args.join(" "));
        assert.equal(viaChannel.code, 0);
      }
      // Usage errors and help come from commander, through the channel too.
      const usage = await agentTt(ch, ["task", "show"]);
      assert.equal(lines(usage), lines(await sb.tt(["task", "show"], { env: asAgent })));
      assert.equal(usage.code, 2);
      const help = await agentTt(ch, ["task", "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /complete/);
      // `tt inbox` alone is the agent's own.
      const inbox = await agentTt(ch, ["inbox"]);
      assert.equal(inbox.code, 0, inbox.stderr);
      assert.match(inbox.stdout, /alice/);
      // Its identity is the round's, whatever its environment says.
      const spoof = await agentTt(ch, ["task", "complete", mine.id.slice(0, 8)], {
        TINYTOWN_AGENT_ID: b.id,
      });
      assert.equal(spoof.code, 0, spoof.stderr);
      const bobs = (await agentTt(ch, ["task", "list", "--json", "--agent", "bob"])).stdout;
      const bobTask = (JSON.parse(bobs) as { id: string }[])[0].id;
      const steal = await agentTt(ch, ["task", "complete", bobTask]);
      assert.equal(steal.code, 1);
      assert.match(steal.stderr, /^tt: task .* is assigned to bob, not to you/);
    } finally {
      await ch.close();
    }
  });
});

Deno.test("channel: a wrong or missing token is refused and recorded; a closed channel is gone", async () => {
  await withChannelTown(async ({ t, a }) => {
    const ch = await openRoundChannel(t, a, 7);
    const bad = await agentTt(ch, ["status"], { TT_CHANNEL_TOKEN: "x".repeat(64) });
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "tt: refused: wrong channel token\n");
    const ev = (await recentEvents(t, { count: 10 })).filter((e) => e.type === "agent_refused");
    assert.equal(ev.length, 1);
    assert.equal(ev[0].agent_id, a.id);
    // Raw requests: not JSON, not the protocol.
    for (
      const [raw, why] of [
        ["hello\n", /unreadable request/],
        [
          JSON.stringify({ v: 2, token: ch.env.TT_CHANNEL_TOKEN, argv: [], cwd: "/" }) + "\n",
          /malformed/,
        ],
      ] as const
    ) {
      const conn = await Deno.connect({ transport: "unix", path: ch.env.TT_CHANNEL });
      await conn.write(new TextEncoder().encode(raw));
      await conn.closeWrite();
      const reply = JSON.parse(await new Response(conn.readable).text());
      assert.equal(reply.code, 1);
      assert.match(reply.stderr, why);
    }
    // Connections that send nothing hold their place; past the limit the channel says so.
    const idle = await Promise.all(
      Array.from({ length: 8 }, () => Deno.connect({ transport: "unix", path: ch.env.TT_CHANNEL })),
    );
    const busy = await agentTt(ch, ["status"]);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, "tt: refused: too many requests at once\n");
    for (const c of idle) c.close();
    await ch.close();
    await assert.rejects(Deno.stat(ch.dir), Deno.errors.NotFound);
    // The shim went with the directory; the client itself finds no channel.
    const client = new URL("../../src/agent/client.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "--no-config",
        `--allow-read=${ch.env.TT_CHANNEL}`,
        `--allow-write=${ch.env.TT_CHANNEL}`,
        `--allow-net=unix:${ch.env.TT_CHANNEL}`,
        "--allow-env=TT_CHANNEL,TT_CHANNEL_TOKEN",
        client,
        "status",
      ],
      clearEnv: true,
      env: { ...ch.env, DENO_DIR, HOME: Deno.env.get("HOME") ?? "/tmp" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const after = { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    assert.equal(after.code, 1);
    assert.match(after.stderr, /^tt: cannot reach the town through .*: the channel closes/);
  });
});

Deno.test("channel: concurrent requests of two agents each act as their own agent", async () => {
  await withChannelTown(async ({ t, a, b }) => {
    const runs = Array.from({ length: 24 }, (_, i) => i % 2 ? a : b).map((who, i) =>
      runForAgent(t, who, ["send", "supervisor", `${who.name} ${i}`, "--json"])
    );
    const replies = await Promise.all(runs);
    for (const r of replies) assert.equal(r.code, 0, r.stderr);
    const box = (await peekInboxes(t, [SUPERVISOR_ID])).get(SUPERVISOR_ID)!;
    assert.equal(box.inbox.length, 24);
    for (const m of box.inbox) {
      const sender = (m as { body?: string }).body!.split(" ")[0] === "alice" ? a : b;
      assert.equal(m.from, sender.id, (m as { body?: string }).body);
    }
    // Each reply holds only its own request's output.
    for (const [i, r] of replies.entries()) {
      assert.equal(JSON.parse(r.stdout).message.body, `${i % 2 ? "alice" : "bob"} ${i}`);
    }
  });
});

Deno.test("channel: [agent.powers] by role opens assign and other inboxes; without it they are refused", async () => {
  await withChannelTown(async ({ t, a, b }) => {
    const lead = await runForAgent(t, a, ["assign", "bob", "review this", "--json"]);
    assert.equal(lead.code, 0, lead.stderr);
    assert.equal(JSON.parse(lead.stdout).created_by, a.id);
    assert.equal((await runForAgent(t, a, ["inbox", "bob"])).code, 0);
    const worker = await runForAgent(t, b, ["assign", "alice", "do my work"]);
    assert.equal(worker.code, 1);
    assert.match(worker.stderr, /^tt: refused: 'tt assign' needs the 'assign' power/);
    assert.match((await runForAgent(t, b, ["inbox", "alice"])).stderr, /another agent's inbox/);
    // A reference that does not resolve gets the CLI's own error, not a refusal.
    const unknown = await runForAgent(t, b, ["backlog", "claim", "abcd", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tt: (?!refused).*nobody/);
    // Even with spawn power: a preset or [agent_clis] name, never a raw command.
    const raw = await runForAgent(t, a, ["spawn", "evil", "--cli", "sh -c 'touch /tmp/x'"]);
    assert.match(raw.stderr, /preset or an \[agent_clis\] name only/);
    // commander takes the last value: every one is checked.
    const last = await runForAgent(t, a, ["spawn", "evil", "-c", "claude", "--cli=touch /tmp/x"]);
    assert.match(last.stderr, /preset or an \[agent_clis\] name only, not 'touch \/tmp\/x'/);
    const spawned = await runForAgent(t, a, ["list", "--json"]);
    assert.ok(!spawned.stdout.includes("evil"), "an agent was spawned");
  }, { lead: ["assign", "inbox", "spawn"] });
});

Deno.test("channel: the client's written-out source (what a bundled tt's agents run) works alone", async () => {
  await withChannelTown(async ({ sb, t, a }) => {
    const ch = await openRoundChannel(t, a, 2);
    try {
      const file = `${sb.dir}/client.js`;
      await Deno.writeTextFile(file, clientSource());
      const sock = ch.env.TT_CHANNEL;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-q",
          "--no-config",
          `--allow-read=${sock}`,
          `--allow-write=${sock}`,
          `--allow-net=unix:${sock}`,
          "--allow-env=TT_CHANNEL,TT_CHANNEL_TOKEN",
          file,
          "task",
          "current",
        ],
        clearEnv: true,
        env: { ...ch.env, DENO_DIR, HOME: Deno.env.get("HOME") ?? "/tmp" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.match(dec.decode(out.stdout), /\[lead\] has no current task/);
    } finally {
      await ch.close();
    }
  });
});

Deno.test("channel: a round takes over a dead round's slot, never a live one", async () => {
  await withChannelTown(async ({ sb, t, a, b }) => {
    const channels = `${sb.dir}/.tt/channels`;
    // Slot 0: left by a killed supervisor (nobody listens). Slot 1: a channel someone serves.
    await Deno.mkdir(`${channels}/0`, { recursive: true });
    await Deno.writeTextFile(`${channels}/0/stale`, "");
    await Deno.mkdir(`${channels}/1`);
    const live = Deno.listen({ transport: "unix", path: `${channels}/1/tt.sock` });
    const ch = await openRoundChannel(t, a, 4);
    const other = await openRoundChannel(t, b, 1);
    try {
      assert.equal(ch.dir, `${channels}/0`);
      await assert.rejects(Deno.stat(`${channels}/0/stale`), Deno.errors.NotFound);
      assert.equal(other.dir, `${channels}/2`);
      assert.ok((await Deno.stat(`${channels}/1/tt.sock`)).isSocket, "the live slot was touched");
    } finally {
      await ch.close();
      await other.close();
      live.close();
    }
  });
});
