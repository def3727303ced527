/** Helpers for the usage tests: a town whose agents run the fake CLIs of tests/fixtures/clis. */
import { AgentTown } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";

const FIXTURES = `${ROOT}/tests/fixtures/clis`;

/**
 * A town with `extraToml` appended to its tinytown.toml, and the environment to spawn agents
 * with so their CLI is a fake (its state in `state`, a temp dir); `done` cleans both up.
 */
export async function fakeTown(extraToml = "", extraEnv: Record<string, string> = {}) {
  const at = await AgentTown.create();
  const path = `${at.sb.dir}/tinytown.toml`;
  if (extraToml) await Deno.writeTextFile(path, `${await Deno.readTextFile(path)}\n${extraToml}\n`);
  const state = await Deno.makeTempDir();
  const env = { PATH: `${FIXTURES}:${Deno.env.get("PATH")}`, FAKE_STATE: state, ...extraEnv };
  const done = async () => {
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  };
  return { at, state, env, path, done };
}
