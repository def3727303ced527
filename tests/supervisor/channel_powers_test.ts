/** The agent powers allow-list: argv read the way commander reads it, refusals named. */
import assert from "node:assert/strict";
import { checkArgv, powersOf, Refusal } from "../../src/supervisor/channel/powers.ts";
import { type AgentPower, TownConfig } from "../../src/core/config_schema.ts";

const none = new Set<AgentPower>();
const ok = (argv: string[], powers = none) => checkArgv(argv, powers);
const refused = (argv: string[], reason: RegExp, powers = none) =>
  assert.throws(
    () => checkArgv(argv, powers),
    (e) => e instanceof Refusal && reason.test(e.message),
  );

Deno.test("powers: the defaults allow an agent's own work", () => {
  assert.equal(ok(["task", "complete", "abcd", "--result", "done"]).path, "task complete");
  assert.equal(ok(["--json", "task", "list"]).path, "task list");
  assert.equal(ok(["task", "list", "--json", "-s", "running"]).path, "task list");
  assert.deepEqual(ok(["task", "list", "-a", "bob"]).values, { "-a": ["bob"] });
  assert.equal(ok(["inbox"]).path, "inbox");
  assert.equal(ok(["send", "bob", "hi", "--urgent", "--query"]).path, "send");
  assert.equal(ok(["backlog", "add", "x", "--tags", "a,b"]).path, "backlog add");
  assert.equal(ok(["backlog", "claim", "abcd", "me"]).path, "backlog claim");
  assert.equal(ok(["status", "--deep"]).path, "status");
  assert.equal(ok([]).path, "");
  assert.equal(ok(["--help"]).path, "");
  assert.equal(ok(["task"]).path, "task");
  assert.equal(ok(["help", "task", "complete"]).path, "help task");
  assert.deepEqual(ok(["task", "show", "abcd"]).args, ["abcd"]);
});

Deno.test("powers: a value flag's argument is data, whatever it looks like", () => {
  const c = ok(["task", "complete", "abcd", "-r", "--force"]);
  assert.deepEqual(c.values, { "-r": ["--force"] });
  assert.deepEqual(c.args, ["abcd"]);
  assert.deepEqual(ok(["task", "complete", "abcd", "-rf"]).values, { "-r": ["f"] });
  assert.deepEqual(ok(["task", "complete", "abcd", "--result=--no-verify"]).values, {
    "--result": ["--no-verify"],
  });
  // After `--` everything is an argument (commander then rejects the excess).
  assert.deepEqual(ok(["task", "complete", "abcd", "--", "--force"]).args, ["abcd", "--force"]);
});

Deno.test("powers: what no agent may do, however it is spelled", () => {
  refused(["task", "complete", "abcd", "--force"], /--force is for humans/);
  refused(["task", "complete", "abcd", "-fr", "x"], /--force is for humans/);
  refused(["task", "fail", "abcd", "-f"], /--force is for humans/);
  refused(["task", "complete", "abcd", "--no-verify"], /--no-verify is for humans/);
  refused(["--town", "/other", "status"], /--town is not available/);
  refused(["--town=/other", "status"], /--town is not available/);
  refused(["status", "-t", "/other"], /--town is not available/);
  refused(["send", "bob", "hi", "--from=bob"], /--from is not available/);
  refused(["reset", "--force"], /'tt reset' is not available to agents/);
  refused(["auth", "gen-key"], /'tt auth gen-key' is not available/);
  refused(["auth"], /'tt auth' is not available/);
  refused(["save"], /'tt save' is not available/);
  refused(["restore", "x.json"], /'tt restore' is not available/);
  refused(["townhall"], /'tt townhall' is not available/);
  refused(["supervise"], /not available/);
  refused(["conductor"], /not available/);
  refused(["status", "--bogus"], /'--bogus' is not available to agents on 'tt status'/);
  refused(["-V", "reset"], /'tt reset' is not available/);
  // A group's subcommand after an option is still the subcommand.
  refused(["task", "--json", "cancel", "abcd"], /'tt task cancel' needs the 'cancel' power/);
  refused(["backlog", "--json", "remove", "abcd"], /needs the 'cancel' power/);
});

Deno.test("powers: extra powers open their commands, never the human-only flags", () => {
  const all = new Set<AgentPower>(["spawn", "assign", "kill", "inbox", "history", "verify"]);
  refused(["kill", "bob"], /'tt kill' needs the 'kill' power/);
  assert.equal(ok(["kill", "bob"], all).path, "kill");
  refused(["inbox", "--all"], /--all on 'tt inbox' needs the 'inbox' power/);
  assert.equal(ok(["inbox", "-a"], all).path, "inbox");
  refused(["assign", "bob", "x"], /needs the 'assign' power/);
  refused(["assign", "bob", "x", "--verify", "false"], /needs the 'assign' power/);
  assert.equal(ok(["assign", "bob", "x", "--verify", "false"], all).path, "assign");
  refused(["backlog", "add", "x", "--verify", "rm -rf ~"], /--verify on 'tt backlog add' needs/);
  assert.deepEqual(ok(["spawn", "w2", "-c", "codex", "--cli=x", "-cy"], all).values, {
    "-c": ["codex", "y"],
    "--cli": ["x"],
  });
  refused(["spawn", "w2", "--foreground"], /--foreground is not available/, all);
  refused(["events", "--follow"], /--follow is not available/, all);
  refused(["logs", "bob", "-f"], /--force is for humans|--follow/, all);
  refused(["task", "complete", "abcd", "--force"], /--force is for humans/, all);
});

Deno.test("powers: granted by agent name and by role, from tinytown.toml", () => {
  const config = TownConfig.parse({
    name: "p",
    agent: { powers: { lead: ["spawn", "assign"], boss: ["kill"] } },
  });
  assert.deepEqual([...powersOf(config, { name: "boss", role: "lead" })].sort(), [
    "assign",
    "kill",
    "spawn",
  ]);
  assert.deepEqual([...powersOf(config, { name: "w1" })], []);
  assert.throws(() => TownConfig.parse({ name: "p", agent: { powers: { x: ["root"] } } }));
});
