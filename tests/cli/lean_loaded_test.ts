/**
 * What a real short command evaluates, module by module (Deno's debug log names each ES module it
 * runs): `tt assign`, `status`, `task list`, `send`… on the lean path, without this host's
 * supervisor, load no npm package at all: not commander, ioredis or zod, each of which costs
 * about as much as the whole command (commander ~40 ms, ioredis ~55 ms, zod ~20 ms plus ~20 ms of
 * schemas), and not even the TOML parser (3–5 ms) while the config cache holds the file. The
 * static check (lean_graph_test.ts) cannot see a dynamic import() that brings one back.
 */
import assert from "node:assert/strict";
import { denoRunArgs, Sandbox } from "../helpers.ts";
import { mayRunClaude } from "../../src/cli/agent.ts";
import { PRESETS } from "../../src/core/presets.ts";
import { FAMILIES, familyOf } from "../../src/supervisor/clis/mod.ts";
import type { TownConfig } from "../../src/core/config.ts";

/** An npm package's module (its name is group 1). */
const HEAVY = /\/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/@]+)\/\d/;

/** The modules `tt <args>` evaluated, in order (file URLs), and its exit code. */
async function loaded(sb: Sandbox, args: string[], env: Record<string, string> = {}) {
  const [run, ...rest] = denoRunArgs("main.ts");
  const out = await new Deno.Command(Deno.execPath(), {
    // -q would quiet the log again.
    args: [run, "-L", "debug", ...rest.filter((a) => a !== "-q"), ...args],
    cwd: sb.dir,
    env: sb.env({ TT_OPERATOR_CHANNEL: "0", ...env }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stderr);
  const mods = [
    ...log.matchAll(/(?:V8 code cache hit for|Updating V8 code cache for) ES module: (\S+),/g),
  ]
    .map((m) => m[1]);
  return { code: out.code, mods, log };
}

const heavyIn = (
  mods: string[],
) => [...new Set(mods.filter((m) => HEAVY.test(m)).map((m) => HEAVY.exec(m)![1]))];

Deno.test("short commands evaluate no npm package: no commander, ioredis, zod or TOML parser (lean path, no supervisor here)", async () => {
  const sb = new Sandbox();
  try {
    await sb.init();
    // An agent on another host: no supervisor starts on this one.
    await sb.ok(["spawn", "backend", "--cli", "true", "--host", "elsewhere"]);
    await sb.ok(["assign", "backend", "warm up"]);
    const commands = [
      ["assign", "backend", "Build the REST API"],
      ["status"],
      ["status", "--tasks"],
      ["list"],
      ["task", "list"],
      ["send", "backend", "hello"],
      ["backlog", "list"],
      ["history"],
      ["task", "show", "nope"], // an error's report too
      ["spawn", "frontend", "--cli", "true", "--host", "elsewhere"], // as root too
    ];
    for (const args of commands) {
      const { code, mods } = await loaded(sb, args);
      assert.ok(
        mods.some((m) => m.endsWith("/src/cli/lean.ts")),
        `tt ${args.join(" ")}: the log names its modules`,
      );
      assert.equal(code, args[2] === "nope" ? 1 : 0, `tt ${args.join(" ")} exit code`);
      assert.deepEqual(heavyIn(mods), [], `tt ${args.join(" ")} evaluated these`);
    }
    // The check sees them when they load: commander's path loads commander and ioredis, and an
    // edited tinytown.toml is validated again, with zod.
    const full = await loaded(sb, ["assign", "backend", "the long way"], { TT_LEAN: "0" });
    assert.equal(full.code, 0);
    assert.deepEqual(heavyIn(full.mods).sort(), [
      "@commander-js/extra-typings",
      "commander",
      "ioredis",
    ]);
    const file = `${sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)) + "\n# edited\n");
    const edited = await loaded(sb, ["assign", "backend", "after an edit"]);
    assert.equal(edited.code, 0);
    assert.deepEqual(heavyIn(edited.mods).sort(), ["smol-toml", "zod"]);
  } finally {
    sb.cleanup();
  }
});

const ROOT_NOTE = "claude refuses --dangerously-skip-permissions as root";
const CLI_FAMILIES = "/src/supervisor/cli.ts";

Deno.test({
  name:
    "tt spawn as root: claude's refusal is foretold, and the CLI families load only for a command that may be claude",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const sb = new Sandbox();
    try {
      await sb.init(); // [agent] sandbox = "off"
      const file = `${sb.dir}/tinytown.toml`;
      await Deno.writeTextFile(
        file,
        (await Deno.readTextFile(file)) + '\n[agent_clis.mine]\ncommand = "claude -p"\n',
      );
      for (const [cli, claude] of [["true", false], ["claude", true], ["mine", true]] as const) {
        const run = await loaded(sb, ["spawn", `a-${cli}`, "--cli", cli, "--host", "elsewhere"]);
        assert.equal(run.code, 0, run.log.slice(-400));
        assert.equal(run.log.includes(ROOT_NOTE), claude, `--cli ${cli}: the note`);
        assert.equal(run.mods.some((m) => m.endsWith(CLI_FAMILIES)), claude, `--cli ${cli}`);
      }
    } finally {
      sb.cleanup();
    }
  },
});

Deno.test("every preset of claude's family is one mayRunClaude sees without the families", () => {
  const config = { default_cli: "true", agent_clis: {} } as unknown as TownConfig;
  const claudes = Object.entries(PRESETS).filter(([, p]) =>
    (FAMILIES[p.family] ?? familyOf(p.command)).name === "claude"
  );
  assert.ok(claudes.length >= 1);
  for (const [name] of claudes) assert.ok(mayRunClaude(config, name), name);
  assert.ok(!mayRunClaude(config, "codex"));
});
