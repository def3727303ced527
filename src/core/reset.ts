/**
 * `tt reset`: delete a town's Redis state, or only its agents and their mailboxes. Town keys are
 * found with SCAN (never KEYS) and removed with UNLINK in batches.
 */
import { isAgentKey } from "./keys.ts";
import { emitEvent } from "./events.ts";
import type { Ctx } from "./agents.ts";
import { nodeFor } from "../redis/connection.ts";

const BATCH = 500;

/**
 * Every key of the town's state, in SCAN batches. A full sweep: only for reset and save. Only
 * keys with the town's exact prefix `tt:{<name>}:` are yielded, and never the owner key (the
 * town's claim of its name, identity.ts): a reset keeps it, a snapshot does not carry it.
 */
export async function* townKeyBatches(t: Ctx): AsyncGenerator<string[]> {
  // On a cluster SCAN sees one node: the one owning the town's slot (every key has its tag).
  const node = nodeFor(t.redis, t.keys.owner);
  let cursor = "0";
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", t.keys.all, "COUNT", BATCH);
    cursor = next;
    const ours = keys.filter((k) => k.startsWith(t.keys.prefix) && k !== t.keys.owner);
    if (ours.length) yield ours;
  } while (cursor !== "0");
}

export interface ResetOptions {
  /** Only agents, their mailboxes and the conductor mailbox; keep tasks, backlog, plan, events. */
  agentsOnly?: boolean;
}

export interface ResetPreview {
  agents_only: boolean;
  agents: number;
  tasks: number;
  backlog: number;
  /** Redis keys that a reset would delete. */
  keys: number;
}

/**
 * Which town keys a reset deletes (the per-agent ones, or all but the owner key: the town keeps
 * its name on this Redis, so no other town can take it between the reset and its next use).
 */
function selector(t: Ctx, opts: ResetOptions): (key: string) => boolean {
  if (!opts.agentsOnly) return () => true;
  return (k) => k === t.keys.agents || k === t.keys.agentNames || isAgentKey(t.keys, k);
}

/** What `resetTown` would delete, deleting nothing. */
export async function previewReset(t: Ctx, opts: ResetOptions = {}): Promise<ResetPreview> {
  const res = await t.redis.pipeline().scard(t.keys.agents).zcard(t.keys.tasks)
    .llen(t.keys.backlog).exec();
  const [agents, tasks, backlog] = (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as number;
  });
  const wanted = selector(t, opts);
  const keys = new Set<string>(); // SCAN may return a key twice
  for await (const batch of townKeyBatches(t)) for (const k of batch) if (wanted(k)) keys.add(k);
  return { agents_only: !!opts.agentsOnly, agents, tasks, backlog, keys: keys.size };
}

/**
 * Deletes the town's keys (or only the per-agent ones) and records a `town_reset` event, written
 * after the sweep so that history starts with it even when the stream itself was deleted.
 */
export async function resetTown(t: Ctx, opts: ResetOptions = {}): Promise<{ deleted: number }> {
  const wanted = selector(t, opts);
  let deleted = 0;
  for await (const batch of townKeyBatches(t)) {
    const doomed = batch.filter(wanted);
    if (doomed.length) deleted += await t.redis.unlink(...doomed);
  }
  await emitEvent(t, {
    type: "town_reset",
    message: opts.agentsOnly
      ? `Agents reset: ${deleted} keys deleted (tasks, backlog and events kept)`
      : `Town reset: ${deleted} keys deleted`,
  });
  return { deleted };
}
