/**
 * Which backlog work suits an agent, and idle agents claiming it. The role (or, without one,
 * the name) picks a lane; a task matches a lane by tag or description keyword. Agents without a
 * recognised lane are generalists and match everything. The matching runs in Redis (a script
 * over the first SCAN_WINDOW backlog entries), so an idle agent's look at the backlog costs the
 * same with 50 or 50,000 tasks waiting.
 */
import type { Agent, Task } from "./schemas.ts";
import type { Ctx } from "./agents.ts";
import { claimTask } from "./backlog.ts";
import { getTasks } from "./tasks.ts";
import { NotFoundError } from "./errors.ts";
import { defineScript, runScript } from "../redis/script.ts";

const LANES: { match: RegExp; keywords: string[] }[] = [
  { match: /front|\bui\b|web|client/, keywords: ["frontend", "ui", "web", "client", "ux", "css"] },
  { match: /back|api|server/, keywords: ["backend", "api", "server", "database", "data"] },
  { match: /test|qa/, keywords: ["test", "tests", "qa", "validation", "regression"] },
  { match: /review|audit/, keywords: ["review", "reviewer", "security", "audit", "validation"] },
  { match: /doc|writer/, keywords: ["docs", "doc", "documentation", "spec", "readme"] },
  {
    match: /devops|\bops\b|infra|deploy/,
    keywords: ["devops", "ops", "infra", "deploy", "ci", "reliability"],
  },
  { match: /security|^sec$/, keywords: ["security", "sec", "vulnerability", "hardening", "audit"] },
];

/** Keywords of the agent's lane, or undefined for a generalist. */
export function laneKeywords(agent: Pick<Agent, "name" | "role">): string[] | undefined {
  const who = (agent.role && !["default", "worker"].includes(agent.role) ? agent.role : agent.name)
    .toLowerCase();
  return LANES.find((l) => l.match.test(who))?.keywords;
}

/**
 * Lower case of ASCII letters only, and words split on ASCII separators (any other character
 * is part of a word): the same rule as the backlog scan's Lua, so the prompt's snapshot and the
 * claim agree byte for byte.
 */
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
// ASCII control characters are separators too, as in the Lua scan.
// deno-lint-ignore no-control-regex
const SEPARATORS = /[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+/;

export function matchesLane(
  task: Pick<Task, "tags" | "description">,
  keywords: string[] | undefined,
): boolean {
  if (!keywords) return true;
  const tags = task.tags.map(asciiLower);
  const words = new Set(asciiLower(task.description).split(SEPARATORS));
  return keywords.some((k) => tags.includes(k) || words.has(k));
}

/** Backlog entries an agent looks at per scan: its cost is bounded whatever the backlog's size. */
export const SCAN_WINDOW = 500;

const SCAN = defineScript(
  "scanBacklog",
  1,
  `
-- Which of the first backlog entries are pending tasks matching a lane (read only).
-- KEYS[1] backlog.
-- ARGV[1] task key prefix (…:task:), ARGV[2] window (entries looked at), ARGV[3] most ids
-- returned, ARGV[4] lane keywords (JSON list of lower-case ASCII words), ARGV[5] '1' = any task
-- matches (a generalist). A task matches when a keyword equals one of its tags or a word of its
-- description (ASCII letters lower-cased; words split on ASCII separators, like matchesLane).
-- Returns {backlog length, matches in the window, {ids of the first matches}}.
local total = redis.call('LLEN', KEYS[1])
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local keywords = cjson.decode(ARGV[4])
local all = ARGV[5] == '1'
local W = '%w\\128-\\255'
local out, n, most = {}, 0, tonumber(ARGV[3])
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', ARGV[1] .. id, 'state', 'tags', 'description')
  if v[1] == 'pending' then
    local ok = all
    if not ok then
      local tags = {}
      if v[2] then
        local good, list = pcall(cjson.decode, v[2])
        if good and type(list) == 'table' then
          for _, x in ipairs(list) do
            if type(x) == 'string' then tags[string.lower(x)] = true end
          end
        end
      end
      local text = ' ' .. string.lower(v[3] or '') .. ' '
      for _, k in ipairs(keywords) do
        if tags[k] or string.find(text, '%f[' .. W .. ']' .. k .. '%f[^' .. W .. ']') then
          ok = true
          break
        end
      end
    end
    if ok then
      n = n + 1
      if #out < most then out[#out + 1] = id end
    end
  end
end
return {total, n, out}
`,
);

/**
 * The backlog as one agent sees it: its length, how many of the first SCAN_WINDOW entries match
 * the agent's lane, and the first `show` of them (oldest first). One script and one pipelined
 * read of those few tasks, whatever the backlog's size.
 */
export async function backlogSnapshot(
  t: Ctx,
  agent: Agent,
  show = 8,
): Promise<{ total: number; scanned: number; matched: number; matching: Task[] }> {
  const kw = laneKeywords(agent);
  const [total, matched, ids] = (await runScript(t.redis, SCAN, [t.keys.backlog], [
    t.keys.task(""),
    SCAN_WINDOW,
    show,
    JSON.stringify(kw ?? []),
    kw ? "0" : "1",
  ])) as [number, number, string[]];
  const tasks = await getTasks(t, ids);
  return { total, scanned: Math.min(total, SCAN_WINDOW), matched, matching: tasks };
}

/**
 * Claims the oldest backlog task (among the first SCAN_WINDOW) matching the agent's lane;
 * undefined if there is none. Each try is one scan and one claim script; a task another agent
 * took meanwhile is skipped.
 */
export async function claimForAgent(t: Ctx, agent: Agent): Promise<Task | undefined> {
  for (let scan = 0; scan < 3; scan++) {
    const { matching } = await backlogSnapshot(t, agent, 10);
    if (!matching.length) return undefined;
    for (const task of matching) {
      try {
        return await claimTask(t, task.id, agent);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e; // taken by someone else meanwhile: next one
      }
    }
  }
  return undefined;
}
