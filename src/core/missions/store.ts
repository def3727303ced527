/**
 * Missions in Redis: creating one (graph already checked) and reading them back (whole, by id
 * prefix, their notes). Their atomic transitions are transitions.ts; the shapes they are shown
 * in, json.ts.
 */
import { ConflictError, NotFoundError, UsageError } from "../errors.ts";
import type { Ctx } from "../agents.ts";
import { callScript, oneLine } from "../tasks.ts";
import { type ItemLive, Mission, MissionNote, parseItemsHash, type WorkItem } from "./schemas.ts";
import { CREATE_MISSION } from "./scripts.ts";

export const shortMissionId = (id: string) => id.slice(0, 8);

/** Text every help request of a mission carries, so they can be found and retired. */
export const helpMarker = (id: string) => `[Mission help] mission ${id}`;

export interface NewMission {
  title?: string;
  /** Where the items came from: `plan:<path>`, `issues:o/r#1,o/r#2`… */
  source: string;
  items: WorkItem[];
  maxParallel?: number;
  /** Implement/test items need a reviewer's approval (default true). */
  reviewer?: boolean;
  /** Seconds between two checks of a watched pull request (default 180). */
  watchInterval?: number;
}

export interface MissionView {
  mission: Mission;
  live: Map<string, ItemLive>;
}

/** Writes a mission and its pending items in one step, active and running. */
export async function createMission(t: Ctx, input: NewMission): Promise<Mission> {
  const id = crypto.randomUUID();
  const now = new Date();
  const iso = now.toISOString();
  const title = (input.title?.trim() || input.items[0].title).slice(0, 300);
  const maxParallel = input.maxParallel ?? 2;
  if (!Number.isInteger(maxParallel) || maxParallel < 1 || maxParallel > 100) {
    throw new UsageError(`--max-parallel must be a whole number from 1 to 100, not ${maxParallel}`);
  }
  const record: Record<string, string> = {
    id,
    title,
    state: "running",
    created_at: iso,
    updated_at: iso,
    max_parallel: String(maxParallel),
    reviewer: input.reviewer === false ? "0" : "1",
    source: input.source,
    items: JSON.stringify(input.items),
    help_attempts: "0",
    watch_interval: String(input.watchInterval ?? 180),
  };
  const res = await callScript(
    t,
    CREATE_MISSION,
    [
      t.keys.events,
      t.keys.missions,
      t.keys.missionsActive,
      t.keys.mission(id),
      t.keys.missionItems(id),
    ],
    [
      iso,
      JSON.stringify({
        mission: id,
        score: now.getTime(),
        fields: Object.entries(record).flat(),
        items: input.items.map((i) => i.id),
        message: `mission ${shortMissionId(id)} started: ${
          oneLine(title)
        } (${input.items.length} items)`,
      }),
    ],
  );
  if (res.error) throw new ConflictError(`mission ${id} already exists`);
  return Mission.parse(record);
}

/**
 * A mission's graph is written once and never changes, so its parsed form is kept per mission,
 * checked by the text's length (HSTRLEN: Redis does not send the text): a 500-item graph is
 * neither sent nor re-validated on every event.
 */
const graphCache = new Map<string, { length: number; items: Mission["items"] }>();
/** The mission record's fields but its graph (`items`), read with HMGET. */
const RECORD_FIELDS = Object.keys(Mission.shape).filter((k) => k !== "items");

/** A mission record from its hash's fields (the graph parsed once per mission, then cached). */
export function parseRecord(m: Record<string, string>): Mission | undefined {
  if (!m?.id) return undefined;
  const cached = graphCache.get(m.id);
  const hit = m.items === undefined && cached;
  const r = Mission.safeParse(hit ? { ...m, items: "[]" } : m);
  if (!r.success) return undefined;
  if (hit) r.data.items = cached.items;
  else if (r.data.items) {
    if (graphCache.size > 100) graphCache.clear();
    graphCache.set(m.id, { length: m.items.length, items: r.data.items });
  }
  return r.data;
}

