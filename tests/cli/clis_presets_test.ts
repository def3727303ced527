/**
 * Every flag a preset uses (fresh and resume command) appears in that CLI's own --help, for each
 * CLI installed by scripts/env.sh (tt_ensure_clis, pinned versions, TT_CLIS_BIN). A CLI that is
 * not installed skips its test, saying so.
 */
import assert from "node:assert/strict";
import { PRESETS } from "../../src/core/presets.ts";
import { ROOT } from "../helpers.ts";

const BIN = Deno.env.get("TT_CLIS_BIN") ?? `${ROOT}/.tools/clis/node_modules/.bin`;

/** Shell-like words: quotes group, and are removed. */
export function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** The options a command passes (`-x`, `--long`, without `=value`); not a lone `-` (stdin). */
export function flagsOf(command: string): string[] {
  return words(command).filter((w) => /^--?[A-Za-z]/.test(w)).map((w) => w.split("=")[0]);
}

function installed(program: string): boolean {
  try {
    return Deno.statSync(`${BIN}/${program}`).isFile;
  } catch {
    return false;
  }
}

async function helpText(helpCommand: string): Promise<string> {
  const [program, ...args] = words(helpCommand);
  const home = await Deno.makeTempDir();
  try {
    const r = await new Deno.Command(`${BIN}/${program}`, {
      args,
      env: { HOME: home, NO_COLOR: "1", PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}` },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.ok(text.length > 200, `${helpCommand} printed no help: ${text}`);
    return text;
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

const listed = (help: string, flag: string) =>
  new RegExp(`(^|[\\s,|])${flag.replace(/[-]/g, "\\-")}(?=[\\s,=<\\[]|$)`, "m").test(help);

for (const [name, preset] of Object.entries(PRESETS)) {
  const program = words(preset.command)[0];
  Deno.test({
    name: `preset ${name}: every flag is in \`${preset.help}\`${
      installed(program) ? "" : ` (skipped: ${program} is not installed in ${BIN})`
    }`,
    ignore: !installed(program),
    sanitizeResources: false,
    fn: async () => {
      const help = await helpText(preset.help);
      const missing = flagsOf(preset.command).filter((f) => !listed(help, f));
      assert.deepEqual(missing, [], `${name}: not in ${preset.help}`);
      if (preset.resume) {
        const resumeHelp = preset.resumeHelp ? await helpText(preset.resumeHelp) : help;
        const absent = flagsOf(preset.resume).filter((f) => !listed(resumeHelp, f));
        assert.deepEqual(absent, [], `${name} resume: not in ${preset.resumeHelp ?? preset.help}`);
      }
    },
  });
}

Deno.test("flag extraction sees through quotes and keeps stdin's lone '-'", () => {
  assert.deepEqual(
    flagsOf(`copilot -p "Read the file -x then" --output-format json -c a=b -`),
    ["-p", "--output-format", "-c"],
  );
  // The check can fail: a made-up flag is not listed.
  assert.equal(listed("  -p, --print   Print response", "--print"), true);
  assert.equal(listed("  -p, --print   Print response", "--prin"), false);
  assert.equal(listed("  --printer", "--print"), false);
});

Deno.test("no preset puts the prompt in an argument", () => {
  for (const [name, p] of Object.entries(PRESETS)) {
    for (const c of [p.command, p.resume ?? ""]) {
      assert.doesNotMatch(c, /\$\(cat/, `${name}: prompt as one argv string`);
    }
  }
});
