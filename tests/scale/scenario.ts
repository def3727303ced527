/**
 * The run both topology tests share: a town on the given Redis URL served by two hosts (two
 * supervisors: this machine's and TT_HOST=b's, one agent each), assigns, backlog claims and
 * completions; then the master is killed while both agents are in the middle of a round
 * (their fake CLIs wait at a gate, the tasks `running`) and a stream of `tt assign`s goes on
 * through the failover. Once the old master is back as a replica the gate opens. Every task
 * whose `tt assign` exited 0 (acknowledged) is then checked: still there (else lost) and
 * completed exactly once (task_completed events).
 */
import assert from "node:assert/strict";
import { Sandbox } from "../helpers.ts";
import { fakeCli } from "../agent_helpers.ts";
import { type startSentinel, waitFor } from "../../bench/lib/topology.ts";

interface TaskJson {
  id: string;
  state: string;
}

export interface Outcome {
  acked: number;
  refused: number;
  /** Acknowledged tasks that were running when the master died. */
  inFlight: number;
  lost: string[];
  twice: string[];
  notCompleted: string[];
}

const B = { env: { TT_HOST: "b" } };

/** Adds `line` under `[section]` in the town's tinytown.toml. */
async function setting(sb: Sandbox, section: string, line: string) {
  const path = `${sb.dir}/tinytown.toml`;
  const text = await Deno.readTextFile(path);
  const out = text.replace(new RegExp(`^\\[${section}\\]$`, "m"), `[${section}]\n${line}`);
  assert.notEqual(out, text, `no [${section}] in tinytown.toml`);
  await Deno.writeTextFile(path, out);
}

/** Agents that do not stop after 10 rounds (the stream of assigns may need more). */
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

