/**
 * Built-in agent CLI presets. A command receives the round's prompt on stdin, unless it contains
 * `{prompt_file}`, which is replaced by the (shell-quoted) path of a file holding the prompt.
 * `[agent_clis.<name>] command = "…"` in tinytown.toml adds CLIs or overrides these.
 */
export const CLI_PRESETS: Readonly<Record<string, string>> = {
  claude: "claude --print --dangerously-skip-permissions",
  codex: "codex exec --dangerously-bypass-approvals-and-sandbox -",
  "codex-mini":
    'codex exec --dangerously-bypass-approvals-and-sandbox -m gpt-5.4-mini -c model_reasoning_effort="medium" -',
  auggie: "auggie --print --instruction-file {prompt_file}",
  gemini: "gemini --yolo",
  copilot: 'copilot --allow-all-tools -p "$(cat {prompt_file})"',
  aider: "aider --yes --no-auto-commits --message-file {prompt_file}",
  goose: "goose run --instructions {prompt_file}",
  amp: "amp --dangerously-allow-all -x",
  opencode: 'opencode run "$(cat {prompt_file})"',
};

export const PROMPT_FILE_PLACEHOLDER = "{prompt_file}";
