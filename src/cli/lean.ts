/**
 * The lean path of one-shot commands: `tt assign …`, `tt status`, `tt task list`, `tt send …` and
 * the other short commands run without loading commander (whose Node-compatibility start costs
 * more than the command) or ioredis (the lean client, src/redis/lean.ts).
 *
 * The commands are the real ones: their group module's `register()` runs against a recorder
 * (LeanCommand, lean_recorder.ts) that keeps each command's arguments, options and action, and the argument vector
 * is parsed as commander 15 parses it (parseOptions/_parseCommand/_processArguments mirrored
 * for the subset the commands use). Anything outside that subset — help, --version, an unknown
 * option, a missing or excess argument, `--`, short-option groups, a builder method not recorded
 * here, a parser that refuses a value — is not handled here: main.ts then runs commander, which
 * gives its usual answer. Nothing runs before the parse has succeeded, so handing over is free.
 * tests/cli/lean_parse_test.ts checks the parse against commander's on many argument vectors.
 */
import { BAIL, type LeanArgument, LeanCommand } from "./lean_recorder.ts";

export { LeanCommand };

/** The program's own options (program.ts declares them from here too). */
export const ROOT_OPTIONS: [string, string][] = [
  ["-t, --town <dir>", "town directory (default: $TT_TOWN, else the nearest tinytown.toml upward)"],
  ["--json", "print machine-readable JSON"],
];
/** The version flag, handled by commander only. */
export const VERSION_FLAGS = "-V, --version";

type Group = { register(program: never): void };
/**
 * Top-level commands that may take the lean path, by the module that registers them. Daemons
 * (supervise, townhall, mcp, conductor) and commands whose module loads commander at run time
 * are not listed: commander runs them. A name listed with the wrong module is only slower (the
 * module has no such command: commander runs it); the parse test checks this table.
 */
export const LEAN_GROUPS: Record<string, () => Promise<Group>> = {
  assign: () => import("./task.ts"),
  task: () => import("./task.ts"),
  backlog: () => import("./backlog.ts"),
  send: () => import("./message.ts"),
  inbox: () => import("./message.ts"),
  status: () => import("./admin.ts"),
  list: () => import("./admin.ts"),
  start: () => import("./town.ts"),
  stop: () => import("./town.ts"),
  towns: () => import("./town.ts"),
  config: () => import("./town.ts"),
  spawn: () => import("./agent.ts"),
  kill: () => import("./agent.ts"),
  interrupt: () => import("./agent.ts"),
  resume: () => import("./agent.ts"),
  close: () => import("./agent.ts"),
  wait: () => import("./agent.ts"),
  restart: () => import("./agent.ts"),
  reply: () => import("./agent.ts"),
  prune: () => import("./agent.ts"),
  recover: () => import("./agent.ts"),
  reclaim: () => import("./agent.ts"),
  logs: () => import("./agent.ts"),
  history: () => import("./events.ts"),
  events: () => import("./events.ts"),
  // The shell completion's live values: it runs on TAB, within a short bound.
  __complete: () => import("./completion.ts"),
};

const maybeOption = (arg: string) => arg.length > 1 && arg[0] === "-";
const NEGATIVE_NUMBER = /^-(\d+|\d*\.\d+)([eE][+-]?\d+)?$/;

/** commander's parseOptions for the recorded subset: { operands, unknown }. */
function parseOptions(cmd: LeanCommand, args: string[]) {
  const operands: string[] = [];
  const unknown: string[] = [];
  let dest = operands;
  let i = 0;
  while (i < args.length) {
    const arg = args[i++];
    if (arg === "--" || NEGATIVE_NUMBER.test(arg)) throw BAIL;
    if (maybeOption(arg)) {
      const o = cmd.findOption(arg);
      if (o) {
        if (o.optional || o.variadic) throw BAIL;
        if (o.required) {
          const value = args[i++];
          if (value === undefined) throw BAIL;
          cmd.setFromCli(o, value);
        } else cmd.setFromCli(o);
        continue;
      }
    }
    if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") throw BAIL; // -abc, -sVALUE
    if (/^--[^=]+=/.test(arg)) {
      const at = arg.indexOf("=");
      const o = cmd.findOption(arg.slice(0, at));
      if (o && (o.required || o.optional)) {
        if (o.optional || o.variadic) throw BAIL;
        cmd.setFromCli(o, arg.slice(at + 1));
        continue;
      }
    }
    if (dest === operands && maybeOption(arg)) dest = unknown;
    dest.push(arg);
  }
  return { operands, unknown };
}

