/**
 * What an agent may ask for through its channel: an allow-list of command paths and flags,
 * checked on the raw argv before anything parses it. Default powers: its own inbox and tasks
 * (report/fail; the check still applies), messages, the backlog (claim for itself, add), and
 * read-only status and task lists. Extra powers come from `[agent.powers]` in tinytown.toml, by
 * agent name or role. Never available: reset, auth, save/restore, townhall, config, init/start/
 * stop, supervise, conductor, `--force`, `--no-verify`, `--town`, `--from`.
 */
import type { AgentPower, TownConfig } from "../../core/config.ts";

type Kind = "bool" | "value";

interface Rule {
  /** The power the command needs; none = every agent has it. */
  power?: AgentPower;
  flags?: Record<string, Kind>;
  /** Flags that need a power of their own. */
  flagPowers?: Record<string, AgentPower>;
}

const RESULT = { "-r": "value", "--result": "value" } as const;
const REASON = { "-r": "value", "--reason": "value" } as const;

/** Command path → rule. A path not here is not available to agents. */
const RULES: Record<string, Rule> = {
  "": {},
  help: {},
  status: { flags: { "--deep": "bool", "--tasks": "bool" } },
  list: {},
  inbox: {
    flags: { "-a": "bool", "--all": "bool" },
    flagPowers: { "-a": "inbox", "--all": "inbox" },
  },
  send: { flags: { "--query": "bool", "--info": "bool", "--ack": "bool", "--urgent": "bool" } },
  task: {},
  "task list": {
    flags: { "-s": "value", "--state": "value", "-a": "value", "--agent": "value" },
  },
  "task show": {},
  "task current": {},
  "task complete": { flags: RESULT },
  "task fail": { flags: REASON },
  "task cancel": { power: "cancel", flags: REASON },
  backlog: {},
  "backlog list": {},
  "backlog add": {
    flags: { "--tags": "value", "--verify": "value" },
    flagPowers: { "--verify": "verify" },
  },
  "backlog claim": {},
  "backlog assign-all": { power: "assign" },
  "backlog remove": { power: "cancel" },
  assign: {
    power: "assign",
    flags: { "--tag": "value", "--verify": "value" },
    flagPowers: { "--verify": "verify" },
  },
  spawn: {
    power: "spawn",
    flags: {
      "-c": "value",
      "--cli": "value",
      "--role": "value",
      "--nickname": "value",
      "--parent": "value",
      "--rounds": "value",
      "--no-worktree": "bool",
      "--host": "value",
    },
  },
  kill: { power: "kill" },
  interrupt: { power: "kill" },
  resume: { power: "kill" },
  close: { power: "kill" },
  restart: { power: "kill", flags: { "--rounds": "value" } },
  wait: { power: "wait", flags: { "--timeout": "value" } },
  history: {
    power: "history",
    flags: { "-n": "value", "--limit": "value", "-a": "value", "--agent": "value" },
  },
  events: { power: "history", flags: { "-c": "value", "--count": "value", "--agent": "value" } },
  logs: { power: "history", flags: { "--round": "value" } },
};

/** Command groups: their first positional argument names the subcommand. */
const GROUPS = new Set(["task", "backlog", "auth", "townhall", "help"]);

/** Allowed on every command. */
const COMMON: Record<string, Kind> = { "--json": "bool", "-h": "bool", "--help": "bool" };
/** Allowed before the command only. */
const TOP: Record<string, Kind> = { ...COMMON, "-V": "bool", "--version": "bool" };

/** Flags refused with their own reason (whatever the command). */
const NEVER: Record<string, string> = {
  "--force": "--force is for humans: an agent acts on its own tasks only",
  "-f": "--force is for humans: an agent acts on its own tasks only",
  "--no-verify": "--no-verify is for humans: agents' reports are checked by tt",
  "--town": "--town is not available to agents: they act in their own town",
  "-t": "--town is not available to agents: they act in their own town",
  "--from": "--from is not available to agents: messages are sent as the agent itself",
  "--foreground": "--foreground is not available to agents",
  "--follow": "--follow is not available to agents: a request must end",
};

