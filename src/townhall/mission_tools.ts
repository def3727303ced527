/** The missions' MCP tools: the same core operations as `tt mission` and /v1/missions. */
import { z } from "@hono/zod-openapi";
import type { ToolDef } from "./tools.ts";
import * as ops from "../core/missions/ops.ts";
import { listMissions, resolveMission } from "../core/missions/store.ts";
import { missionJson } from "../core/missions/json.ts";
import { MissionNoteBody, MissionStartBody, ReviewBody } from "./routes/missions.ts";

const missionArg = z.strictObject({ mission: z.string().trim().min(1).max(100) });
const itemArg = missionArg.extend({ item: z.string().trim().min(1).max(64) });
const write = (name: string, description: string, input: ToolDef["input"], run: ToolDef["run"]) =>
  ({ name, description, scope: "town.write", write: true, input, run }) satisfies ToolDef;

export const MISSION_TOOLS: readonly ToolDef[] = [
  {
    name: "mission_list",
    description: "Active missions (all: every mission) with their items' states",
    scope: "town.read",
    input: z.strictObject({ all: z.boolean().default(false) }),
    run: async (t, a) => (await listMissions(t, { all: a.all })).map(missionJson),
  },
  {
    name: "mission_show",
    description: "One mission: its work graph, each item's status, task and agent",
    scope: "town.read",
    input: missionArg,
    run: async (t, a) => missionJson(await resolveMission(t, a.mission)),
  },
  write(
    "mission_start",
    "Start a mission from work items (id, title, depends_on…) and/or GitHub issues",
    MissionStartBody,
    async (t, b) =>
      missionJson(
        await resolveMission(
          t,
          (await ops.startMissionFromSpec(t, {
            title: b.title,
            items: b.items,
            issues: b.issues,
            maxParallel: b.max_parallel,
            reviewer: b.reviewer,
          })).id,
        ),
      ),
  ),
  write(
    "mission_pause",
    "Assign no new work in a mission",
    missionArg,
    async (t, a) => missionJson(await ops.pauseMission(t, a.mission)),
  ),
  write(
    "mission_resume",
    "Run a paused or blocked mission again",
    missionArg,
    async (t, a) => missionJson(await ops.resumeMission(t, a.mission)),
  ),
  write(
    "mission_stop",
    "Stop a mission; its open tasks are cancelled",
    missionArg,
    async (t, a) => missionJson(await ops.stopMission(t, a.mission)),
  ),
  write(
    "mission_note",
    "Leave a note for a mission's next tasks",
    missionArg.extend(MissionNoteBody.shape),
    (t, a) => ops.noteMission(t, a.mission, a.text, "mcp"),
  ),
  write(
    "mission_approve",
    "Accept a mission item waiting for review",
    itemArg.extend(ReviewBody.shape),
    async (t, a) => missionJson(await ops.approveItem(t, a.mission, a.item, a.reason ?? "")),
  ),
  write(
    "mission_reject",
    "Send a mission item under review back to work, saying what to change",
    itemArg.extend({ reason: z.string().min(1).max(8_000) }),
    async (t, a) => missionJson(await ops.rejectItem(t, a.mission, a.item, a.reason)),
  ),
];