export interface LeanParse {
  command: LeanCommand;
  args: unknown[];
}

/** commander's _parseCommand, down to the command that runs; BAIL where commander would not. */
function parseCommand(cmd: LeanCommand, operandsIn: string[], unknownIn: string[]): LeanParse {
  if (cmd.opaque) throw BAIL;
  const parsed = parseOptions(cmd, unknownIn);
  const operands = operandsIn.concat(parsed.operands);
  const unknown = parsed.unknown;
  const sub = operands.length ? cmd.commands.find((c) => c.name() === operands[0]) : undefined;
  if (sub) return parseCommand(sub, operands.slice(1), unknown);
  if (cmd.commands.length || !cmd.actionHandler || unknown.length) throw BAIL;
  for (let c: LeanCommand | undefined = cmd; c; c = c.parent) {
    const given = c.options.filter((o) => {
      const key = o.attributeName();
      return c.values[key] !== undefined && c.sources[key] !== "default";
    });
    for (const o of c.options) {
      if (o.mandatory && c.values[o.attributeName()] === undefined) throw BAIL;
    }
    for (const o of given) {
      if (given.some((x) => o.conflictsWith.includes(x.attributeName()))) throw BAIL;
    }
  }
  const declared = cmd.registeredArguments;
  declared.forEach((a, i) => {
    if (a.required && operands[i] == null) throw BAIL;
  });
  if (!declared.at(-1)?.variadic && operands.length > declared.length) throw BAIL;
  const call = (a: LeanArgument, v: string, prev: unknown) => {
    try {
      return a.parseArg!(v, prev);
    } catch {
      throw BAIL;
    }
  };
  const args = declared.map((a, i) => {
    if (a.variadic) {
      if (i >= operands.length) return a.defaultValue ?? [];
      const rest = operands.slice(i);
      return a.parseArg ? rest.reduce<unknown>((p, v) => call(a, v, p), a.defaultValue) : rest;
    }
    if (i >= operands.length) return a.defaultValue;
    return a.parseArg ? call(a, operands[i], a.defaultValue) : operands[i];
  });
  return { command: cmd, args };
}

/** The root command with the program's options. */
export function leanRoot(): LeanCommand {
  const root = LeanCommand.create("tt");
  for (const [flags, description] of ROOT_OPTIONS) root.option(flags, description);
  root.option(VERSION_FLAGS, "output the version number");
  return root;
}

/**
 * Parses `argv` for the lean path: the command to run and its arguments, or undefined when
 * commander must handle it. `root` gets the group's commands registered.
 */
export async function leanParse(argv: string[], root = leanRoot()): Promise<LeanParse | undefined> {
  try {
    const first = parseOptions(root, argv);
    if (root.sources.version) return undefined;
    const load = Object.hasOwn(LEAN_GROUPS, first.operands[0] ?? "")
      ? LEAN_GROUPS[first.operands[0]]
      : undefined;
    if (!load) return undefined;
    (await load()).register(root as never);
    // Parse again from the start, with the commands known (the values of the first pass go).
    for (const k of Object.keys(root.values)) delete root.values[k];
    for (const k of Object.keys(root.sources)) delete root.sources[k];
    return parseCommand(root, [], argv);
  } catch {
    // BAIL, or a group module asking the recorder for more than it keeps: commander's to run.
    return undefined;
  }
}

/** Runs `argv` on the lean path; undefined when it is commander's to run (nothing ran). */
export async function runLean(argv: string[]): Promise<number | undefined> {
  const p = await leanParse(argv);
  if (!p) return undefined;
  const { preferLeanClient } = await import("../redis/connection.ts");
  preferLeanClient();
  return await runParsed(p);
}

/**
 * Runs a parsed command: 0, or the exit code of its error, reported as main.ts reports one
 * (runLean here, and the supervisor's operator channel for a command it runs).
 */
export async function runParsed({ command, args }: LeanParse): Promise<number> {
  try {
    await command.actionHandler!(...args, command.opts(), command);
    return 0;
  } catch (e) {
    const { reportError } = await import("./report.ts");
    return await reportError(e);
  }
}
