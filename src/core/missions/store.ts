/**
 * Missions in Redis: creating one (graph already checked), reading them back, and the small
 * atomic transitions every other module goes through.
 */
import { ConflictError, NotFoundError, UsageError } from "../errors.ts";
import { SUPERVISOR_ID } from "../keys.ts";
import type { Ctx } from "../agents.ts";
import { callScript, oneLine, type Reply } from "../tasks.ts";
import {
  type ItemLive,
  type ItemStatus,
  Mission,
  MissionNote,
  type MissionState,
  parseItemsHash,
  type WorkItem,
} from "./schemas.ts";
import { CREATE_MISSION, SET_ITEM, SET_MISSION_STATE } from "./scripts.ts";

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

export interface Counts {
  total: number;
  done: number;
  watch: number;
  active: number;
  ready: number;
  review: number;
  failed: number;
}

export function countItems(v: MissionView): Counts {
  const c: Counts = { total: 0, done: 0, watch: 0, active: 0, ready: 0, review: 0, failed: 0 };
  for (const l of v.live.values()) {
    c.total++;
    if (l.status === "done") c.done++;
    else if (l.status === "active") c.active++;
    else if (l.status === "ready") c.ready++;
    else if (l.status === "review") c.review++;
    else if (l.status === "watch") c.watch++;
    else if (l.status === "failed") c.failed++;
  }
  return c;
}

export interface StateChange {
  from: readonly MissionState[];
  to: MissionState;
  reason?: string;
  event: string;
  message: string;
  /** Dispatcher lease token ('' or unset: the operator). */
  token?: string;
  cause?: string;
  retireHelp?: boolean;
  allDone?: boolean;
  resetFailed?: boolean;
}

/** One mission state transition (and its event); refused unless the mission is in `from`. */
export async function changeMissionState(t: Ctx, id: string, c: StateChange): Promise<Reply> {
  return await callScript(
    t,
    SET_MISSION_STATE,
    [
      t.keys.events,
      t.keys.dispatcherLock,
      t.keys.mission(id),
      t.keys.missionsActive,
      t.keys.missionItems(id),
      t.keys.inbox(SUPERVISOR_ID),
    ],
    [
      new Date().toISOString(),
      JSON.stringify({
        mission: id,
        token: c.token ?? "",
        from: c.from,
        to: c.to,
        reason: c.reason ?? "",
        active: !["completed", "stopped"].includes(c.to),
        event: c.event,
        message: c.message,
        cause: c.cause ?? "",
        retire_help: c.retireHelp ? helpMarker(id) : "",
        all_done: !!c.allDone,
        reset_failed: !!c.resetFailed,
        actor: c.token ? "dispatcher" : "",
      }),
    ],
  );
}

export interface ItemChange {
  from: readonly ItemStatus[];
  to: ItemStatus;
  /** Only if this task is bound to the item (as its work or review task). */
  task?: string;
  /** …and is in this state now. */
  taskState?: string;
  set?: Record<string, string | number>;
  del?: string[];
  event: {
    type: string;
    message: string;
    task_id?: string;
    agent_id?: string;
    reason?: string;
    actor?: string;
  };
  token?: string;
  cause?: string;
  /** Only while the mission is running. */
  running?: boolean;
}

/** One item transition (and its event); `ok: false` when its status or task do not match. */
export async function changeItem(
  t: Ctx,
  missionId: string,
  item: string,
  c: ItemChange,
): Promise<Reply> {
  return await callScript(
    t,
    SET_ITEM,
    [
      t.keys.events,
      t.keys.dispatcherLock,
      t.keys.mission(missionId),
      t.keys.missionItems(missionId),
      t.keys.task(c.task ?? "none"),
    ],
    [
      new Date().toISOString(),
      JSON.stringify({
        mission: missionId,
        item,
        token: c.token ?? "",
        from: c.from,
        task: c.task ?? "",
        task_state: c.taskState ?? "",
        to: c.to,
        set: c.set ?? {},
        del: c.del ?? [],
        event: c.event,
        cause: c.cause ?? "",
        running: !!c.running,
      }),
    ],
  );
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

/** The JSON shape of a mission (CLI --json, REST, MCP). */
export function missionJson(v: MissionView) {
  const m = v.mission;
  return {
    id: m.id,
    title: m.title,
    state: m.state,
    reason: m.reason,
    source: m.source,
    max_parallel: m.max_parallel,
    reviewer: m.reviewer,
    created_at: m.created_at,
    updated_at: m.updated_at,
    help_reason: m.help_reason,
    watch_interval: m.watch_interval,
    counts: countItems(v),
    items: m.items.map((it) => {
      const l = v.live.get(it.id)!;
      return {
        id: it.id,
        title: it.title,
        kind: it.kind,
        role: it.role,
        depends_on: it.depends_on,
        verify: it.verify,
        source: it.source,
        status: l.status,
        task: l.task,
        review_task: l.review,
        agent: l.agent,
        attempts: l.attempts,
        feedback: l.feedback,
        prs: l.prs,
      };
    }),
  };
}
export type MissionJson = ReturnType<typeof missionJson>;

/** One line's worth of an active mission, for `tt status`. */
export interface MissionBrief {
  id: string;
  title: string;
  state: MissionState;
  done: number;
  total: number;
  active: number;
  reason?: string;
}

/** Briefs of the given missions (one pipelined round trip), oldest first. */
export async function missionBriefs(t: Ctx, ids: string[]): Promise<MissionBrief[]> {
  const views = (await loadMissions(t, ids)).sort((a, b) =>
    a.mission.created_at.localeCompare(b.mission.created_at)
  );
  return views.map((v) => {
    const c = countItems(v);
    const m = v.mission;
    return {
      id: m.id,
      title: m.title,
      state: m.state,
      done: c.done,
      total: c.total,
      active: c.active,
      reason: m.reason,
    };
  });
}