/** A mission's view from its record's fields and its items hash. */
function parseView(
  m: Record<string, string>,
  items: Record<string, string>,
): MissionView | undefined {
  const mission = parseRecord(m);
  return mission && { mission, live: parseItemsHash(mission.items, items ?? {}) };
}

type Pipeline = ReturnType<Ctx["redis"]["pipeline"]>;

/**
 * Missions' records (their graphs sent only when not cached here: a second round trip) and,
 * in the same pipeline, what `readItems` queues for each mission's items hash (one command).
 */
export async function readMissions(
  t: Ctx,
  ids: string[],
  readItems: (pipe: Pipeline, itemsKey: string) => void,
): Promise<{ m: Record<string, string>; items: unknown }[]> {
  if (!ids.length) return [];
  const pipe = t.redis.pipeline();
  for (const id of ids) {
    pipe.hmget(t.keys.mission(id), ...RECORD_FIELDS).hstrlen(t.keys.mission(id), "items");
    readItems(pipe, t.keys.missionItems(id));
  }
  const res = (await pipe.exec()) ?? [];
  const records: { m: Record<string, string>; items: unknown }[] = [];
  const uncached: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const [e1, values] = res[3 * i];
    const [e2, length] = res[3 * i + 1];
    const [e3, items] = res[3 * i + 2];
    if (e1 || e2 || e3) throw e1 ?? e2 ?? e3;
    const m: Record<string, string> = {};
    (values as (string | null)[]).forEach((v, k) => {
      if (v !== null) m[RECORD_FIELDS[k]] = v;
    });
    records.push({ m, items });
    if (graphCache.get(ids[i])?.length !== Number(length)) uncached.push(i);
  }
  if (uncached.length) {
    const graphs = await t.redis.pipeline(
      uncached.map((i) => ["hget", t.keys.mission(ids[i]), "items"]),
    ).exec() ?? [];
    uncached.forEach((i, k) => {
      const [e, g] = graphs[k];
      if (e) throw e;
      if (typeof g === "string") records[i].m.items = g;
    });
  }
  return records;
}

/** Missions by id, whole (every field of their items); missing or unreadable ones left out. */
export async function loadMissions(t: Ctx, ids: string[]): Promise<MissionView[]> {
  const records = await readMissions(t, ids, (pipe, key) => pipe.hgetall(key));
  return records.flatMap(({ m, items }) => {
    const v = parseView(m, items as Record<string, string>);
    return v ? [v] : [];
  });
}

export async function loadMission(t: Ctx, id: string): Promise<MissionView | undefined> {
  return (await loadMissions(t, [id]))[0];
}

/** Active missions (default) or all of them, oldest first. */
export async function listMissions(t: Ctx, opts: { all?: boolean } = {}): Promise<MissionView[]> {
  const ids = await t.redis.zrange(t.keys.missions, "0", "-1");
  const active = opts.all ? undefined : new Set(await t.redis.smembers(t.keys.missionsActive));
  return await loadMissions(t, active ? ids.filter((id) => active.has(id)) : ids);
}

/** A mission by full id or unique id prefix (≥ 4 characters). */
export async function resolveMission(t: Ctx, ref: string): Promise<MissionView> {
  const r = ref.trim().toLowerCase();
  if (r.length < 4) {
    throw new UsageError(`mission id '${ref.trim()}' is too short: give at least 4 characters`);
  }
  const ids = (await t.redis.zrange(t.keys.missions, "0", "-1")).filter((id) => id.startsWith(r));
  if (ids.length > 1) {
    throw new UsageError(
      `mission id '${ref.trim()}' is ambiguous (${
        ids.map(shortMissionId).join(", ")
      }): give more characters`,
    );
  }
  const v = ids.length ? await loadMission(t, ids[0]) : undefined;
  if (!v) throw new NotFoundError(`no mission '${ref.trim()}': 'tt mission list --all' shows them`);
  return v;
}

export async function listNotes(t: Ctx, id: string): Promise<MissionNote[]> {
  return (await t.redis.lrange(t.keys.missionNotes(id), 0, -1)).flatMap((raw) => {
    try {
      const r = MissionNote.safeParse(JSON.parse(raw));
      return r.success ? [r.data] : [];
    } catch {
      return [];
    }
  });
}
