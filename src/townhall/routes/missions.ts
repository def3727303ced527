/** Missions: list, show, start (items or GitHub issues), pause/resume/stop, note, approve/reject. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { conflict, errors, json, jsonBody, notFound, secured, tooLarge } from "./common.ts";
import * as ops from "../../core/missions/ops.ts";
import { listMissions, resolveMission } from "../../core/missions/store.ts";
import { missionJson } from "../../core/missions/json.ts";
import { ITEM_KINDS, ITEM_STATUSES, MISSION_STATES } from "../../core/missions/schemas.ts";

const Counts = z.object({
  total: z.number(),
  done: z.number(),
  watch: z.number(),
  active: z.number(),
  ready: z.number(),
  review: z.number(),
  failed: z.number(),
});
export const MissionOut = z.object({
  id: z.string(),
  title: z.string(),
  state: z.enum(MISSION_STATES),
  reason: z.string().optional(),
  source: z.string(),
  max_parallel: z.number(),
  reviewer: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  help_reason: z.string().optional(),
  watch_interval: z.number(),
  counts: Counts,
  items: z.array(z.object({
    id: z.string(),
    title: z.string(),
    kind: z.enum(ITEM_KINDS),
    role: z.string().optional(),
    depends_on: z.array(z.string()),
    verify: z.string().optional(),
    source: z.string().optional(),
    status: z.enum(ITEM_STATUSES),
    task: z.string().optional(),
    review_task: z.string().optional(),
    agent: z.string().optional(),
    attempts: z.number(),
    feedback: z.string().optional(),
    prs: z.array(z.string()),
  })),
}).openapi("Mission");

const text = (max: number) => z.string().max(max);
const ItemIn = z.strictObject({
  id: z.string().min(1).max(64),
  title: text(300).min(1),
  body: text(32_000).optional(),
  kind: z.enum(ITEM_KINDS).optional(),
  role: z.string().min(1).max(64).optional(),
  verify: text(8_000).min(1).optional(),
  depends_on: z.array(z.string().max(64)).max(1000).default([]),
});
export const MissionStartBody = z.strictObject({
  title: text(300).optional(),
  items: z.array(ItemIn).max(1000).optional(),
  issues: z.array(z.string().min(1).max(300)).max(200).optional(),
  max_parallel: z.number().int().min(1).max(100).optional(),
  reviewer: z.boolean().optional(),
  watch_interval: z.number().min(0.05).max(86_400).optional(),
}).openapi("MissionStart");
export const MissionNoteBody = z.strictObject({ text: text(8_000).min(1) });
export const ReviewBody = z.strictObject({ reason: text(8_000).optional() });
const MissionParam = z.object({ mission: z.string().min(1).max(100) });
const ItemParam = MissionParam.extend({ item: z.string().min(1).max(64) });
const ListQuery = z.object({ all: z.enum(["true", "false"]).optional() });

export function register(app: OpenAPIHono<AppEnv>, { town }: TownhallDeps) {
  const show = async (ref: string) => missionJson(await resolveMission(town, ref));
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/missions",
      tags: ["Missions"],
      summary: "Active missions (all=true: every mission), oldest first",
      ...secured("town.read"),
      request: { query: ListQuery },
      responses: { 200: json(z.array(MissionOut), "The missions"), ...errors },
    }),
    async (c) => {
      const all = c.req.valid("query").all === "true";
      return c.json((await listMissions(town, { all })).map(missionJson), 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/missions/{mission}",
      tags: ["Missions"],
      summary: "One mission (id or id prefix): its work graph and each item's state",
      ...secured("town.read"),
      request: { params: MissionParam },
      responses: { 200: json(MissionOut, "The mission"), ...errors, ...notFound },
    }),
    async (c) => c.json(await show(c.req.valid("param").mission), 200),
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/missions",
      tags: ["Missions"],
      summary: "Start a mission from work items and/or GitHub issues (a cycle is refused: 400)",
      ...secured("town.write"),
      request: jsonBody(MissionStartBody),
      responses: { 201: json(MissionOut, "The mission, running"), ...errors, ...tooLarge },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const m = await ops.startMissionFromSpec(town, {
        title: b.title,
        items: b.items,
        issues: b.issues,
        maxParallel: b.max_parallel,
        reviewer: b.reviewer,
        watchInterval: b.watch_interval,
      });
      return c.json(await show(m.id), 201);
    },
  );
  const actions = {
    pause: (ref: string) => ops.pauseMission(town, ref),
    resume: (ref: string) => ops.resumeMission(town, ref),
    stop: (ref: string) => ops.stopMission(town, ref),
  };
  for (const [name, run] of Object.entries(actions)) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/missions/{mission}/${name}`,
        tags: ["Missions"],
        summary: `${name[0].toUpperCase()}${name.slice(1)} a mission`,
        ...secured("town.write"),
        request: { params: MissionParam },
        responses: { 200: json(MissionOut, "The mission"), ...errors, ...notFound, ...conflict },
      }),
      async (c) => {
        const v = await run(c.req.valid("param").mission);
        return c.json(missionJson(v), 200);
      },
    );
  }
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/missions/{mission}/note",
      tags: ["Missions"],
      summary: "A note for the mission (given to the agents of its next tasks)",
      ...secured("town.write"),
      request: { params: MissionParam, ...jsonBody(MissionNoteBody) },
      responses: { 200: json(MissionOut, "The mission"), ...errors, ...notFound, ...tooLarge },
    }),
    async (c) => {
      const { mission } = c.req.valid("param");
      await ops.noteMission(town, mission, c.req.valid("json").text, "townhall");
      return c.json(await show(mission), 200);
    },
  );
  for (const approve of [true, false]) {
    app.openapi(
      createRoute({
        method: "post",
        path: `/v1/missions/{mission}/items/{item}/${approve ? "approve" : "reject"}`,
        tags: ["Missions"],
        summary: approve
          ? "Accept an item waiting for review"
          : "Send an item under review back to work (reason required)",
        ...secured("town.write"),
        request: { params: ItemParam, ...jsonBody(ReviewBody) },
        responses: { 200: json(MissionOut, "The mission"), ...errors, ...notFound, ...conflict },
      }),
      async (c) => {
        const { mission, item } = c.req.valid("param");
        const reason = c.req.valid("json").reason ?? "";
        const v = approve
          ? await ops.approveItem(town, mission, item, reason)
          : await ops.rejectItem(town, mission, item, reason);
        return c.json(missionJson(v), 200);
      },
    );
  }
}
