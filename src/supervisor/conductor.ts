/**
 * `tt conductor`: an interactive AI session that runs the town for the human. It gets a context
 * file describing the town and the commands, and acts as the conductor (the supervisor mailbox).
 */
import type { TownContext } from "../core/town.ts";
import { agentLabel, listAgents } from "../core/agents.ts";
import { peekInbox } from "../core/messages.ts";
import { SUPERVISOR_ID } from "../core/keys.ts";
import { CLI_PRESETS, PROMPT_FILE_PLACEHOLDER } from "../core/presets.ts";
import { shellQuote } from "./shell.ts";

/** How each preset starts an interactive session seeded with a context file. */
const INTERACTIVE: Record<string, string> = {
  claude: 'claude "$(cat {prompt_file})"',
  codex: 'codex "$(cat {prompt_file})"',
  "codex-mini": 'codex -m gpt-5.4-mini "$(cat {prompt_file})"',
  auggie: "auggie --instruction-file {prompt_file}",
  gemini: 'gemini -i "$(cat {prompt_file})"',
  copilot: 'copilot -i "$(cat {prompt_file})"',
  aider: "aider --read {prompt_file}",
  goose: "goose session",
  amp: 'amp "$(cat {prompt_file})"',
  opencode: 'opencode --prompt "$(cat {prompt_file})"',
};

/** Which CLI the conductor runs: --cli, else conductor_cli, else default_cli. */
export function conductorCliName(t: TownContext, cliRef: string | undefined): string {
  return cliRef?.trim() || t.config.conductor_cli || t.config.default_cli;
}

/** The shell command for the conductor session. Custom commands get the file as an argument. */
export function conductorCommand(
  t: TownContext,
  cliRef: string | undefined,
  contextFile: string,
): string {
  const name = conductorCliName(t, cliRef);
  const custom = t.config.agent_clis[name]?.command;
  const template = custom ?? INTERACTIVE[name] ?? (CLI_PRESETS[name] ? `${name}` : name);
  const quoted = shellQuote(contextFile);
  return template.includes(PROMPT_FILE_PLACEHOLDER)
    ? template.replaceAll(PROMPT_FILE_PLACEHOLDER, quoted)
    : `${template} "$(cat ${quoted})"`;
}

export async function conductorContext(t: TownContext): Promise<string> {
  const agents = await listAgents(t);
  const backlog = await t.redis.llen(t.keys.backlog);
  const mailbox = await peekInbox(t, SUPERVISOR_ID, 20);
  const lines = [
    "# Tinytown Conductor",
    "",
    `You are the conductor of Tinytown "${t.name}" (${t.root}): you coordinate AI coding agents for the ` +
    "human in this session. Agents run on their own; you give them work, answer their questions, and " +
    "check results. Everything goes through the `tt` command.",
    "",
    "## The town now",
    "",
    ...(agents.length
      ? agents.map((a) => `- ${agentLabel(a)} (${a.id.slice(0, 4)}): ${a.state}, cli ${a.cli}`)
      : ["- No agents yet."]),
    `- Backlog: ${backlog} task(s)`,
    `- Your inbox (questions and reports from agents): ${
      mailbox.counts.inbox + mailbox.counts.urgent
    } message(s)`,
    "",
    agents.length ? "## Resuming" : "## Fresh start",
    "",
    ...(agents.length
      ? [
        "Run `tt status` and `tt inbox conductor` first, answer pending questions, then continue the plan.",
      ]
      : [
        "Ask the human what they want built. Look at the project, then propose a small team, e.g.:",
        "",
        "| agent | role | for |",
        "|---|---|---|",
        "| backend | backend | APIs, data, server code |",
        "| frontend | frontend | UI |",
        "| tester | tester | tests and regressions |",
        "| reviewer | reviewer | reviews every change (always have one) |",
      ]),
    "",
    "## Commands",
    "",
    "```bash",
    "tt spawn <name> --cli <claude|codex|…> --role <role>   # start an agent",
    'tt assign <agent> "task"                               # give work (--verify "<cmd>" to check it)',
    'tt backlog add "task" --tags backend                   # unassigned work agents claim by role',
    "tt status / tt status --deep / tt task list            # what is going on",
    "tt inbox conductor                                     # questions and reports for you",
    'tt send <agent> "message" [--query|--info|--urgent]    # talk to an agent',
    "tt wait [agents…] --timeout 600                        # block until agents are idle",
    "tt history / tt logs <agent>                           # what happened, round output",
    "tt interrupt|resume|close|kill|restart <agent>         # control agents",
    "tt reclaim --to-backlog / tt recover                   # recover work from stopped agents",
    "```",
    "",
    "## Your role",
    "",
    "1. Break the goal into tasks small enough for one agent round each.",
    "2. Assign directly when the owner is clear; otherwise put tasks in the backlog with role tags.",
    "3. Always have a reviewer check finished work before you call it done.",
    "4. Read your inbox often; agents ask you when blocked.",
    "5. Report progress to the human in plain words, with task ids.",
  ];
  return lines.join("\n") + "\n";
}

/**
 * The program a shell command starts (after leading VAR=value words), when that is plain to see;
 * undefined for anything fancier (quotes, substitutions, redirections…), which is not checked.
 */
export function programOf(command: string): string | undefined {
  const words = command.trim().split(/\s+/);
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=\S*$/.test(words[i])) i++;
  const word = words[i];
  if (!word || /["'`$\\|&;<>(){}*?[\]~]/.test(word) || word === "exec") return undefined;
  return word;
}

/** Whether `program` (a path, or a name looked up in `path`) is an executable file. */
export async function programExists(program: string, path: string): Promise<boolean> {
  const candidates = program.includes("/")
    ? [program]
    : path.split(":").filter(Boolean).map((dir) => `${dir}/${program}`);
  for (const file of candidates) {
    try {
      const st = await Deno.stat(file);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return true;
    } catch { /* not there */ }
  }
  return false;
}
