/** Creating a mission item's work or review task (one script: task, message, binding). */
import { buildMessage } from "../messages.ts";
import { SUPERVISOR_ID } from "../keys.ts";
import { type Agent, Task } from "../schemas.ts";
import { callScript, getTasks, oneLine, type Reply, shortTaskId, taskFields } from "../tasks.ts";
import type { ItemLive, Mission, TaskBinding, WorkItem } from "./schemas.ts";
import { ASSIGN_ITEM } from "./scripts.ts";
import { listNotes, type MissionView, shortMissionId } from "./store.ts";
import { check, type SchedCtx } from "./context.ts";

export async function workDescription(
  s: SchedCtx,
  v: MissionView,
  it: WorkItem,
  live: ItemLive,
): Promise<string> {
  const m = v.mission;
  const deps = it.depends_on.map((d) => v.live.get(d)?.task).filter((x): x is string => !!x);
  const results = await getTasks(s.t, deps);
  const notes = (await listNotes(s.t, m.id)).slice(-3);
  const parts = [
    `[Mission work] ${it.title}`,
    it.body.trim(),
    `Mission ${shortMissionId(m.id)} "${m.title}", work item '${it.id}' (${it.kind}${
      it.role ? `, for a ${it.role}` : ""
    }).`,
  ];
  if (results.length) {
    parts.push(
      "Results of the items this one depends on:\n" +
        results.map((r) => `- ${oneLine(r.result ?? "", 300)}`).join("\n"),
    );
  }
  if (live.feedback) parts.push(`Changes requested on the last attempt:\n${live.feedback}`);
  if (notes.length) parts.push("Operator notes:\n" + notes.map((n) => `- ${n.text}`).join("\n"));
  return parts.filter(Boolean).join("\n\n");
}

export function reviewDescription(m: Mission, it: WorkItem, result: string): string {
  return [
    `[Mission review] ${it.title}`,
    `Review the work done on item '${it.id}' of mission ${shortMissionId(m.id)} "${m.title}".`,
    it.body.trim(),
    `The worker reported: ${result}`,
    `Complete this task with --result "approved: <why>" to accept the work, or ` +
    `--result "rejected: <what to change>" to send it back.`,
  ].filter(Boolean).join("\n\n");
}

export interface AssignArgs {
  v: MissionView;
  it: WorkItem;
  agent: Agent;
  role: "work" | "review";
  description: string;
  verify?: string;
  cause?: string;
}

export async function assign(s: SchedCtx, a: AssignArgs): Promise<Reply> {
  const { t } = s;
  const now = new Date();
  const iso = now.toISOString();
  const id = crypto.randomUUID();
  const mid = a.v.mission.id;
  const task = Task.parse({
    id,
    description: a.description,
    state: "pending",
    created_by: SUPERVISOR_ID,
    created_at: iso,
    updated_at: iso,
    tags: ["mission", `mission:${mid}`, `item:${a.it.id}`, a.role],
    verify: a.verify,
  });
  const msg = buildMessage({
    from: SUPERVISOR_ID,
    to: a.agent.id,
    type: "task_assign",
    task_id: id,
    body: a.description,
  });
  const binding: TaskBinding = { mission: mid, item: a.it.id, role: a.role };
  const what = a.role === "work" ? "work" : "review";
  return check(
    await callScript(
      t,
      ASSIGN_ITEM,
      [
        t.keys.events,
        t.keys.dispatcherLock,
        t.keys.mission(mid),
        t.keys.missionItems(mid),
        t.keys.tasks,
        t.keys.task(id),
        t.keys.missionTasks,
        t.keys.agent(a.agent.id),
        t.keys.inbox(a.agent.id),
      ],
      [
        iso,
        JSON.stringify({
          mission: mid,
          item: a.it.id,
          token: s.token,
          role: a.role,
          task_id: id,
          agent_id: a.agent.id,
          score: now.getTime(),
          binding: JSON.stringify(binding),
          message: JSON.stringify(msg),
          task_event: `task ${shortTaskId(id)} assigned to ${a.agent.name}: ${
            oneLine(a.description)
          }`,
          message_text: `mission ${
            shortMissionId(mid)
          }: ${what} on '${a.it.id}' assigned to ${a.agent.name} (task ${shortTaskId(id)})`,
          cause: a.cause ?? "",
        }),
        ...taskFields(task),
      ],
    ),
  );
}
