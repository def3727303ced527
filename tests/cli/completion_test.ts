/**
 * Shell completion, black box: the scripts that `tt completion bash|zsh|fish` prints are loaded in
 * the real shells and their completion functions called the way the shell calls them (COMP_WORDS /
 * COMP_CWORD for bash, words/CURRENT for zsh, `complete -C` for fish).
 */
import assert from "node:assert/strict";
import { Option } from "@commander-js/extra-typings";
import { ROOT, Sandbox, testRedisUrl, ttCommand, withAgents } from "../helpers.ts";
import { assignTask } from "../../src/core/tasks.ts";
import { resolveAgent, toRecipient } from "../../src/core/agents.ts";
import { shortTaskId } from "../../src/core/tasks.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { completionModel, completionScript } from "../../src/cli/completion-scripts.ts";
import { findExecutable } from "../../src/core/doctor/clis.ts";
import { managedPaths, pingSocket } from "../../src/redis/server.ts";
import { CLI_PRESETS } from "../../src/core/presets.ts";

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** A directory with a `tt` that runs this checkout (as the shell would find it on PATH). */
function ttBin(): string {
  const bin = Deno.makeTempDirSync({ prefix: "tt-bin-" });
  const { cmd, args } = ttCommand();
  Deno.writeTextFileSync(`${bin}/tt`, `#!/bin/sh\nexec ${[cmd, ...args].map(q).join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  return bin;
}

async function sh(
  shell: string,
  script: string,
  sb: Sandbox,
  bin: string,
  cwd = sb.dir,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(shell, {
    args: ["-c", script],
    cwd,
    env: { ...sb.env(), PATH: `${bin}:${Deno.env.get("PATH")}`, DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const SEP = "----";

/** Loads the bash script once and runs the completion function for each command line. */
async function bashCompletions(sb: Sandbox, bin: string, lines: string[][], cwd?: string) {
  const calls = lines.map((words) =>
    `COMP_WORDS=(${words.map(q).join(" ")}); COMP_CWORD=${
      words.length - 1
    }; _tt; printf '%s\\n' "\${COMPREPLY[@]}" ${SEP}`
  );
  const r = await sh(
    "bash",
    `source <(tt completion bash) || exit 9\n${calls.join("\n")}`,
    sb,
    bin,
    cwd,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return r.stdout.split(`${SEP}\n`).slice(0, lines.length).map((b) =>
    b.split("\n").filter((w) => w).sort()
  );
}

Deno.test("bash: the script loads, and a simulated completion proposes commands, flags, choices, agent names and task ids", async () => {
  await withAgents(["backend", "docs"], async ({ sb, t }) => {
    const bin = ttBin();
    try {
      const loaded = await sh("bash", "source <(tt completion bash)", sb, bin);
      assert.deepEqual([loaded.code, loaded.stderr], [0, ""]);
      const task = await assignTask(t, toRecipient(await resolveAgent(t, "backend")), {
        description: "open work",
      });
      const got = await bashCompletions(sb, bin, [
        ["tt", "as"],
        ["tt", "assign", ""],
        ["tt", "assign", "b"],
        ["tt", "assign", "backend", ""],
        ["tt", "task", "c"],
        ["tt", "task", "complete", ""],
        ["tt", "kill", "backend", ""],
        ["tt", "send", "co"],
        ["tt", "wait", "--until", ""],
        ["tt", "spawn", "x", "--cli", "co"],
        ["tt", "spawn", "x", "--cli", "=", "aid"],
        ["tt", "status", "--j"],
        ["tt", "--json", "sta"],
      ]);
      assert.deepEqual(got, [
        ["assign"],
        ["backend", "docs"],
        ["backend"],
        [], // the description is free text
        ["cancel", "complete", "current"],
        [shortTaskId(task.id)],
        ["backend", "docs"],
        ["conductor"],
        ["idle", "stopped"],
        ["codex", "codex-mini", "copilot"],
        ["aider"],
        ["--json"],
        ["start", "status"],
      ]);
      // --town on the line is passed on to the live lookup, from a directory that is no town.
      const elsewhere = Deno.makeTempDirSync({ prefix: "tt-elsewhere-" });
      try {
        const [names] = await bashCompletions(
          sb,
          bin,
          [["tt", "--town", sb.dir, "kill", ""]],
          elsewhere,
        );
        assert.deepEqual(names, ["backend", "docs"]);
        const [none] = await bashCompletions(sb, bin, [["tt", "kill", ""]], elsewhere);
        assert.deepEqual(none, []);
      } finally {
        Deno.removeSync(elsewhere, { recursive: true });
      }
    } finally {
      Deno.removeSync(bin, { recursive: true });
    }
  });
});

Deno.test("completion scripts come from the command tree: a new command and its arguments are completed", () => {
  const program = buildProgram();
  program.command("zzz-new")
    .argument("<agent>")
    .option("--mode <mode>", "a mode")
    .addOption(new Option("--shade <shade>").choices(["light", "dark"]));
  const node = completionModel(program as never).find((n) => n.path === "tt zzz-new");
  assert.ok(node);
  assert.deepEqual(node.args, ["@agents"]);
  assert.deepEqual([node.values["--mode"], node.values["--shade"]], ["-", "=light,dark"]);
  for (const shell of ["bash", "zsh", "fish"] as const) {
    const script = completionScript(shell, program as never);
    assert.match(script, /zzz-new/, shell);
    assert.match(script, /=light,dark/, shell);
  }
  // Hidden commands stay hidden.
  assert.doesNotMatch(completionScript("bash", program as never), /__complete"|supervise/);
});

Deno.test("tt __complete: silent and empty when it cannot answer, never starts the town's Redis", async () => {
  const sb = new Sandbox(null);
  try {
    const outside = await sb.tt(["__complete", "agents"]);
    assert.deepEqual([outside.code, outside.stdout, outside.stderr], [0, "", ""]);
    const presets = await sb.tt(["__complete", "presets"]);
    assert.deepEqual(presets.stdout.trim().split("\n"), Object.keys(CLI_PRESETS));
    await sb.init();
    await sb.ok(["stop"]);
    const stopped = await sb.tt(["__complete", "agents"]);
    assert.deepEqual([stopped.code, stopped.stdout, stopped.stderr], [0, "", ""]);
    assert.equal(await pingSocket(managedPaths(await Deno.realPath(sb.dir)).socket), false);
    const refused = await sb.tt(["__complete", "tasks"], {
      env: { REDIS_URL: "unix:///nonexistent/tt-complete.sock" },
    });
    assert.deepEqual([refused.code, refused.stdout, refused.stderr], [0, "", ""]);
    const unknown = await sb.tt(["__complete", "bogus"]);
    assert.deepEqual([unknown.code, unknown.stdout, unknown.stderr], [0, "", ""]);
  } finally {
    sb.cleanup();
  }
});

Deno.test({
  name:
    "tt __complete presets and tt --help load no Redis client (ioredis cannot even be imported without unscoped env access)",
  ignore: !!Deno.env.get("TT_TEST_BUNDLE"),
  fn: async () => {
    await withAgents(["backend"], async ({ sb }) => {
      const run = async (args: string[], env: string, extra: Record<string, string> = {}) => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-q",
            "--no-prompt",
            "--frozen",
            "--config",
            `${ROOT}/deno.json`,
            "--allow-read",
            "--allow-write",
            "--allow-net",
            "--allow-run",
            "--allow-sys",
            env,
            `${ROOT}/main.ts`,
            ...args,
          ],
          cwd: sb.dir,
          env: { ...sb.env(), REDIS_URL: testRedisUrl(), ...extra },
          stdout: "piped",
          stderr: "piped",
        }).output();
        return new TextDecoder().decode(out.stdout).trim();
      };
      const scoped =
        "--allow-env=HOME,TT_HOME,TT_TOWN,REDIS_URL,NO_COLOR,TT_DEBUG,DENO_DIR,CLICOLOR_FORCE,FORCE_COLOR,TT_LEAN";
      assert.equal((await run(["__complete", "presets"], scoped)).split("\n")[0], "claude");
      assert.match(await run(["--help"], scoped), /^ {2}doctor .*\n {2}completion <shell> /m);
      assert.match(await run(["doctor", "--help"], scoped), /^Usage: tt doctor/);
      // The control: through ioredis (lean path off) names need what the same restriction stops
      // (and full env allows); the lean client (src/redis/lean.ts) needs no environment at all.
      const full = { TT_LEAN: "0" };
      assert.equal(await run(["__complete", "agents"], scoped, full), "");
      assert.equal(await run(["__complete", "agents"], "--allow-env", full), "backend");
      assert.equal(await run(["__complete", "agents"], scoped), "backend");
    });
  },
});

const zsh = await findExecutable("zsh");
const fish = await findExecutable("fish");

Deno.test({
  name:
    "zsh: the script passes zsh -n and completes commands and agent names (skipped: zsh not installed)"
      .replace(zsh ? / \(skipped.*\)$/ : /^$/, ""),
  ignore: !zsh,
  fn: async () => {
    await withAgents(["backend", "docs"], async ({ sb }) => {
      const bin = ttBin();
      try {
        const syntax = await sh("zsh", "tt completion zsh > s.zsh && zsh -n s.zsh", sb, bin);
        assert.deepEqual([syntax.code, syntax.stderr], [0, ""]);
        // compadd stands in for zsh's: it keeps the candidates matching the word being completed.
        const r = await sh(
          "zsh",
          `source s.zsh
compadd() { shift; local w; for w in "$@"; do [[ $w == \${words[CURRENT]}* ]] && print -- $w; done }
words=(tt as); CURRENT=2; _tt; print -r -- ${SEP}
words=(tt assign ''); CURRENT=3; _tt; print -r -- ${SEP}
words=(tt task list --state r); CURRENT=5; _tt; true`,
          sb,
          bin,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout.split(`${SEP}\n`).map((b) => b.trim().split("\n").sort()), [
          ["assign"],
          ["backend", "docs"],
          ["running"],
        ]);
      } finally {
        Deno.removeSync(bin, { recursive: true });
      }
    });
  },
});

Deno.test({
  name:
    "fish: the script passes fish -n and complete -C proposes assign and agent names (skipped: fish not installed)"
      .replace(fish ? / \(skipped.*\)$/ : /^$/, ""),
  ignore: !fish,
  fn: async () => {
    await withAgents(["backend", "docs"], async ({ sb }) => {
      const bin = ttBin();
      try {
        const syntax = await sh("fish", "tt completion fish > s.fish; and fish -n s.fish", sb, bin);
        assert.deepEqual([syntax.code, syntax.stderr], [0, ""]);
        const r = await sh(
          "fish",
          `source s.fish
complete -C 'tt as'; echo ${SEP}
complete -C 'tt assign '; echo ${SEP}
complete -C 'tt spawn x --cli cod'`,
          sb,
          bin,
        );
        assert.equal(r.code, 0, r.stderr);
        const blocks = r.stdout.split(`${SEP}\n`).map((b) => b.trim().split("\n").sort());
        // Commands come with their description after a tab.
        assert.match(blocks[0][0], /^assign\tcreate a task and assign it to an agent/);
        assert.deepEqual(blocks.map((b) => b.map((l) => l.split("\t")[0])), [
          ["assign"],
          ["backend", "docs"],
          ["codex", "codex-mini"],
        ]);
      } finally {
        Deno.removeSync(bin, { recursive: true });
      }
    });
  },
});
