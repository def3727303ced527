/**
 * Usage limits shared across agents: when one agent's CLI reports its account's usage limit,
 * every agent on the same CLI family and account stops starting rounds until the reset time.
 *
 * An account is a hash of the CLI family and the environment that selects the login: HOME and,
 * per family, the variables below (CLAUDE_CONFIG_DIR, the API key variables, …). Their values are
 * hashed, never stored: two agents with different API keys are different accounts, two agents
 * with none share the login in HOME.
 */
import { createHash } from "node:crypto";
import type { Ctx } from "../agents.ts";
import { UsageLimit } from "./schema.ts";

/** The environment variables that pick a family's account (besides HOME). */
export const ACCOUNT_ENV: Record<string, string[]> = {
  claude: [
    "CLAUDE_CONFIG_DIR",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
  ],
  codex: ["CODEX_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL"],
  gemini: ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"],
  opencode: ["OPENCODE_CONFIG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
  copilot: ["GH_TOKEN", "GITHUB_TOKEN", "COPILOT_GITHUB_TOKEN"],
  auggie: ["AUGMENT_SESSION_AUTH", "AUGMENT_API_TOKEN"],
};

/** The account id (16 hex digits) of a CLI family run with `env`. */
export function accountOf(family: string, env: Record<string, string | undefined>): string {
  const h = createHash("sha256").update(family);
  for (const name of ["HOME", ...(ACCOUNT_ENV[family] ?? [])]) {
    h.update(`\0${name}=${env[name] ?? ""}`);
  }
  return h.digest("hex").slice(0, 16);
}

/** Records that `account` is limited until `resetAt` (the key expires then). Keeps a later one. */
export async function shareUsageLimit(
  t: Ctx,
  account: string,
  limit: UsageLimit,
): Promise<void> {
  const at = Date.parse(limit.reset_at);
  if (!(at > Date.now())) return;
  const key = t.keys.usageLimit(account);
  const old = await activeUsageLimit(t, account);
  if (old && Date.parse(old.reset_at) >= at) return;
  await t.redis.set(key, JSON.stringify(UsageLimit.parse(limit)), "PXAT", at);
}

/** The account's limit while it lasts, else undefined. */
export async function activeUsageLimit(t: Ctx, account: string): Promise<UsageLimit | undefined> {
  const raw = await t.redis.get(t.keys.usageLimit(account));
  if (!raw) return undefined;
  try {
    const r = UsageLimit.safeParse(JSON.parse(raw));
    return r.success && Date.parse(r.data.reset_at) > Date.now() ? r.data : undefined;
  } catch {
    return undefined;
  }
}
