/**
 * Checks of the town: its tinytown.toml, its Redis, townhall's API keys, and secrets in the files
 * meant to be committed.
 */
import { PLAN_FILE } from "../plan.ts";
import { TOWN_FILE } from "../config.ts";
import { type Check, fail, needsRedis, ok, skip, warn } from "./types.ts";

export const townCheck: Check = {
  name: "town",
  run(ctx) {
    if (ctx.town) return Promise.resolve(ok("town", `${ctx.town.config.name} at ${ctx.town.root}`));
    const why = ctx.townError ?? "no town";
    // Not found: the error's own advice ("Run 'tt init'…") is the fix. Else tinytown.toml is bad.
    return Promise.resolve(
      /^no (town here|tinytown\.toml)/.test(why)
        ? fail(
          "town",
          why.split(/\. Run |: run '/)[0],
          "run 'tt init' in the project, or pass --town <dir> (or set TT_TOWN)",
        )
        : fail("town", why, "correct tinytown.toml ('tt init --force' rewrites it with defaults)"),
    );
  },
};

export const redisCheck: Check = {
  name: "redis",
  run(ctx) {
    return Promise.resolve(ctx.redisProbe ?? skip("redis", "not checked: no town"));
  },
};

export const townhallKeysCheck: Check = {
  name: "townhall keys",
  timeoutMs: 2000,
  async run(ctx) {
    const name = "townhall keys";
    const missing = needsRedis(name, ctx);
    if (missing) return missing;
    const { countKeys } = await import("../auth.ts");
    const n = await countKeys({ redis: ctx.redis!, keys: ctx.town!.keys });
    const mode = ctx.town!.config.townhall.auth;
    if (mode === "none") {
      return warn(
        name,
        `[townhall] auth = "none": townhall serves anyone who reaches it, with or without a key`,
        `remove auth = "none" from tinytown.toml and create a key with 'tt auth gen-key'`,
      );
    }
    if (n === 0) {
      return mode === "api_key"
        ? fail(
          name,
          `[townhall] auth = "api_key" but the town has no API key: townhall refuses every request`,
          "create one with 'tt auth gen-key'",
        )
        : ok(
          name,
          "no API key yet: the first 'tt townhall' creates one and prints it once; townhall always requires a key",
        );
    }
    return ok(name, `${n} API key(s); townhall requires one`);
  },
};

/** Text that looks like a credential wherever it stands, comments included (never shown). */
const TOKEN_PATTERNS: [RegExp, string][] = [
  [/\bsk-[A-Za-z0-9_-]{20,}/, "an API key (sk-…)"],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/, "a GitHub token"],
  [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key"],
  [/\bAIza[0-9A-Za-z_-]{35}/, "a Google API key"],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, "a Slack token"],
  [/\btt_[A-Za-z0-9_-]{43}\b/, "a townhall API key"],
];
/** In settings only (a comment may show an example): a URL's password, `*_KEY = "value"`. */
const URL_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/"']*:[^\s@/"']+@/i;
const SECRET_ASSIGN =
  /(?:^|[\s{,])"?([A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key|_key|credential)s?)"?\s*=\s*["']([^"'$][^"']*)["']/i;

/** Where a TOML text holds something that looks like a secret: `line N: what`. */
export function findSecrets(text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const setting = raw.replace(/^\s*#.*$/, "");
    const assigned = SECRET_ASSIGN.exec(setting)?.[1];
    const what = TOKEN_PATTERNS.find(([re]) => re.test(raw))?.[1] ??
      (URL_PASSWORD.test(setting) ? "a password in a URL" : undefined) ??
      (assigned ? `a value for ${assigned}` : undefined);
    if (what) found.push(`line ${i + 1}: ${what}`);
  });
  return found;
}

export const secretsCheck: Check = {
  name: "secrets",
  async run(ctx) {
    const name = "secrets";
    if (!ctx.town) return skip(name, "not checked: no town");
    const problems: string[] = [];
    const files = [TOWN_FILE, PLAN_FILE];
    for (const f of files) {
      let text: string;
      try {
        text = await Deno.readTextFile(`${ctx.town.root}/${f}`);
      } catch {
        continue;
      }
      problems.push(...findSecrets(text).map((p) => `${f} ${p}`));
    }
    return problems.length
      ? fail(
        name,
        `${problems.join("; ")} (these files are meant to be committed)`,
        "move the secret to the environment (REDIS_URL, or the variable the CLI reads; [agent] pass_env passes extra ones to agents) and rotate it if the file was ever pushed",
      )
      : ok(name, `no secrets in ${files.join(" or ")}`);
  },
};

/** The town's claim on its Redis (tt:{<name>}:owner) against the id in tinytown.toml. */
export const identityCheck: Check = {
  name: "identity",
  timeoutMs: 2000,
  async run(ctx) {
    const name = "identity";
    const missing = needsRedis(name, ctx);
    if (missing) return missing;
    const { config, root, keys } = ctx.town!;
    const { describeOwner, OwnerRecord } = await import("../identity.ts");
    const raw = await ctx.redis!.get(keys.owner);
    if (!config.id) {
      return warn(
        name,
        `tinytown.toml has no town id yet`,
        "run any tt command (e.g. 'tt status'): it adds the id line; then commit tinytown.toml",
      );
    }
    if (raw === null) {
      return warn(
        name,
        `the name ${config.name} is not claimed on this Redis (flushed, or its data was lost)`,
        "run any tt command (e.g. 'tt status'): it claims the name again",
      );
    }
    let holder;
    try {
      holder = OwnerRecord.parse(JSON.parse(raw));
    } catch {
      return fail(
        name,
        `${keys.owner} holds something that is not a town claim`,
        `delete it (redis-cli DEL ${keys.owner}) if no other town uses the name ${config.name}`,
      );
    }
    if (holder.id !== config.id) {
      return fail(
        name,
        `the name ${config.name} belongs to another town on this Redis: ${describeOwner(holder)}`,
        "give this town its own name: tt init --force --name <other-name>",
      );
    }
    if (holder.host === ctx.host && holder.path !== root) {
      return fail(
        name,
        `this directory is a copy of town ${config.name}, which lives in ${holder.path}`,
        "make it its own town: tt init --force --name <other-name>",
      );
    }
    return ok(name, `${config.name} (id ${config.id}) owns its name on this Redis`);
  },
};

export const taskIndexCheck: Check = {
  name: "task counters",
  timeoutMs: 5000,
  async run(ctx) {
    const name = "task counters";
    const missing = needsRedis(name, ctx);
    if (missing) return missing;
    const { verifyTaskIndexes } = await import("../task_index.ts");
    const r = await verifyTaskIndexes({ redis: ctx.redis!, keys: ctx.town!.keys });
    return r.wrong === 0
      ? ok(name, `${r.tasks} task(s); counts and indexes match the tasks`)
      : warn(
        name,
        `${r.wrong} count or index entr(ies) disagree with the ${r.tasks} task(s) (edited by hand?): status and task lists may be off`,
        "rebuild them with 'tt task recount'",
      );
  },
};