export interface Checked {
  /** The command path ("task complete"), "" for none. */
  path: string;
  /** Positional arguments after the path. */
  args: string[];
  /** The flags given, as written ("-a", "--all"). */
  flags: string[];
  /** Every value given to each value flag, by the flag as written, in order. */
  values: Record<string, string[]>;
}

export class Refusal extends Error {
  override name = "Refusal";
}

/** Powers of an agent: the union of those granted to its name and to its role. */
export function powersOf(config: TownConfig, agent: { name: string; role?: string }) {
  const grants = config.agent.powers;
  return new Set<AgentPower>([
    ...(grants[agent.name] ?? []),
    ...(agent.role ? grants[agent.role] ?? [] : []),
  ]);
}

/**
 * Checks argv against the allow-list; throws a Refusal (one line: what and why) or returns the
 * command path, its positional arguments and its flags. Mirrors commander's reading of argv:
 * `--name=value`, `-xvalue`, grouped short flags, a value flag takes the next argument whatever
 * it looks like, and `--` ends the options.
 */
export function checkArgv(argv: string[], powers: ReadonlySet<AgentPower>): Checked {
  const path: string[] = [];
  const args: string[] = [];
  const flags: string[] = [];
  const values: Record<string, string[]> = {};
  let rule: Rule | undefined;
  let optionsEnded = false;
  // A group's subcommand is its first positional argument, even after options (`task --json list`).
  const pathOpen = () => !rule && (path.length === 0 || (path.length === 1 && GROUPS.has(path[0])));
  const allowed = (): Record<string, Kind> =>
    rule ? { ...COMMON, ...rule.flags } : path.length ? COMMON : TOP;
  const name = () => path.join(" ") || "tt";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!optionsEnded && a === "--") {
      optionsEnded = true;
      continue;
    }
    if (optionsEnded || !a.startsWith("-") || a === "-") {
      if (!pathOpen()) {
        args.push(a);
        continue;
      }
      path.push(a);
      if (!(path.length === 1 && GROUPS.has(a))) rule = ruleFor(path, powers);
      continue;
    }
    const names = a.startsWith("--") ? [a.split("=", 1)[0]] : shortFlags(a, allowed());
    for (const [j, f] of names.entries()) {
      if (NEVER[f]) throw new Refusal(NEVER[f]);
      const kind = allowed()[f];
      if (!kind) throw new Refusal(`'${f}' is not available to agents on 'tt ${name()}'`);
      const need = rule?.flagPowers?.[f];
      if (need && !powers.has(need)) throw new Refusal(needs(`${f} on 'tt ${name()}'`, need));
      flags.push(f);
      // A value flag takes the next argument unless its value is attached (--x=v, -xv).
      const attached = a.startsWith("--") ? a.includes("=") : a.length > j + 2;
      if (kind !== "value" || j !== names.length - 1) continue;
      const value = attached
        ? (a.startsWith("--") ? a.slice(a.indexOf("=") + 1) : a.slice(j + 2))
        : argv[++i] ?? "";
      (values[f] ??= []).push(value);
    }
  }
  if (!rule) rule = ruleFor(path, powers);
  return { path: path.join(" "), args, flags, values };
}

function ruleFor(path: string[], powers: ReadonlySet<AgentPower>): Rule {
  const key = path.join(" ");
  const rule = path[0] === "help" ? RULES.help : RULES[key];
  if (!rule) throw new Refusal(`'tt ${key}' is not available to agents`);
  if (rule.power && !powers.has(rule.power)) throw new Refusal(needs(`'tt ${key}'`, rule.power));
  return rule;
}

function needs(what: string, power: AgentPower) {
  return `${what} needs the '${power}' power, which this agent does not have ` +
    `(the operator grants it in tinytown.toml: [agent.powers] <name or role> = ["${power}"])`;
}

/** `-abc` → -a -b -c, stopping at the first flag that takes a value (`-rdone` is -r "done"). */
function shortFlags(a: string, allowed: Record<string, Kind>): string[] {
  const out: string[] = [];
  for (const c of a.slice(1)) {
    const f = `-${c}`;
    out.push(f);
    if (allowed[f] === "value" || NEVER[f] || !allowed[f]) break;
  }
  return out;
}
