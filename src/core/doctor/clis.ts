/**
 * What each preset agent CLI needs beyond its executable: a login or an API key. Only evidence
 * that can be seen from here (an environment variable, a login file) is used; finding none is a
 * warning, since a CLI may be logged in some other way.
 */

export interface CliNeeds {
  /** Variables that authenticate the CLI (the supervisor passes these to the agent). */
  env: string[];
  /** Login files or directories under $HOME that a logged-in CLI leaves. */
  files: string[];
  /** How to log in. */
  login: string;
}

const CODEX: CliNeeds = {
  env: ["OPENAI_API_KEY"],
  files: [".codex/auth.json"],
  login: "run 'codex login', or export OPENAI_API_KEY",
};

export const PRESET_NEEDS: Readonly<Record<string, CliNeeds>> = {
  claude: {
    env: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"],
    files: [".claude/.credentials.json"],
    login:
      "run 'claude' once and log in (/login), or export ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN from 'claude setup-token')",
  },
  codex: CODEX,
  "codex-mini": CODEX,
  auggie: {
    env: ["AUGMENT_SESSION_AUTH", "AUGMENT_API_TOKEN"],
    files: [".augment"],
    login: "run 'auggie login', or export AUGMENT_SESSION_AUTH",
  },
  gemini: {
    env: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    files: [".gemini/oauth_creds.json"],
    login: "run 'gemini' once and sign in, or export GEMINI_API_KEY",
  },
  copilot: {
    env: ["GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN"],
    files: [".copilot"],
    login: "run 'copilot' and /login, or export GH_TOKEN",
  },
  aider: {
    env: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
    files: [],
    login:
      "export ANTHROPIC_API_KEY or OPENAI_API_KEY (another provider's key reaches the agent only if listed in [agent] pass_env)",
  },
  goose: {
    env: ["GOOSE_PROVIDER"],
    files: [".config/goose/config.yaml"],
    login: "run 'goose configure'",
  },
  amp: {
    env: ["AMP_API_KEY"],
    files: [".config/amp", ".local/share/amp"],
    login: "run 'amp login', or export AMP_API_KEY",
  },
  opencode: {
    env: ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
    files: [".local/share/opencode/auth.json"],
    login: "run 'opencode auth login', or export ANTHROPIC_API_KEY",
  },
};

/** The evidence of a login that is present (a variable's name or a file), if any. */
export async function loginEvidence(needs: CliNeeds): Promise<string | undefined> {
  const env = needs.env.find((v) => Deno.env.get(v));
  if (env) return `$${env} is set`;
  const home = Deno.env.get("HOME");
  if (!home) return undefined;
  for (const f of needs.files) {
    try {
      await Deno.stat(`${home}/${f}`);
      return `~/${f} exists`;
    } catch { /* not this one */ }
  }
  return undefined;
}

/**
 * The program a shell command line runs first: skips `VAR=value` assignments and `env`/`exec`,
 * undoes simple quoting. Undefined for an empty command.
 */
export function programOf(command: string): string | undefined {
  const words: string[] = [];
  let cur = "";
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < command.length && words.length < 16; i++) {
    const c = command[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < command.length) cur += command[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && i + 1 < command.length) {
      cur += command[++i];
      started = true;
    } else if (/\s/.test(c) || ";|&()<>".includes(c)) {
      if (started) words.push(cur);
      cur = "";
      started = false;
      if (!/\s/.test(c)) break;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) words.push(cur);
  return words.find((w, i) =>
    !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) &&
    !(["env", "exec", "command", "nohup"].includes(w) && i < words.length - 1)
  );
}

/** Where `program` is found: itself if it holds a slash, else the first match on PATH. */
export async function findExecutable(
  program: string,
  path = Deno.env.get("PATH") ?? "",
): Promise<string | undefined> {
  const candidates = program.includes("/")
    ? [program]
    : path.split(":").filter((d) => d).map((d) => `${d}/${program}`);
  for (const c of candidates) {
    try {
      const st = await Deno.stat(c);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return c;
    } catch { /* next */ }
  }
  return undefined;
}
