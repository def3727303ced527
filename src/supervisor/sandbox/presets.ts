/**
 * What each agent CLI preset needs inside the sandbox: the network hosts it talks to, and the
 * paths of the operator's home (relative to it) holding its own config and login, which are bound
 * read-write into the agent's private HOME. A CLI not listed gets neither (only `allow_hosts`).
 */
export interface PresetNeeds {
  hosts: string[];
  /** Paths relative to the operator's HOME (directories or files). */
  homePaths: string[];
}

const ANTHROPIC = [
  "api.anthropic.com",
  "statsig.anthropic.com",
  "claude.ai",
  "console.anthropic.com",
];
const OPENAI = ["api.openai.com", "chatgpt.com", "auth.openai.com"];
const GOOGLE = [
  "generativelanguage.googleapis.com",
  "cloudcode-pa.googleapis.com",
  "oauth2.googleapis.com",
  "accounts.google.com",
  "www.googleapis.com",
  "play.googleapis.com",
];

export const PRESET_NEEDS: Readonly<Record<string, PresetNeeds>> = {
  claude: { hosts: ANTHROPIC, homePaths: [".claude", ".claude.json", ".config/claude"] },
  codex: { hosts: OPENAI, homePaths: [".codex"] },
  "codex-mini": { hosts: OPENAI, homePaths: [".codex"] },
  gemini: { hosts: GOOGLE, homePaths: [".gemini"] },
  opencode: {
    hosts: [...ANTHROPIC, ...OPENAI, "opencode.ai", "models.dev"],
    homePaths: [
      ".config/opencode",
      ".local/share/opencode",
      ".local/state/opencode",
      ".cache/opencode",
    ],
  },
  copilot: {
    hosts: ["api.github.com", "github.com", "api.githubcopilot.com", "*.githubcopilot.com"],
    homePaths: [".copilot", ".config/gh"],
  },
  auggie: { hosts: ["augmentcode.com", "*.augmentcode.com"], homePaths: [".augment"] },
  aider: { hosts: [...ANTHROPIC, ...OPENAI], homePaths: [".aider.conf.yml", ".aider"] },
  goose: { hosts: [...ANTHROPIC, ...OPENAI], homePaths: [".config/goose", ".local/share/goose"] },
  amp: { hosts: ["ampcode.com", "*.ampcode.com"], homePaths: [".config/amp", ".local/share/amp"] },
};

/** The binary each preset runs, to recognise a custom command built on one (`codex exec …`). */
const BINARIES: Record<string, string> = {
  claude: "claude",
  codex: "codex",
  gemini: "gemini",
  opencode: "opencode",
  copilot: "copilot",
  auggie: "auggie",
  aider: "aider",
  goose: "goose",
  amp: "amp",
};

/**
 * The needs of a CLI by its preset name, else by the first word of its command when that is a
 * preset's binary (an `[agent_clis]` entry running `claude …`); undefined for anything else.
 */
export function presetNeeds(name: string, command = ""): PresetNeeds | undefined {
  if (PRESET_NEEDS[name]) return PRESET_NEEDS[name];
  const first = command.trim().split(/\s+/)[0]?.split("/").pop() ?? "";
  const preset = Object.entries(BINARIES).find(([, bin]) => bin === first)?.[0];
  return preset ? PRESET_NEEDS[preset] : undefined;
}
