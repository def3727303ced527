/**
 * Which command an agent runs and with what environment: presets, `[agent_clis]` from
 * tinytown.toml, or a raw command; prompt via stdin or `{prompt_file}`; the session to resume;
 * a scrubbed environment.
 */
import type { TownConfig } from "../core/config.ts";
import { PRESETS, PROMPT_FILE_PLACEHOLDER, SESSION_PLACEHOLDER } from "../core/presets.ts";
import { FAMILIES, familyOf } from "./clis/mod.ts";
import { shellQuote } from "./shell.ts";

export { shellQuote };
import type { CliFamily } from "./clis/types.ts";

export interface ResolvedCli {
  /** Preset or configured name, or the raw command itself. */
  name: string;
  command: string;
  /** The command that resumes `{session_id}`, where the CLI has one. */
  resume?: string;
  env: Record<string, string>;
  /** Reads the CLI's output. */
  family: CliFamily;
}

export function resolveCli(config: TownConfig, ref: string): ResolvedCli {
  const name = ref.trim() || config.default_cli;
  const custom = config.agent_clis[name];
  if (custom) {
    return {
      name,
      command: custom.command,
      env: custom.env ?? {},
      family: familyOf(custom.command),
    };
  }
  const preset = PRESETS[name];
  if (preset) {
    return {
      name,
      command: preset.command,
      resume: preset.resume,
      env: {},
      family: FAMILIES[preset.family] ?? familyOf(preset.command),
    };
  }
  return { name, command: name, env: {}, family: familyOf(name) };
}

/**
 * The shell command for one round, and whether the prompt goes to stdin. With a session id and a
 * CLI that can resume, the resume command (its `{session_id}` shell-quoted).
 */
export function roundCommand(
  cli: Pick<ResolvedCli, "command" | "resume">,
  promptFile: string,
  sessionId?: string,
): { command: string; stdin: boolean; resumed: boolean } {
  const resumed = !!(sessionId && cli.resume);
  let command = resumed
    ? cli.resume!.replaceAll(SESSION_PLACEHOLDER, shellQuote(sessionId!))
    : cli.command;
  const stdin = !command.includes(PROMPT_FILE_PLACEHOLDER) && !command.includes("$TT_PROMPT_FILE");
  command = command.replaceAll(PROMPT_FILE_PLACEHOLDER, shellQuote(promptFile));
  return { command, stdin, resumed };
}

/** API keys each preset needs; everything else that looks secret is withheld from agents. */
const PRESET_SECRETS: Record<string, string[]> = {
  claude: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN"],
  codex: ["OPENAI_API_KEY"],
  "codex-mini": ["OPENAI_API_KEY"],
  auggie: ["AUGMENT_SESSION_AUTH", "AUGMENT_API_TOKEN"],
  gemini: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
  // …and the key of a BYOK model provider (COPILOT_PROVIDER_BASE_URL).
  copilot: [
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "COPILOT_GITHUB_TOKEN",
    "COPILOT_PROVIDER_API_KEY",
    "COPILOT_PROVIDER_BEARER_TOKEN",
  ],
  aider: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
  goose: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOSE_PROVIDER", "GOOSE_MODEL"],
  amp: ["AMP_API_KEY"],
  opencode: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
};

const SECRET_RE = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|_KEY|CREDENTIAL|AUTH)/i;
/** Never passed on: they would let an agent reach Redis or act as a different town. */
const NEVER = new Set(["REDIS_URL", "TINYTOWN_REDIS_PASSWORD", "TT_TOWN", "TT_HOME"]);

export interface AgentEnvInput {
  base: Record<string, string>;
  cli: ResolvedCli;
  /** Extra names from `[agent] pass_env`. */
  passEnv?: string[];
  identity: Record<string, string>;
  /** Directory holding the `tt` shim, prepended to PATH. */
  binDir: string;
}

export function agentEnv(input: AgentEnvInput): Record<string, string> {
  const allowed = new Set([...(PRESET_SECRETS[input.cli.name] ?? []), ...(input.passEnv ?? [])]);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.base)) {
    if (NEVER.has(k) || k.startsWith("TINYTOWN_")) continue;
    // Anything naming Redis may hold the town's address: withheld like a secret.
    if ((SECRET_RE.test(k) || /REDIS/i.test(k)) && !allowed.has(k)) continue;
    env[k] = v;
  }
  env.PATH = `${input.binDir}:${input.base.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`;
  return { ...env, ...input.cli.env, ...input.identity };
}
