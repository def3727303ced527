/**
 * The CLI argument layer: `buildProgram()` run in-process on random argv (random strings, and
 * known commands with random flags, values and arguments) where there is no town. Every outcome
 * must be a success, a commander usage error, help/version, or a TtError (NotFoundError,
 * UsageError…); never a TypeError or another unexpected exception. The same argv through
 * `main()` must exit 0, 1 or 2 as classified, and print no "internal error" and no message
 * spanning several lines.
 * The runs happen in a child process (fixtures/cli_fuzz.ts): actions read the cwd and the
 * environment, which test files running in parallel share.
 */
import assert from "node:assert/strict";
import { denoRunArgs, report as printFigure } from "../helpers.ts";
import { seed } from "./prop.ts";

const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

interface Report {
  cases: number;
  seconds: number;
  outcomes: Record<string, number>;
  tableSize: number;
  failure?: { counterexample: unknown; error: string };
}

async function fuzz(runs: number, plant: boolean): Promise<{ report: Report; cwd: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "tt-prop-cli-" });
  const home = await Deno.makeTempDir({ prefix: "tt-prop-cli-home-" });
  try {
    const out = `${home}/report.json`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...denoRunArgs("tests/property/fixtures/cli_fuzz.ts"),
        out,
        String(runs),
        String(seed() ?? Date.now()),
        ...(plant ? ["--plant"] : []),
      ],
      cwd: dir,
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: home,
        TT_HOME: `${home}/.tt`,
        DENO_DIR,
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
      },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const status = await child.output();
    const stderr = new TextDecoder().decode(status.stderr);
    assert.equal(status.code, 0, `the fuzz driver failed: ${stderr}`);
    const report = JSON.parse(await Deno.readTextFile(out)) as Report;
    const cwd: string[] = [];
    for await (const e of Deno.readDir(dir)) cwd.push(e.name);
    return { report, cwd };
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("CLI: random argv without a town ends in usage errors or TtErrors, never a crash", async () => {
  const { report, cwd } = await fuzz(1000, false);
  printFigure(
    `fast-check: ${report.cases} cases (tt argv, ${report.tableSize} commands, ${report.seconds} s)`,
  );
  printFigure(`  outcomes: ${JSON.stringify(report.outcomes)}`);
  assert.equal(report.failure, undefined, JSON.stringify(report.failure));
  assert.ok(report.cases >= 1000);
  // The commands' actions must actually be reached, not only commander's parsing.
  assert.ok((report.outcomes["no town here"] ?? 0) >= 30, "too few actions reached");
  assert.ok((report.outcomes["usage (commander)"] ?? 0) >= 30, "too few usage errors");
  // Nothing was created where the commands ran.
  assert.deepEqual(cwd, []);
});

Deno.test("the CLI property can fail: a planted TypeError in a command is found", async () => {
  // Up to 3000 cases: the run ends at the first failure, and with ~60 commands a planted one
  // (reached only with its flag) was missed within 300 cases by some seeds.
  const { report } = await fuzz(3000, true);
  assert.ok(report.failure, "the planted bug was not found");
  assert.match(report.failure.error, /unexpected TypeError: planted bug/);
  printFigure(
    `fast-check: caught the planted TypeError after ${report.cases} case(s) (as it must)`,
  );
});
