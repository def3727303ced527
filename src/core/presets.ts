/**
 * Built-in agent CLI presets. A command receives the round's prompt on stdin, unless it contains
 * `{prompt_file}`, which is replaced by the (shell-quoted) path of a file holding the prompt; the
 * same path is in `$TT_PROMPT_FILE`. The prompt is never one argv string (a 64 KiB task or two
 * would hit the kernel's argument limit). `resume` is the command for a round that continues the
 * agent's CLI session `{session_id}` (shell-quoted). `family` names the parser of the CLI's
 * output (src/supervisor/clis/). `[agent_clis.<name>] command = "…"` in tinytown.toml adds CLIs
 * or overrides these. Flags were checked against each CLI's --help (tests/cli/clis_presets_test.ts).
 */
export interface Preset {
  family: string;
  command: string;
  resume?: string;
  /** The --help commands that must list every flag of `command` / `resume`. */
  help: string;
  resumeHelp?: string;
  /** What the CLI needs to work as a tt agent (login, environment, root). */
  needs: string;
}

const CODEX_FLAGS =
  "--json --skip-git-repo-check -c allow_login_shell=false --dangerously-bypass-approvals-and-sandbox";
const CLAUDE =
  "claude --print --output-format stream-json --verbose --dangerously-skip-permissions";
const GEMINI = "gemini --output-format stream-json --skip-trust --yolo";
const OPENCODE = "opencode run --format json --auto";
const COPILOT =
  'copilot -p "Read your instructions for this round from the file $TT_PROMPT_FILE, then follow them." --output-format json --allow-all-tools --allow-all-paths --no-ask-user';
const AUGGIE = "auggie --print --output-format json --instruction-file {prompt_file}";
const MINI = '-m gpt-5.4-mini -c model_reasoning_effort="medium"';

export const PRESETS: Readonly<Record<string, Preset>> = {
  claude: {
    family: "claude",
    command: CLAUDE,
    resume: `${CLAUDE} --resume {session_id}`,
    help: "claude --help",
    needs:
      "`claude` logged in (or ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN); as root it runs only inside tt's agent sandbox (IS_SANDBOX=1)",
  },
  codex: {
    family: "codex",
    command: `codex exec ${CODEX_FLAGS} -`,
    resume: `codex exec resume ${CODEX_FLAGS} {session_id} -`,
    help: "codex exec --help",
    resumeHelp: "codex exec resume --help",
    needs:
      "`codex login` (or OPENAI_API_KEY); -c allow_login_shell=false keeps tt on PATH in the model's shell commands",
  },
  "codex-mini": {
    family: "codex",
    command: `codex exec ${CODEX_FLAGS} ${MINI} -`,
    resume: `codex exec resume ${CODEX_FLAGS} ${MINI} {session_id} -`,
    help: "codex exec --help",
    resumeHelp: "codex exec resume --help",
    needs: "as codex",
  },
  gemini: {
    family: "gemini",
    command: GEMINI,
    resume: `${GEMINI} --resume {session_id}`,
    help: "gemini --help",
    needs:
      "GEMINI_API_KEY (or an auth method in ~/.gemini/settings.json); --skip-trust lets it run in tt's worktrees",
  },
  opencode: {
    family: "opencode",
    command: OPENCODE,
    resume: `${OPENCODE} --session {session_id}`,
    help: "opencode run --help",
    needs: "a provider configured with `opencode auth login` (or its provider's API key)",
  },
  copilot: {
    family: "copilot",
    command: COPILOT,
    resume: `${COPILOT} --resume {session_id}`,
    help: "copilot --help",
    needs:
      "a GitHub login (`copilot` then /login, or COPILOT_GITHUB_TOKEN / GH_TOKEN); reads its prompt from the round's prompt file",
  },
  auggie: {
    family: "auggie",
    command: AUGGIE,
    resume: `${AUGGIE} --resume {session_id}`,
    help: "auggie --help",
    needs: "`auggie login` (or AUGMENT_SESSION_AUTH)",
  },
  aider: {
    family: "aider",
    command: "aider --yes --no-auto-commits --message-file {prompt_file}",
    help: "aider --help",
    needs: "aider installed (pip) with its model's API key; plain text output, no session resume",
  },
  goose: {
    family: "goose",
    command: "goose run --instructions {prompt_file}",
    help: "goose run --help",
    needs: "goose configured (`goose configure`); plain text output, no session resume",
  },
  amp: {
    family: "amp",
    command: "amp --dangerously-allow-all -x",
    help: "amp --help",
    needs:
      "AMP_API_KEY; `@sourcegraph/amp` is now `@ampcode/cli`, whose newest version has no linux-x64 binary",
  },
};

/** Name → fresh-round command, for listings. */
export const CLI_PRESETS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(PRESETS).map(([k, p]) => [k, p.command]),
);

export const PROMPT_FILE_PLACEHOLDER = "{prompt_file}";
export const SESSION_PLACEHOLDER = "{session_id}";
