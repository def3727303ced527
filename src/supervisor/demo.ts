/**
 * `tt demo`: a demo town in a temp directory with three agents running the demo agent CLI
 * shipped with tt (`tt demo-agent`), which does real, visible work: it writes files in its
 * worktree, commits them, and completes its task. No AI CLI needed.
 */
import { initTown, openTown, stopManagedServer, type TownContext } from "../core/town.ts";
import { sendControl, supervisorInfo } from "../core/control.ts";
import { waitForExit } from "../redis/server.ts";
import { TtError } from "../core/errors.ts";
import { agentLabel, getAgent, listAgents, resolveRecipient } from "../core/agents.ts";
import { spawnAgent, waitForAgents } from "../core/lifecycle.ts";
import { assignTask, getTask } from "../core/tasks.ts";
import { followEvents, lastEventId } from "../core/events.ts";
import type { TownEvent } from "../core/schemas.ts";

async function run(cmd: string, args: string[], cwd: string) {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
}

export interface DemoOptions {
  dir?: string;
  out: (line: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<string> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "tt-demo-" });
  const say = opts.out;
  await Deno.mkdir(dir, { recursive: true });
  await run("git", ["init", "-q", "-b", "main"], dir);
  await Deno.writeTextFile(
    `${dir}/README.md`,
    "# Demo project\n\nBuilt by three tt demo agents.\n",
  );
  await run("git", ["add", "README.md"], dir);
  await run("git", [
    "-c",
    "user.name=tt demo",
    "-c",
    "user.email=demo@tt.invalid",
    "commit",
    "-q",
    "-m",
    "Start",
  ], dir);
  // A name of its own: with a shared Redis (REDIS_URL), a second demo must not meet the first.
  const init = await initTown({ dir, name: `demo-${crypto.randomUUID().slice(0, 8)}` });
  say(`Demo town in ${init.root} (Redis: ${init.redisUrl})`);
  const t = await openTown({ town: init.root });
  const ac = new AbortController();
  let stopped = false;
  try {
    const cli = "tt demo-agent";
    for (
      const [name, role] of [["designer", "designer"], ["backend", "backend"], [
        "frontend",
        "frontend",
      ]]
    ) {
      const a = await spawnAgent(t, { name, cli, role, rounds: 5 });
      say(`spawned ${agentLabel(a)} in ${a.workdir ?? t.root}`);
    }
    const labels = new Map((await listAgents(t)).map((a) => [a.id, agentLabel(a)]));
    const from = await lastEventId(t); // fixed before assigning, so no event is missed
    const live = followEvents(t, from, (ev: TownEvent) => {
      if (
        !["task_assigned", "round_completed", "task_completed", "round_failed"].includes(ev.type)
      ) return;
      const who = ev.agent_id ? labels.get(ev.agent_id) ?? ev.agent_id.slice(0, 4) : "town";
      say(`  ${ev.ts.slice(11, 19)} ${who}: ${ev.message}`);
    }, ac.signal);
    const to = (ref: string) => resolveRecipient(t, ref);
    const design = await assignTask(t, await to("designer"), {
      description: "Design the auth API schema",
    });
    await waitForAgents(t, undefined, "idle", 120_000);
    const api = await assignTask(t, await to("backend"), {
      description: "Implement the auth endpoints",
    });
    const ui = await assignTask(t, await to("frontend"), { description: "Build the login page" });
    const r = await waitForAgents(t, undefined, "idle", 120_000);
    ac.abort();
    await live;
    say("");
    let allDone = r.met;
    for (const id of [design.id, api.id, ui.id]) {
      const task = await getTask(t, id);
      if (task?.state !== "completed") allDone = false;
      const who = task?.assigned_to ? await getAgent(t, task.assigned_to) : undefined;
      say(
        `${task?.state === "completed" ? "✓" : "✗"} ${task?.description} — ${
          who?.name ?? "nobody (back in the backlog)"
        }: ${task?.result ?? task?.state}`,
      );
    }
    say("");
    say(r.met ? "All agents are idle." : "Timed out waiting for the agents.");
    // Leave nothing running: the supervisor and the town's Redis (its data stays in .tt/).
    await stopTown(t, false);
    stopped = true;
    say(`The demo town is stopped; tt commands in ${init.root} start it again.`);
    say(`Look around:  cd ${init.root} && tt status && tt history && tt logs backend`);
    say(`Their work:   git -C ${init.root} log --oneline --all`);
    say(`Clean up:     tt --town ${init.root} stop && rm -rf ${init.root}`);
    if (!allDone) {
      throw new TtError(`the demo did not complete: see ${init.root}/.tt/logs and 'tt history'`);
    }
    return init.root;
  } finally {
    ac.abort();
    if (!stopped) {
      // The demo failed: stop what it started all the same, killing any running round.
      await stopTown(t, true).catch((e) =>
        say(`Could not stop the demo town (${e.message}): run 'tt --town ${init.root} stop'`)
      );
    }
  }
}

async function stopTown(t: TownContext, now: boolean) {
  const sup = await supervisorInfo(t);
  if (sup) {
    await sendControl(t, sup.host, { op: "shutdown", now }, 120);
    await waitForExit(sup.pid, 30_000);
  }
  if (await stopManagedServer(t) === "external") await t.close();
}

/** The demo agent CLI: reads the round prompt on stdin and does each assigned task for real. */
export async function demoAgent(): Promise<number> {
  const prompt = await new Response(Deno.stdin.readable).text();
  const name = Deno.env.get("TINYTOWN_AGENT_NAME") ?? "agent";
  const tasks = [...prompt.matchAll(/- Task ID: ([0-9a-f-]{36})\n\s*- Task: (.*)/g)];
  for (const [, id, description] of tasks) {
    const slug = description.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(
      0,
      40,
    );
    const file = `docs/${slug}.md`;
    await Deno.mkdir("docs", { recursive: true });
    await Deno.writeTextFile(
      file,
      `# ${description}\n\nWritten by the demo agent ${name} for task ${id}.\n\n` +
        `- [x] understand the task\n- [x] write this file\n- [ ] hand over to a real AI agent\n`,
    );
    await new Promise((r) => setTimeout(r, 300)); // so the live view has something to show
    const inGit = (await new Deno.Command("git", {
      args: ["rev-parse", "--git-dir"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
    if (inGit) {
      await run("git", ["add", file], ".");
      await run("git", [
        "-c",
        `user.name=${name}`,
        "-c",
        "user.email=demo@tt.invalid",
        "commit",
        "-q",
        "-m",
        description,
      ], ".");
    }
    const done = await new Deno.Command("tt", {
      args: [
        "task",
        "complete",
        id,
        "--result",
        `wrote ${file}${inGit ? " and committed it" : ""}`,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!done.success) return 1;
    console.log(`${name}: ${description} → ${file}`);
  }
  return 0;
}
