/**
 * The designer → backend + frontend flow, scripted with tt's library API.
 *
 *   deno run -P examples/designer_flow.ts [town dir]
 *
 * The town must exist (`tt init`). Agents run the CLI in $TT_EXAMPLE_CLI (default: claude).
 */
import { Town, waitForIdle } from "../src/mod.ts";

const cli = Deno.env.get("TT_EXAMPLE_CLI") ?? "claude";
const town = await Town.connect(Deno.args[0]);
try {
  const designer = await town.spawnAgent("designer", cli, { role: "designer" });
  const backend = await town.spawnAgent("backend", cli, { role: "backend" });
  const frontend = await town.spawnAgent("frontend", cli, { role: "frontend" });

  const design = await designer.assign("Design the auth API schema in docs/auth-api.md");
  await waitForIdle(designer, { timeout: 30 * 60_000 });
  console.log(`design: ${(await town.task(design.id))?.result}`);

  // Both build on the design at the same time.
  const api = await backend.assign("Implement the auth endpoints of docs/auth-api.md");
  const ui = await frontend.assign("Build the login and signup pages for docs/auth-api.md");
  await waitForIdle([backend, frontend], { timeout: 60 * 60_000 });
  for (const { id } of [api, ui]) {
    const task = await town.task(id);
    console.log(`${task?.state}: ${task?.description} → ${task?.result}`);
  }
} finally {
  await town.close();
}
