/**
 * Black-box tests of `tt conductor` (with a fake conductor CLI: it records its argument, working
 * directory and environment, and uses the `tt` on its PATH) and of `tt demo` end to end.
 */
import assert from "node:assert/strict";
import { AgentTown, fakeCli } from "../agent_helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { Message } from "../../src/core/schemas.ts";
import { ROOT, Sandbox } from "../helpers.ts";

const FAKE_CONDUCTOR = `${ROOT}/tests/fixtures/fake-conductor.sh`;

/** Sets top-level keys (conductor_cli…) and appends sections to the town's tinytown.toml. */
async function configure(at: AgentTown, conductorCli?: string, extra = "") {
  const path = `${at.sb.dir}/tinytown.toml`;
  let text = await Deno.readTextFile(path);
  if (conductorCli !== undefined) {
    text = text.replace(
      /^# conductor_cli = .*$/m,
      `conductor_cli = ${JSON.stringify(conductorCli)}`,
    );
  }
  await Deno.writeTextFile(path, text + extra);
}

const fakeConductor = (state: string) => `FAKE_STATE='${state}' sh '${FAKE_CONDUCTOR}'`;
const read = (path: string) => Deno.readTextFile(path).then((s) => s.trim());

Deno.test("conductor: writes the town's context, runs conductor_cli in the town with tt on PATH, returns its exit code", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  try {
    const root = await Deno.realPath(at.sb.dir);
    await at.sb.ok(["spawn", "w1", "--role", "backend", "--cli", fakeCli("complete")]);
    await at.sb.ok(["wait", "w1", "--timeout", "60"]);
    await at.sb.ok(["interrupt", "w1"]); // paused: the conductor's message stays in its inbox
    await at.sb.ok(["backlog", "add", "later"]);
    await at.sb.ok(["send", "conductor", "a question for you", "--query", "--from", "w1"]);
    await configure(at, fakeConductor(state));
    const w1 = await resolveAgent(at.t, "w1");

    const r = await at.sb.tt(["conductor"], {
      // An agent's identity in the caller's environment must not leak into the conductor.
      env: {
        FAKE_EXIT: "3",
        FAKE_SEND_TO: "w1",
        TINYTOWN_AGENT_ID: w1.id,
        TINYTOWN_AGENT_NAME: "w1",
      },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /conductor context in .*\.tt\/conductor_context\.md; running: /);

    const context = await Deno.readTextFile(`${root}/.tt/conductor_context.md`);
    assert.equal((await Deno.stat(`${root}/.tt/conductor_context.md`)).mode! & 0o777, 0o600);
    assert.equal(await read(`${state}/arg`), context.trim(), "the context is the CLI's argument");
    assert.match(context, /^# Tinytown Conductor\n/);
    assert.match(context, new RegExp(`Tinytown "${at.name}" \\(${root}\\)`));
    assert.match(context, new RegExp(`- \\w+ \\[backend\\] \\(${w1.id.slice(0, 4)}\\): paused`));
    assert.match(context, /- Backlog: 1 task\(s\)/);
    assert.match(context, /- Your inbox \(questions and reports from agents\): 1 message\(s\)/);
    assert.match(context, /## Resuming/);

    assert.equal(await read(`${state}/pwd`), root);
    assert.equal(await read(`${state}/tt_town`), root);
    assert.equal(await read(`${state}/agent_id`), "unset");
    assert.equal(await read(`${state}/tt_path`), `${root}/.tt/bin/tt`);
    const status = JSON.parse(await Deno.readTextFile(`${state}/status.json`));
    assert.equal(status.town, at.name);
    const inbox = (await at.t.redis.lrange(at.t.keys.inbox(w1.id), 0, -1))
      .map((s) => JSON.parse(s) as Message);
    assert.deepEqual(inbox.map((m) => [m.body, m.from]), [["from the conductor", SUPERVISOR_ID]]);
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("conductor: an [agent_clis] command gets {prompt_file}; --cli overrides conductor_cli; a fresh town gets the fresh-start context", async () => {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  try {
    const root = await Deno.realPath(at.sb.dir);
    await configure(
      at,
      "cond",
      `\n[agent_clis.cond]\ncommand = ${JSON.stringify(`${fakeConductor(state)} {prompt_file}`)}\n`,
    );
    const r = await at.sb.tt(["conductor"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await read(`${state}/arg`), `${root}/.tt/conductor_context.md`);
    const context = await Deno.readTextFile(`${root}/.tt/conductor_context.md`);
    assert.match(context, /- No agents yet\./);
    assert.match(context, /## Fresh start/);

    await configure(at, "no-such-conductor-cli");
    await Deno.remove(`${state}/arg`);
    const over = await at.sb.tt(["conductor", "--cli", fakeConductor(state)]);
    assert.equal(over.code, 0, over.stderr);
    assert.equal(await read(`${state}/arg`), context.trim());
  } finally {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("conductor without an installed CLI: one line saying which, exit 1, nothing run", async () => {
  const at = await AgentTown.create();
  try {
    const root = await Deno.realPath(at.sb.dir);
    const check = async (args: string[], re: RegExp, env: Record<string, string> = {}) => {
      const r = await at.sb.tt(args, { env });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^tt: cannot start the conductor: /);
      assert.match(lines[0], re);
      assert.equal(r.stdout, "");
      const written = await Deno.stat(`${root}/.tt/conductor_context.md`).then(
        () => true,
        () => false,
      );
      assert.equal(written, false);
    };
    await configure(at, "no-such-conductor-cli");
    await check(["conductor"], /'no-such-conductor-cli' \(CLI 'no-such-conductor-cli'\)/);
    await check(["conductor", "--cli", "/nonexistent/bin/cli --x"], /'\/nonexistent\/bin\/cli'/);
    await check(["conductor", "--cli", "codex"], /'codex' \(CLI 'codex'\)/, {
      PATH: "/nonexistent",
    });
    // The default: default_cli (claude) when conductor_cli is unset.
    await configure(at, undefined);
    const text = await Deno.readTextFile(`${at.sb.dir}/tinytown.toml`);
    await Deno.writeTextFile(
      `${at.sb.dir}/tinytown.toml`,
      text.replace(/^conductor_cli = .*$/m, "# conductor_cli unset"),
    );
    await check(["conductor"], /'claude' \(CLI 'claude'\)/, { PATH: "/nonexistent" });
  } finally {
    await at.cleanup();
  }
});

/** Processes (not zombies) whose command line mentions `dir`. */
async function processesOf(dir: string): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,stat=,args="], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim())
    .filter((l) => l.includes(dir) && !/^\d+\s+Z/.test(l));
}

Deno.test("demo: three demo agents do real work in their worktrees, results printed, exit 0, nothing left running", async () => {
  const sb = new Sandbox(null); // the town gets its own Redis, as for a first-time user
  const dir = `${sb.dir}/demo`;
  try {
    const started = Date.now();
    const r = await sb.tt(["demo", "--dir", dir], { cwd: sb.home });
    const secs = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(secs < 60, `tt demo took ${secs} s`);
    const root = await Deno.realPath(dir);
    const out = r.stdout;
    for (
      const task of [
        "Design the auth API schema",
        "Implement the auth endpoints",
        "Build the login page",
      ]
    ) {
      assert.match(out, new RegExp(`✓ ${task} — \\w+: wrote docs/[a-z-]+\\.md and committed it`));
    }
    assert.match(out, /All agents are idle\./);
    assert.match(out, new RegExp(`Look around: +cd ${root} && tt status`));
    assert.match(out, new RegExp(`Their work: +git -C ${root} log`));
    assert.deepEqual(await processesOf(root), [], "supervisor and redis-server stopped");

    // The work is real: one commit per agent on its branch, the files in its worktree.
    for (const agent of ["designer", "backend", "frontend"]) {
      const log = await new Deno.Command("git", {
        args: ["log", "--format=%an %s", `tt/${agent}`, "-1"],
        cwd: root,
        stdout: "piped",
      }).output();
      assert.match(new TextDecoder().decode(log.stdout), new RegExp(`^${agent} `));
    }
    // And the town can be looked at afterwards (its Redis starts again from .tt/).
    const tasks = await sb.json<{ state: string }[]>(["task", "list"], { cwd: root });
    assert.deepEqual(tasks.map((x) => x.state), ["completed", "completed", "completed"]);
    const logs = await sb.ok(["logs", "backend"], { cwd: root });
    assert.match(logs.stdout, /backend: Implement the auth endpoints → docs\//);
    await sb.ok(["stop"], { cwd: root });
    assert.deepEqual(await processesOf(root), []);
  } finally {
    for (const line of await processesOf(sb.dir)) {
      try {
        Deno.kill(Number(line.split(/\s+/)[0]), "SIGKILL");
      } catch { /* gone */ }
    }
    sb.cleanup();
  }
});

Deno.test("demo on a shared Redis (REDIS_URL) runs twice: each demo town has a name of its own", async () => {
  const sb = new Sandbox(); // REDIS_URL: the test Redis
  try {
    const names: string[] = [];
    for (const n of [1, 2]) {
      const dir = `${sb.dir}/demo${n}`;
      const r = await sb.tt(["demo", "--dir", dir], { cwd: sb.home });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal((r.stdout.match(/^✓ /gm) ?? []).length, 3);
      names.push((await Deno.readTextFile(`${dir}/tinytown.toml`)).match(/^name = "(.*)"$/m)![1]);
      assert.deepEqual(await processesOf(await Deno.realPath(dir)), []);
    }
    assert.notEqual(names[0], names[1]);
  } finally {
    sb.cleanup();
  }
});
