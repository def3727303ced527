import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { Message } from "../../src/core/schemas.ts";
import type { TownContext } from "../../src/core/town.ts";
import { Sandbox, snapshotTown, withSandboxTown as withTown } from "../helpers.ts";

/** No agent identity inherited from whoever runs the tests. */
const NO_IDENTITY = { TINYTOWN_AGENT_ID: "", TINYTOWN_AGENT_NAME: "" };

/** Runs a command that must fail: exit code, one line on stderr, Redis unchanged. */
async function fails(sb: Sandbox, t: TownContext, args: string[], code: number, re: RegExp) {
  const before = await snapshotTown(t);
  const r = await sb.tt(args, { env: NO_IDENTITY });
  assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stdout, "");
  assert.deepEqual(await snapshotTown(t), before, args.join(" "));
}

interface InboxJson {
  label: string;
  counts: { processing: number; urgent: number; inbox: number };
  categories: Record<string, number>;
  processing: Message[];
  urgent: Message[];
  inbox: Message[];
}

Deno.test("tt send: each kind, and unicode and shell metacharacters round-trip byte-exact to inbox --json", async () => {
  await withTown(async (sb, t) => {
    const a = await createAgent(t, { name: "backend", cli: "claude", role: "worker" });
    const tricky =
      "héllo 🚀 \"quotes\" 'single' $(rm -rf /) `id` ; | & > < \\ \n\ttab\r\n日本語 end";
    const r = await sb.ok(["send", "backend", tricky], { env: NO_IDENTITY });
    assert.equal(r.stdout.trim(), `Sent task message to '${a.nickname} [worker]'`);
    await sb.ok(["send", "Backend", "which db?", "--query"], { env: NO_IDENTITY });
    await sb.ok(["send", a.id.slice(0, 6), "fyi: deployed", "--info"], { env: NO_IDENTITY });
    await sb.ok(["send", "backend", "Rejected: tests fail", "--ack"], { env: NO_IDENTITY });
    const box = await sb.json<InboxJson>(["inbox", "backend"]);
    assert.deepEqual(
      box.inbox.map((m) => [m.type, m.body, m.kind, m.from, m.to]),
      [
        ["task", tricky, undefined, SUPERVISOR_ID, a.id],
        ["query", "which db?", undefined, SUPERVISOR_ID, a.id],
        ["informational", "fyi: deployed", undefined, SUPERVISOR_ID, a.id],
        ["confirmation", "Rejected: tests fail", "rejected", SUPERVISOR_ID, a.id],
      ],
    );
    assert.deepEqual(box.categories, { task: 1, query: 1, info: 1, confirmation: 1 });
    // The stored JSON itself holds the exact text.
    const raw = JSON.parse((await t.redis.lindex(t.keys.inbox(a.id), 0))!) as Message;
    assert.equal(raw.body, tricky);
  });
});

Deno.test("tt send --urgent: its own list, first-in first-out, shown first with [!]", async () => {
  await withTown(async (sb, t) => {
    const a = await createAgent(t, { name: "w", cli: "claude" });
    await sb.ok(["send", "w", "normal one"], { env: NO_IDENTITY });
    for (const m of ["urgent one", "urgent two"]) {
      const r = await sb.ok(["send", "w", m, "--urgent"], { env: NO_IDENTITY });
      assert.match(r.stdout, /^Sent urgent task message to/);
    }
    const taken = await t.redis.lpop(t.keys.inbox(a.id));
    await t.redis.rpush(t.keys.processing(a.id), taken!);
    await sb.ok(["send", "w", "after", "--query"], { env: NO_IDENTITY });
    const box = await sb.json<InboxJson>(["inbox", "w"]);
    assert.deepEqual(box.urgent.map((m) => m.body), ["urgent one", "urgent two"]);
    assert.deepEqual(box.processing.map((m) => m.body), ["normal one"]);
    assert.deepEqual(box.counts, { processing: 1, urgent: 2, inbox: 1 });
    const human = (await sb.ok(["inbox", "w"])).stdout.trim().split("\n");
    assert.match(
      human[0],
      /: 2 urgent, 1 queued, 1 in progress — \[T\] 3 \[Q\] 1 \[I\] 0 \[C\] 0$/,
    );
    assert.match(human[1], /^ {2}\[T\] normal one \(from supervisor, in progress\)$/);
    assert.match(human[2], /^ {2}\[!\]\[T\] urgent one \(from supervisor\)$/);
    assert.match(human[3], /^ {2}\[!\]\[T\] urgent two/);
    assert.match(human[4], /^ {2}\[Q\] question: after/);
  });
});

