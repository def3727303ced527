/**
 * The run both topology tests share: a town on the given Redis URL, two fake agents, assigns,
 * backlog claims and completions, then a master killed in the middle of a stream of assigns.
 * Every task whose `tt assign` exited 0 (acknowledged) is then checked: still there (else lost)
 * and completed exactly once (task_completed events).
 */
import assert from "node:assert/strict";
import { Sandbox } from "../helpers.ts";
import { fakeCli } from "../agent_helpers.ts";

interface TaskJson {
  id: string;
  state: string;
}

export interface Outcome {
  acked: number;
  refused: number;
  lost: string[];
  twice: string[];
  notCompleted: string[];
}

/** Adds `line` under `[redis]` in the town's tinytown.toml. */
async function redisSetting(sb: Sandbox, line: string) {
  const path = `${sb.dir}/tinytown.toml`;
  const text = await Deno.readTextFile(path);
  await Deno.writeTextFile(path, text.replace(/^\[redis\]$/m, `[redis]\n${line}`));
}

/** Agents that do not stop after 10 rounds (the stream of assigns needs more). */
async function manyRounds(sb: Sandbox) {
  const path = `${sb.dir}/tinytown.toml`;
  const text = await Deno.readTextFile(path);
  const out = text.replace(/^max_rounds\s*=.*$/m, "max_rounds = 10000");
  assert.notEqual(out, text, "no max_rounds line in tinytown.toml");
  await Deno.writeTextFile(path, out);
}

async function assignOne(sb: Sandbox, agent: string, desc: string): Promise<string | undefined> {
  const r = await sb.tt(["assign", agent, desc, "--json"]);
  if (r.code !== 0) {
    // Refused during the failover: one line, and not acknowledged.
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    return undefined;
  }
  return (JSON.parse(r.stdout) as TaskJson).id;
}

/**
 * `failover` kills the master holding the town (and resolves once a new one serves it);
 * `recover` brings the killed server back (as a replica).
 */
export async function failoverRun(
  url: string,
  opts: {
    waitReplicas: number;
    failover: (town: string) => Promise<void>;
    recover: () => Promise<void>;
  },
): Promise<Outcome> {
  const sb = new Sandbox(url);
  try {
    const town = await sb.init();
    if (opts.waitReplicas) await redisSetting(sb, `wait_replicas = ${opts.waitReplicas}`);
    await manyRounds(sb);
    await sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    await sb.ok(["spawn", "w2", "--cli", fakeCli("complete")]);
    const acked: string[] = [];
    // Before the failover: direct assigns and backlog claims, all completed.
    for (let i = 0; i < 3; i++) {
      acked.push((await sb.json<TaskJson>(["assign", i % 2 ? "w2" : "w1", `before ${i}`])).id);
    }
    const backlog = [];
    for (let i = 0; i < 3; i++) backlog.push(await sb.json<TaskJson>(["backlog", "add", `b${i}`]));
    // Idle agents claim backlog work themselves; an explicit claim races them (one wins).
    for (const [i, t] of backlog.entries()) {
      const r = await sb.tt(["backlog", "claim", t.id, i % 2 ? "w2" : "w1"]);
      if (r.code !== 0) assert.match(r.stderr, /not in the backlog/);
    }
    acked.push(...backlog.map((t) => t.id));
    await sb.ok(["wait", "--timeout", "120"]);
    const first = await sb.json<TaskJson[]>(["task", "list"]);
    assert.deepEqual(
      first.filter((t) => acked.includes(t.id)).map((t) => t.state),
      acked.map(() => "completed"),
    );

    // The failover, in the middle of a stream of assigns.
    let refused = 0;
    let stop = false;
    let n = 0;
    const stream = (async () => {
      const deadline = Date.now() + 120_000;
      while (!stop && Date.now() < deadline) {
        const id = await assignOne(sb, n % 2 ? "w2" : "w1", `during ${n++}`);
        if (id) acked.push(id);
        else refused++;
      }
    })();
    const before = acked.length;
    const deadline = Date.now() + 60_000;
    while (acked.length < before + 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await opts.failover(town);
    await opts.recover();
    const after = acked.length;
    while (acked.length < after + 3 && Date.now() < deadline + 90_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    stop = true;
    await stream;
    assert.ok(acked.length >= after + 3, `only ${acked.length - after} assigns after failover`);

    // Everything acknowledged is there and gets done once.
    await sb.ok(["wait", "--timeout", "180"]);
    const tasks = new Map((await sb.json<TaskJson[]>(["task", "list"])).map((t) => [t.id, t]));
    const events = await sb.json<{ type: string; task_id?: string }[]>([
      "events",
      "--count",
      "10000",
    ]);
    const completions = new Map<string, number>();
    for (const e of events) {
      if (e.type === "task_completed" && e.task_id) {
        completions.set(e.task_id, (completions.get(e.task_id) ?? 0) + 1);
      }
    }
    const debug = Deno.env.get("TT_SCALE_DEBUG");
    if (debug) {
      const st = await sb.tt(["status"]);
      const hist = await sb.tt(["history"]);
      await Deno.writeTextFile(debug, st.stdout + st.stderr + hist.stdout + hist.stderr);
      await Deno.copyFile(`${sb.dir}/.tt/logs/supervisor.log`, debug + ".sup").catch(() => {});
    }
    await sb.tt(["stop", "--now"]);
    return {
      acked: acked.length,
      refused,
      lost: acked.filter((id) => !tasks.has(id)),
      twice: acked.filter((id) => (completions.get(id) ?? 0) > 1),
      notCompleted: acked.filter((id) => tasks.has(id) && tasks.get(id)!.state !== "completed")
        .map((id) => `${id} ${tasks.get(id)!.state}`),
    };
  } finally {
    await sb.tt(["stop", "--now"]).catch(() => {});
    sb.cleanup();
  }
}
