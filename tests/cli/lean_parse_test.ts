/**
 * The lean path's parse (src/cli/lean.ts) against commander's own, on the real command table:
 * for every argument vector the lean path takes, it must find the same command, arguments,
 * options and global options as commander; everything else it must leave to commander (help,
 * --version, usage errors, conflicts, choices). Hand-picked cases plus fast-check vectors built
 * from the commands' own flags and the tokens commander treats specially.
 */
import assert from "node:assert/strict";
import { buildProgram } from "../../src/cli/program.ts";
import { LEAN_GROUPS, leanParse } from "../../src/cli/lean.ts";
import { assertProperty, fc } from "../property/prop.ts";
import { report } from "../helpers.ts";

interface Parsed {
  path: string[];
  args: unknown[];
  opts: Record<string, unknown>;
  globals: Record<string, unknown>;
}

type Cmd = ReturnType<typeof buildProgram>["commands"][number];

/** commander's parse of `argv` with every action replaced by a recorder; "error" if it refused. */
async function commanderParse(argv: string[]): Promise<Parsed | "error"> {
  const program = buildProgram();
  let got: Parsed | undefined;
  const quiet = { writeOut: () => {}, writeErr: () => {}, outputError: () => {} };
  const walk = (c: Cmd, path: string[]) => {
    c.configureOutput(quiet);
    if (!c.commands.length) {
      c.action((...a: unknown[]) => {
        const n = c.registeredArguments.length;
        const self = a[n + 1] as Cmd;
        got = {
          path,
          args: a.slice(0, n),
          opts: { ...(a[n] as object) },
          globals: { ...self.optsWithGlobals() },
        };
      });
    }
    for (const s of c.commands) walk(s as Cmd, [...path, s.name()]);
  };
  program.configureOutput(quiet);
  for (const c of program.commands) walk(c as Cmd, [c.name()]);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch {
    return "error";
  }
  return got ?? "error";
}

async function lean(argv: string[]): Promise<Parsed | undefined> {
  const p = await leanParse(argv);
  if (!p) return undefined;
  const path: string[] = [];
  for (let c = p.command; c.parent; c = c.parent) path.unshift(c.name());
  return {
    path,
    args: p.args,
    opts: { ...p.command.opts() },
    globals: { ...p.command.optsWithGlobals() },
  };
}

/** Checks one vector; true when the lean path took it. */
async function agree(argv: string[]): Promise<boolean> {
  const l = await lean(argv);
  if (l === undefined) return false;
  const c = await commanderParse(argv);
  assert.notEqual(c, "error", `lean took ${JSON.stringify(argv)}, which commander refuses`);
  assert.deepEqual(l, c, `different parse of ${JSON.stringify(argv)}`);
  return true;
}

const TAKEN = [
  ["assign", "sink0", "do it"],
  ["--town", "/x", "assign", "a", "b", "--tag", "x", "--tag", "y,z", "--json"],
  ["assign", "a", "b", "--verify=deno task test", "-t", "/y"],
  ["status"],
  ["--json", "status"],
  ["list"],
  ["task", "list", "-s", "running", "--agent", "bob"],
  ["task", "show", "abcd", "--json"],
  ["task", "complete", "abcd", "--result", "--verbose"], // a value that looks like an option
  ["task", "complete", "abcd", "--no-verify", "-f"],
  ["send", "bob", "hi", "--urgent", "--query"],
  ["send", "bob", "-", "--from", "alice"],
  ["inbox", "--all"],
  ["backlog", "add", "x", "--tags", "a,b"],
  ["backlog", "list"],
  ["wait", "--until", "stopped", "a", "b"],
  ["wait"],
  ["__complete", "agents"],
  ["-t", "/x", "__complete", "tasks"],
];

const REFUSED = [
  ["--help"],
  ["assign", "--help"],
  ["assign", "a", "b", "-h"],
  ["-V"],
  ["send", "a", "b", "--from", "-V"], // the program's -V wins (commander prints the version)
  ["assign"],
  ["assign", "a", "b", "c"],
  ["assign", "a", "--", "b"],
  ["send", "a", "b", "--query", "--info"],
  ["task"],
  ["task", "nope"],
  ["help", "assign"],
  ["wait", "--until", "bogus"],
  ["assign", "a", "b", "--bogus"],
  ["assign", "a", "b", "--json=1"],
  ["status", "-5"],
  ["supervise"],
  ["townhall"],
  ["init"],
  ["completion", "bash"],
];

Deno.test("the lean path parses common commands exactly as commander does", async () => {
  for (const argv of TAKEN) {
    assert.ok(await agree(argv), `the lean path should take ${JSON.stringify(argv)}`);
  }
});

Deno.test("help, --version, usage errors and daemons are left to commander", async () => {
  for (const argv of REFUSED) {
    assert.equal(await lean(argv), undefined, `the lean path took ${JSON.stringify(argv)}`);
  }
});

Deno.test("every command of the lean table is registered by the module it names", async () => {
  const program = buildProgram();
  for (const [name, load] of Object.entries(LEAN_GROUPS)) {
    assert.ok(program.commands.some((c) => c.name() === name), `tt has no command ${name}`);
    const p = await leanParse([name, "--help"]).catch(() => undefined);
    assert.equal(p, undefined);
    const mod = await load();
    const root = (await import("../../src/cli/lean.ts")).leanRoot();
    mod.register(root as never);
    assert.ok(root.commands.some((c) => c.name() === name), `${name} is not in its module`);
  }
});

Deno.test("random argument vectors: the lean path agrees with commander or stays out", async () => {
  const heads = [
    ["assign"],
    ["assign", "bob", "do it"],
    ["send"],
    ["send", "bob", "hi"],
    ["task", "show", "abcd"],
    ["task", "complete", "abcd"],
    ["backlog", "add", "later"],
    ["inbox"],
    ["status"],
    ["list"],
    ["task", "list"],
    ["task", "show"],
    ["task", "complete"],
    ["task", "fail"],
    ["backlog", "add"],
    ["backlog", "claim"],
    ["wait"],
    ["kill"],
    ["spawn"],
    ["task"],
    ["help"],
  ];
  const tokens = [
    "--json",
    "-t",
    "--town",
    "--tag",
    "--tag=a,b",
    "--tags",
    "--verify",
    "--from",
    "--query",
    "--info",
    "--ack",
    "--urgent",
    "-a",
    "--all",
    "-s",
    "--state",
    "running",
    "--agent",
    "--until",
    "idle",
    "--timeout",
    "5",
    "--result",
    "--no-verify",
    "-f",
    "--reason",
    "--cli",
    "--role",
    "-V",
    "--version",
    "-h",
    "--help",
    "--",
    "-",
    "-5",
    "-js",
    "bob",
    "a b",
    "",
    "日本",
  ];
  let taken = 0;
  const n = await assertProperty(
    "lean parse vs commander",
    400,
    [fc.constantFrom(...heads), fc.array(fc.constantFrom(...tokens), { maxLength: 5 })],
    async (head, rest) => {
      if (await agree([...head, ...rest])) taken++;
    },
  );
  report(`lean parse: ${taken} of ${n} vectors taken by the lean path`);
  assert.ok(taken > n / 10, `the lean path took only ${taken} of ${n}: the check is too weak`);
});