Deno.test("tt send: sender from --from, else TINYTOWN_AGENT_ID, else TINYTOWN_AGENT_NAME, else supervisor", async () => {
  await withTown(async (sb, t) => {
    const a = await createAgent(t, { name: "alpha", cli: "claude" });
    const b = await createAgent(t, { name: "beta", cli: "claude" });
    const r = await sb.ok(["send", "supervisor", "from a", "--from", "alpha", "--info"], {
      env: { TINYTOWN_AGENT_ID: b.id },
    });
    assert.match(r.stdout, /to 'supervisor' from '.* \[alpha\]'/);
    await sb.ok(["send", "conductor", "from env id"], {
      env: { TINYTOWN_AGENT_ID: b.id, TINYTOWN_AGENT_NAME: "alpha" },
    });
    await sb.ok(["send", "supervisor", "from env name"], {
      env: { TINYTOWN_AGENT_ID: "", TINYTOWN_AGENT_NAME: "alpha" },
    });
    await sb.ok(["send", "supervisor", "from nobody"], { env: NO_IDENTITY });
    const box = await sb.json<InboxJson>(["inbox", "conductor"]);
    assert.equal(box.label, "supervisor");
    assert.deepEqual(
      box.inbox.map((m) => [m.body, m.from]),
      [
        ["from a", a.id],
        ["from env id", b.id],
        ["from env name", a.id],
        ["from nobody", SUPERVISOR_ID],
      ],
    );
    await fails(sb, t, ["send", "alpha", "x", "--from", "ghost"], 1, /^tt: no agent 'ghost'/);
  });
});

Deno.test("tt send refuses bad input with one line and changes nothing", async () => {
  await withTown(async (sb, t) => {
    await createAgent(t, { name: "w", cli: "claude" });
    await fails(sb, t, ["send", "nobody", "hi"], 1, /^tt: no agent 'nobody': 'tt list'/);
    await fails(sb, t, ["send", "w", ""], 2, /^tt: message must not be empty/);
    await fails(sb, t, ["send", "w", "  \n "], 2, /^tt: message must not be empty/);
    await fails(
      sb,
      t,
      ["send", "w", "é".repeat(32768) + "x"],
      2,
      /65537 bytes; the limit is 65536/,
    );
    await fails(sb, t, ["send", "w", "x", "--query", "--info"], 2, /cannot be used with/);
    await fails(sb, t, ["send", "w", "x", "--ack", "--query"], 2, /cannot be used with/);
    await fails(sb, t, ["send", "w"], 2, /missing required argument/);
    // Exactly at the limit is fine.
    await sb.ok(["send", "w", "é".repeat(32768)], { env: NO_IDENTITY });
  });
});

Deno.test("tt inbox: needs an agent or --all; --all lists non-empty mailboxes and the conductor's", async () => {
  await withTown(async (sb, t) => {
    await createAgent(t, { name: "busy", cli: "claude" });
    await createAgent(t, { name: "idle", cli: "claude" });
    await fails(sb, t, ["inbox"], 2, /^tt: name one agent or pass --all/);
    await fails(sb, t, ["inbox", "busy", "--all"], 2, /^tt: name one agent or pass --all/);
    await fails(sb, t, ["inbox", "ghost"], 1, /^tt: no agent 'ghost'/);
    const empty = (await sb.ok(["inbox", "idle"])).stdout;
    assert.match(empty, /0 urgent, 0 queued, 0 in progress[^\n]*\n {2}\(empty\)\n$/);

    for (let i = 0; i < 7; i++) await sb.ok(["send", "busy", `job ${i}`], { env: NO_IDENTITY });
    await sb.ok(["send", "busy", "fyi", "--info"], { env: NO_IDENTITY });
    const all = await sb.json<InboxJson[]>(["inbox", "--all"]);
    assert.deepEqual(all.map((b) => b.label.replace(/^.* \[(.*)\]$/, "$1")), [
      "busy",
      "supervisor",
    ]);
    const human = (await sb.ok(["inbox", "-a"])).stdout.trim().split("\n");
    assert.match(human[0], /\[busy\]: 0 urgent, 8 queued/);
    assert.deepEqual(human.slice(1, 6).map((l) => l.replace(/ \(from.*/, "")), [
      "  [T] job 0",
      "  [T] job 1",
      "  [T] job 2",
      "  [T] job 3",
      "  [T] job 4",
    ]);
    assert.equal(human[6], "  … plus 3 more");
    assert.match(human[7], /^supervisor: 0 urgent, 0 queued/);
    assert.equal(human.at(-1), "Total: 7 actionable message(s)");
  });
});

Deno.test("a dead REDIS_URL gives one clear line and exit 1", async () => {
  const sb = new Sandbox();
  try {
    await sb.init();
    const dead = { REDIS_URL: `unix://${sb.dir}/nothing-here.sock` };
    for (const args of [["send", "w", "hi"], ["inbox", "--all"]]) {
      const r = await sb.tt(args, { env: dead });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^tt: Failed to connect to configured Redis at unix:\/\/.*nothing-here/,
      );
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  } finally {
    sb.cleanup();
  }
});
