/**
 * The dispatcher's view of a mission in a few round trips whatever the graph's size: every
 * item's status from the status indexes the scripts keep in the items hash ('#in:<status>',
 * see scripts.ts: a handful of fields, not the whole hash), and the details (task, agent,
 * feedback, pull requests…) only of the items in play — ready, active, in review, watched,
 * failed — of the dependencies of ready items (their results go into the work's text), and of
 * the items asked for. Pending and done items carry their status only (one shared, frozen
 * state per status: replace it, never change it). A hash written before the indexes is read
 * whole.
 */
import type { Ctx } from "../agents.ts";
import {
  ITEM_STATUSES,
  type ItemLive,
  itemLive,
  type ItemStatus,
  type WorkItem,
} from "./schemas.ts";
import { loadMissions, type MissionView, parseRecord, readMissions } from "./store.ts";

const INDEX_FIELDS = ["#counted", ...ITEM_STATUSES.map((s) => `#in:${s}`)];
const IN_PLAY = new Set<ItemStatus>(["ready", "active", "review", "watch", "failed"]);
/** The fields of one item parseItemsHash reads (the status is the item's own id). */
const ITEM_FIELDS = [
  "",
  ":task",
  ":review",
  ":agent",
  ":attempts",
  ":feedback",
  ":prs",
  ":fixcause",
  ":next_check",
  ":watch_failures",
];

/** Items by id, per (cached, immutable) graph. */
const graphs = new WeakMap<readonly WorkItem[], Map<string, WorkItem>>();
function byId(items: readonly WorkItem[]): Map<string, WorkItem> {
  let m = graphs.get(items);
  if (!m) graphs.set(items, m = new Map(items.map((it) => [it.id, it])));
  return m;
}

/** The one shared, frozen live state of every item of a status whose details are not read. */
const QUIET = new Map<ItemStatus, ItemLive>();
function quiet(status: ItemStatus): ItemLive {
  let l = QUIET.get(status);
  if (!l) {
    QUIET.set(status, l = Object.freeze({ status, attempts: 0, prs: [], watchFailures: 0 }));
    Object.freeze(l.prs);
  }
  return l;
}

/** Frontier views of missions by id (missing or unreadable ones left out). */
export async function loadFrontiers(
  t: Ctx,
  ids: string[],
  extra: (missionId: string) => string[] = () => [],
): Promise<MissionView[]> {
  const records = await readMissions(t, ids, (pipe, key) => pipe.hmget(key, ...INDEX_FIELDS));
  const out: { v: MissionView; wanted: string[] }[] = [];
  const whole: string[] = [];
  for (const { m, items } of records) {
    const [counted, ...lists] = items as (string | null)[];
    if (!counted) {
      if (m.id) whole.push(m.id);
      continue;
    }
    const mission = parseRecord(m);
    if (!mission) continue;
    const graph = byId(mission.items);
    const live = new Map<string, ItemLive>();
    const wanted = new Set(extra(mission.id).filter((id) => graph.has(id)));
    lists.forEach((list, k) => {
      const st = ITEM_STATUSES[k];
      const inPlay = IN_PLAY.has(st);
      for (const id of (list ?? "").split(" ")) {
        const it = id && graph.get(id);
        if (!it) continue;
        if (!inPlay) {
          live.set(id, quiet(st));
          continue;
        }
        live.set(id, { status: st, attempts: 0, prs: [], watchFailures: 0 });
        wanted.add(id);
        if (st === "ready") { for (const d of it.depends_on) wanted.add(d); }
      }
    });
    if (live.size !== mission.items.length) {
      for (const it of mission.items) if (!live.has(it.id)) live.set(it.id, quiet("pending"));
    }
    out.push({ v: { mission, live }, wanted: [...wanted] });
  }
  const pipe = t.redis.pipeline();
  for (const { v, wanted } of out) {
    const fields = wanted.flatMap((id) => ITEM_FIELDS.map((f) => id + f));
    if (fields.length) pipe.hmget(t.keys.missionItems(v.mission.id), ...fields);
    else pipe.ping();
  }
  const res = out.length ? (await pipe.exec()) ?? [] : [];
  out.forEach(({ v, wanted }, i) => {
    const [e, values] = res[i];
    if (e) throw e;
    if (!Array.isArray(values)) return;
    wanted.forEach((id, k) => {
      const hash: Record<string, string> = {};
      ITEM_FIELDS.forEach((f, j) => {
        const value = values[k * ITEM_FIELDS.length + j];
        if (typeof value === "string") hash[id + f] = value;
      });
      // The status stays the index's (read with the others, in one step); the rest from here.
      v.live.set(id, { ...itemLive(id, hash), status: v.live.get(id)!.status });
    });
  });
  const views = out.map((x) => x.v);
  if (whole.length) views.push(...await loadMissions(t, whole));
  return views;
}

export async function loadFrontier(
  t: Ctx,
  id: string,
  extra: string[] = [],
): Promise<MissionView | undefined> {
  return (await loadFrontiers(t, [id], () => extra))[0];
}
