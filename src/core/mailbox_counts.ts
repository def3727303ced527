/**
 * Mailbox totals and their category breakdown (`[T] 3 [Q] 1 …`) for `tt status`, counted in
 * Redis: the messages stay there. Reading up to 200 whole messages per list to count them was
 * most of what `tt status` cost on a town with queued work, and grew with the length of their
 * text; this costs Redis about 2 µs per message (2.3 ms for 1,000) and returns a few numbers.
 *
 * A message's category follows from its type alone (categoryOf in messages.ts), except for
 * `custom` ones (their kind and text decide): those, and any entry whose type the script cannot
 * read, come back whole and are judged here as `tt inbox` judges them. The one difference from
 * `tt inbox`: an entry written into Redis by hand with a known type but otherwise not a valid
 * message is counted here, where the inbox calls it unreadable. tt never writes such an entry.
 * tests/core/mailbox_counts_test.ts compares the two.
 */
import { type Category, categoryOf, parseMessage, PLAIN_JSON_LUA } from "./messages.ts";
import { type Message, MESSAGE_KINDS } from "./schemas.ts";
import type { Ctx } from "./agents.ts";
import { batched } from "../redis/bulk.ts";
import { defineScript } from "../redis/script.ts";

const ORDER: Category[] = ["task", "query", "info", "confirmation"];

/**
 * Lua table type → category number (ORDER's, from 1), from categoryOf itself: every type but
 * `custom` has its category whatever else the message says.
 */
const CATEGORY_LUA = MESSAGE_KINDS.filter((k) => k !== "custom")
  .map((type) => `${type} = ${ORDER.indexOf(categoryOf({ type } as Message)) + 1}`)
  .join(", ");

const COUNT = defineScript(
  "countMailboxes",
  -1,
  `#!lua flags=no-writes
` + PLAIN_JSON_LUA,
  `
-- Counts the messages of many mailbox lists by category.
-- KEYS: the lists. ARGV[1]: most entries looked at per list (from the head).
-- Returns per key {LLEN, {task, query, info, confirmation}, {entries left to the caller}}.
-- The type is read by plain_value from an entry that opens a JSON object. Anything else (no
-- type, two of them, an escape, an unknown type) is left to the caller.
local CATEGORY = {${CATEGORY_LUA}}
local out = {}
local n = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  local counts, rest = {0, 0, 0, 0}, {}
  for _, raw in ipairs(redis.call('LRANGE', k, 0, n - 1)) do
    local kind = string.byte(raw, 1) == 123 and plain_value(raw, '"type":"', 2) -- 123: {
    local c = kind and CATEGORY[kind]
    if c then counts[c] = counts[c] + 1 else rest[#rest + 1] = raw end
  end
  out[i] = {redis.call('LLEN', k), counts, rest}
end
return out
`,
);

export interface MailboxCounts {
  /** Taken by a running round, not finished yet. */
  processing: number;
  urgent: number;
  inbox: number;
  /** Over the first `limit` messages of each list; unreadable entries are not counted. */
  categories: Record<Category, number>;
}

/** Totals and categories of each mailbox (keyed by id), in one script call per few hundred. */
export async function mailboxCounts(
  t: Ctx,
  ids: string[],
  limit: number,
): Promise<Map<string, MailboxCounts>> {
  const keys = ids.flatMap((id) => [t.keys.processing(id), t.keys.urgent(id), t.keys.inbox(id)]);
  const res = keys.length
    ? await batched<[number, number[], string[]]>(t.redis, COUNT, keys, [limit])
    : [];
  const out = new Map<string, MailboxCounts>();
  ids.forEach((id, i) => {
    const categories: Record<Category, number> = { task: 0, query: 0, info: 0, confirmation: 0 };
    const lists = res.slice(i * 3, i * 3 + 3);
    for (const [, counts, rest] of lists) {
      counts.forEach((n, j) => categories[ORDER[j]] += n);
      for (const raw of rest) {
        const m = parseMessage(raw);
        if (m) categories[categoryOf(m)]++;
      }
    }
    const [processing, urgent, inbox] = lists.map(([length]) => length);
    out.set(id, { processing, urgent, inbox, categories });
  });
  return out;
}
