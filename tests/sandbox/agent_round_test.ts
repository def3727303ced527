/**
 * The sandbox wired into real rounds: an agent of a town with `[agent] sandbox = "on"` runs its
 * CLI in the sandbox, reaches the town only through its channel (its report lands), cannot read
 * the operator's ~/.ssh or see .tt/, writes its working directory but nothing outside it, and
 * `tt status --deep` says it ran sandboxed.
 */
import assert from "node:assert/strict";
import { AgentTown } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";
import { probeSandbox } from "../../src/supervisor/sandbox/mod.ts";

const probe = await probeSandbox();

Deno.test({
  name: "sandbox: a round runs sandboxed, reports through its channel, sees no ~/.ssh or .tt/",
  ignore: !probe.ok,
  async fn() {
    const at = await AgentTown.create('sandbox = "on"');
    try {
      const home = at.sb.home;
      await Deno.mkdir(`${home}/.ssh`, { recursive: true });
      await Deno.writeTextFile(`${home}/.ssh/id_ed25519`, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
      const cli = `sh ${ROOT}/tests/fixtures/sandbox-agent.sh ${home} ${at.sb.dir}`;
      await at.sb.ok(["spawn", "s1", "--cli", cli]);
      const task = await at.sb.json<{ id: string }>(["assign", "s1", "look around"]);
      await at.sb.ok(["wait", "s1", "--timeout", "120"]);
      const shown = await at.sb.json<{ state: string; result?: string }>(["task", "show", task.id]);
      assert.equal(shown.state, "completed", JSON.stringify(shown));
      assert.equal(
        shown.result,
        "sandbox=1 ssh=[] tt=[] wrote=yes",
        "what the agent saw from inside its sandbox",
      );
      await Deno.stat(`${at.sb.dir}/agent-file.txt`); // its work reached the host
      // Its write to the operator's home landed in the sandbox's scratch, not on the host.
      await assert.rejects(Deno.stat(`${home}/escaped`));
      const deep = await at.sb.ok(["status", "--deep"]);
      assert.match(deep.stdout, /, sandboxed/);
    } finally {
      await at.cleanup();
    }
  },
});

Deno.test({
  name: 'sandbox: with sandbox = "off" the same agent sees everything, and status says so',
  ignore: !probe.ok,
  async fn() {
    const at = await AgentTown.create();
    try {
      const home = at.sb.home;
      await Deno.mkdir(`${home}/.ssh`, { recursive: true });
      await Deno.writeTextFile(`${home}/.ssh/id_ed25519`, "KEY\n");
      const cli = `sh ${ROOT}/tests/fixtures/sandbox-agent.sh ${home} ${at.sb.dir}`;
      await at.sb.ok(["spawn", "s1", "--cli", cli]);
      const task = await at.sb.json<{ id: string }>(["assign", "s1", "look around"]);
      await at.sb.ok(["wait", "s1", "--timeout", "120"]);
      const shown = await at.sb.json<{ result?: string }>(["task", "show", task.id]);
      assert.match(
        shown.result ?? "",
        /^sandbox=none ssh=\[KEY\] tt=\[\S+\] wrote=yes$/,
      );
      assert.match((await at.sb.ok(["status", "--deep"])).stdout, /NOT sandboxed/);
      await Deno.stat(`${home}/escaped`); // without the sandbox it could
    } finally {
      await at.cleanup();
    }
  },
});