/** Bounded polling for a state (the limit only ends a broken run). */
async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  limitMs = 120_000,
) {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `failover` kills the master holding the town (and resolves once a new one serves it);
 * `recover` brings the killed server back (as a replica).
 */
export async function failoverRun(
  url: string,
  opts: {
    waitReplicas: number;
    /** The town's sandbox (default `new Sandbox(url)`; tls_test's also trusts a test CA). */
    sandbox?: (url: string) => Sandbox;
    failover: (town: string) => Promise<void>;
    recover: () => Promise<void>;
  },
): Promise<Outcome> {
  const sb = opts.sandbox?.(url) ?? new Sandbox(url);
  const gate = Deno.makeTempDirSync({ prefix: "tt-gate-" });
  const open = () => Deno.writeTextFileSync(`${gate}/open`, "");
  const tasks = async () => await sb.json<TaskJson[]>(["task", "list"]);
  try {
    const town = await sb.init();
    if (opts.waitReplicas) await setting(sb, "redis", `wait_replicas = ${opts.waitReplicas}`);
    await manyRounds(sb);
    open();
    await sb.ok(["spawn", "w1", "--cli", fakeCli("gate", gate)]);
    await sb.ok(["spawn", "w2", "--host", "b", "--cli", fakeCli("gate", gate)]);
    await sb.ok(["start"], B);
    const acked: string[] = [];
    // Before the failover: a direct assign to each host's agent, and backlog claims.
    for (const agent of ["w1", "w2"]) {
      acked.push((await sb.json<TaskJson>(["assign", agent, `before, for ${agent}`])).id);
    }
    const backlog = [];
    for (let i = 0; i < 2; i++) backlog.push(await sb.json<TaskJson>(["backlog", "add", `b${i}`]));
    // Idle agents claim backlog work themselves; an explicit claim races them (one wins).
    for (const [i, t] of backlog.entries()) {
      const r = await sb.tt(["backlog", "claim", t.id, i % 2 ? "w2" : "w1"]);
      if (r.code !== 0) assert.match(r.stderr, /not in the backlog/);
    }
    acked.push(...backlog.map((t) => t.id));
    await sb.ok(["wait", "--timeout", "120"]);
    assert.deepEqual(
      (await tasks()).filter((t) => acked.includes(t.id)).map((t) => t.state),
      acked.map(() => "completed"),
    );

    // Both agents in the middle of a round (their CLI waits at the gate) when the master dies.
    Deno.removeSync(`${gate}/open`);
    const held: string[] = [];
    for (const agent of ["w1", "w2"]) {
      held.push((await sb.json<TaskJson>(["assign", agent, `held by ${agent}`])).id);
    }
    acked.push(...held);
    await until("both held tasks running", async () => {
      const running = (await tasks()).filter((t) => held.includes(t.id) && t.state === "running");
      return running.length === held.length;
    });

    // A stream of assigns through the failover, until two more are acknowledged after it.
    let refused = 0;
    let stop = false;
    let failed: unknown;
    let n = 0;
    const stream = (async () => {
      while (!stop) {
        const id = await assignOne(sb, n % 2 ? "w2" : "w1", `during ${n++}`);
        if (id) acked.push(id);
        else refused++;
      }
    })().catch((e) => failed = e);
    const streamed = (count: number) => () => {
      if (failed) throw failed;
      return acked.length >= count;
    };
    try {
      await until("an assign acknowledged before the kill", streamed(acked.length + 1));
      await opts.failover(town);
      await opts.recover();
      open();
      await until("two assigns acknowledged after the failover", streamed(acked.length + 2));
    } finally {
      stop = true;
      await stream;
    }
    if (failed) throw failed;

    // Everything acknowledged is there and gets done once.
    await sb.ok(["wait", "--timeout", "120"]);
    const byId = new Map((await tasks()).map((t) => [t.id, t]));
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
    return {
      acked: acked.length,
      refused,
      inFlight: held.length,
      lost: acked.filter((id) => !byId.has(id)),
      twice: acked.filter((id) => (completions.get(id) ?? 0) > 1),
      notCompleted: acked.filter((id) => byId.has(id) && byId.get(id)!.state !== "completed")
        .map((id) => `${id} ${byId.get(id)!.state}`),
    };
  } finally {
    // TT_SCALE_DEBUG=<prefix>: status, history and every log of the run, passed or failed.
    const dbg = Deno.env.get("TT_SCALE_DEBUG");
    if (dbg) {
      const d = `${dbg}.${Date.now()}`;
      await Deno.mkdir(d, { recursive: true });
      const st = await sb.tt(["status"]);
      const hist = await sb.tt(["history"]);
      await Deno.writeTextFile(
        `${d}/status.txt`,
        st.stdout + st.stderr + hist.stdout + hist.stderr,
      );
      for await (const f of Deno.readDir(`${sb.dir}/.tt/logs`)) {
        await Deno.copyFile(`${sb.dir}/.tt/logs/${f.name}`, `${d}/${f.name}`).catch(() => {});
      }
    }
    open(); // a CLI still at the gate finishes
    await sb.tt(["stop", "--all", "--now"]).catch(() => {});
    Deno.removeSync(gate, { recursive: true });
    sb.cleanup();
  }
}

/**
 * failoverRun's `failover` and `recover` for a Sentinel set: kill the master, wait until the
 * sentinels name a promoted replica; then bring the old master back, as a replica.
 */
export function sentinelFailover(s: Awaited<ReturnType<typeof startSentinel>>) {
  const masterPort = async () =>
    Number(
      (await s.cli(s.sentinels[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"))
        .split("\n")[1],
    );
  return {
    failover: async () => {
      await s.kill(s.master);
      await waitFor("the sentinels promote the replica", async () => {
        const now = await masterPort();
        return now !== s.master &&
          (await s.cli(now, "INFO", "replication")).includes("role:master");
      });
    },
    recover: async () => {
      s.restart(s.master);
      // A sentinel converts a returning old master once it has reported itself a master for
      // 8 s, read on its INFO every 10 s (sentinel.c): ~20 s alone, over a minute once in a
      // loaded suite run.
      await waitFor(
        "the old master back as a replica",
        async () =>
          (await s.cli(s.master, "INFO", "replication")).includes("master_link_status:up"),
        180_000,
      );
    },
  };
}
