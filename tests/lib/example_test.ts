/** The README's library example is a real file, and it runs. */
import assert from "node:assert/strict";
import { AgentTown, fakeCli } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";
import { listTasks } from "../../src/core/tasks.ts";

const EXAMPLE = "examples/designer_flow.ts";

Deno.test("the README shows examples/designer_flow.ts as it is", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const code = await Deno.readTextFile(`${ROOT}/${EXAMPLE}`);
  assert.ok(readme.includes("```ts\n" + code + "```"), `README must quote ${EXAMPLE} verbatim`);
});

Deno.test("examples/designer_flow.ts runs the three agents to completion", async () => {
  const at = await AgentTown.create();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-q", "-P", "--no-prompt", EXAMPLE, at.sb.dir],
      cwd: ROOT,
      env: at.sb.env({ TT_EXAMPLE_CLI: fakeCli("complete") }),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(stdout.trim().split("\n"), [
      "design: done by designer",
      "completed: Implement the auth endpoints of docs/auth-api.md → done by backend",
      "completed: Build the login and signup pages for docs/auth-api.md → done by frontend",
    ]);
    const tasks = await listTasks(at.t);
    assert.deepEqual(tasks.map((t) => t.state), ["completed", "completed", "completed"]);
  } finally {
    await at.cleanup();
  }
});
