/**
 * The scheduling steps the dispatcher takes for one mission: promote items whose dependencies
 * are done, assign ready items (max_parallel, role scoring), route finished work through the
 * reviewer gate, complete the mission, and ask the conductor for help when it cannot go on.
 * Every write is a script that checks the dispatcher's lease token.
 */
import { listAgents } from "../agents.ts";
import { type Agent, isTerminalAgent } from "../schemas.ts";
import { callScript, getTask, getTasks, oneLine, type Reply, shortTaskId } from "../tasks.ts";
import { GATED_KINDS, type TaskBinding } from "./schemas.ts";
import { PROMOTE } from "./scripts.ts";
import { loadMission, loadMissions, shortMissionId } from "./store.ts";
import { changeItem, changeMissionState, type ItemChange } from "./transitions.ts";
import { countItems } from "./json.ts";
import { laneOf, pickAgent } from "./scoring.ts";
import { loadFrontier } from "./frontier.ts";
import { ACTOR, check, type SchedCtx } from "./context.ts";
import { assign, reviewDescription, workDescription } from "./assign.ts";
import { assessHelp } from "./help.ts";
import { prRefs } from "./watch.ts";

export { LeaseLost, type SchedCtx } from "./context.ts";
export { helpDueAt } from "./help.ts";

function available(agents: Agent[]): Agent[] {
  return agents.filter((a) =>
    !isTerminalAgent(a.state) && a.state !== "paused" && a.state !== "draining"
  );
}

/** A work task's text: the item's title first, then what the agent needs to know. */
export interface ScheduleResult {
  promoted: number;
  assigned: number;
  completed: boolean;
}

/** One scheduling pass over a mission, in reaction to the event `cause`. */
export async function scheduleMission(
  s: SchedCtx,
  missionId: string,
  cause?: string,
): Promise<ScheduleResult> {
  const out: ScheduleResult = { promoted: 0, assigned: 0, completed: false };
  const v = await loadFrontier(s.t, missionId);
  if (!v || v.mission.state !== "running") return out;
  const { mission } = v;
  const items = mission.items;
  const st = (id: string) => v.live.get(id)!.status;

  const promotable = items.filter((it) =>
    st(it.id) === "pending" && it.depends_on.every((d) => st(d) === "done")
  );
  if (promotable.length) {
    const res = check(
      await callScript(s.t, PROMOTE, [
        s.t.keys.events,
        s.t.keys.dispatcherLock,
        s.t.keys.mission(missionId),
        s.t.keys.missionItems(missionId),
      ], [
        new Date().toISOString(),
        JSON.stringify({
          mission: missionId,
          token: s.token,
          cause: cause ?? "",
          items: promotable.map((it) => ({ id: it.id, deps: it.depends_on })),
        }),
      ]),
    );
    out.promoted = Number(res.n) || 0;
    for (const id of String(res.ids || "").split(",").filter(Boolean)) {
      v.live.set(id, { ...v.live.get(id)!, status: "ready" });
    }
  }

  if (items.every((it) => st(it.id) === "done")) {
    const res = check(
      await changeMissionState(s.t, missionId, {
        from: ["running"],
        to: "completed",
        allDone: true,
        event: "mission_completed",
        message: `mission ${shortMissionId(missionId)} completed: all ${items.length} items done`,
        token: s.token,
        cause,
        retireHelp: true,
      }),
    );
    out.completed = res.ok === true;
    return out;
  }

  const agents = available(await listAgents(s.t));
  const load = new Map<string, number>();
  for (const l of v.live.values()) {
    if (l.status === "active" && l.agent) load.set(l.agent, (load.get(l.agent) ?? 0) + 1);
  }
  let slots = mission.max_parallel - countItems(v).active;
  const stuck: string[] = [];
  for (const it of items) {
    if (slots <= 0) break;
    if (st(it.id) !== "ready") continue;
    const live = v.live.get(it.id)!;
    const pool = [...agents];
    for (;;) {
      const agent = pickAgent(pool, it, load);
      if (!agent) {
        stuck.push(it.id);
        break;
      }
      const res = await assign(s, {
        v,
        it,
        agent,
        role: "work",
        description: await workDescription(s, v, it, live),
        verify: it.verify,
        cause,
      });
      if (res.ok) {
        out.assigned++;
        slots--;
        load.set(agent.id, (load.get(agent.id) ?? 0) + 1);
        break;
      }
      if (res.error === "agent") {
        pool.splice(pool.indexOf(agent), 1);
        continue;
      }
      if (res.error === "full") slots = 0;
      break;
    }
  }

  const waiting: string[] = [];
  for (const it of items) {
    const live = v.live.get(it.id)!;
    if (live.status !== "review" || live.review) continue;
    const reviewer = agents.filter((a) => laneOf(a) === "reviewer" && a.id !== live.agent)
      .sort((a, b) => (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0))[0];
    if (!reviewer) {
      waiting.push(it.id);
      continue;
    }
    const work = live.task ? await getTask(s.t, live.task) : undefined;
    await assign(s, {
      v,
      it,
      agent: reviewer,
      role: "review",
      description: reviewDescription(mission, it, work?.result ?? "(no result)"),
      cause,
    });
  }

  let reason = "";
  if (stuck.length) {
    reason = `${stuck.length} ready item(s) (${stuck.join(", ")}) but no agent can take them: ` +
      `spawn one with tt spawn (an agent whose role suits the item)`;
  } else if (waiting.length) {
    reason = `item(s) ${waiting.join(", ")} wait for review and no reviewer agent exists: ` +
      `tt mission approve ${
        shortMissionId(missionId)
      } <item>, or spawn an agent with --role reviewer`;
  } else {
    const failing = items.filter((it) => (v.live.get(it.id)!.watchFailures ?? 0) >= 3);
    if (failing.length) {
      reason = `GitHub cannot be read for the pull requests of ${
        failing.map((it) => `'${it.id}'`).join(", ")
      } (${failing.length > 1 ? "each" : "it"} failed 3 times or more; see tt events): ` +
        `check GITHUB_TOKEN / GITHUB_API_URL of the supervisor`;
    }
  }
  await assessHelp(s, v, reason);
  return out;
}

/** Sends, repeats (with back-off) or retires the mission's help request to the conductor. */
export async function onTaskEnded(
  s: SchedCtx,
  b: TaskBinding,
  taskId: string,
  cause?: string,
  /** Who ended the task (the event's actor), when known. */
  actor?: string,
): Promise<boolean> {
  const [v, task] = await Promise.all([
    loadFrontier(s.t, b.mission, [b.item]),
    getTask(s.t, taskId),
  ]);
  const it = v?.mission.items.find((i) => i.id === b.item);
  if (!v || !task || !it) return false;
  const m = v.mission;
  const result = task.result ?? "";
  const base = { task: taskId, taskState: task.state, token: s.token, cause };
  const ev = (type: string, message: string, reason?: string) => ({
    type,
    message: `mission ${shortMissionId(m.id)}: ${message}`,
    task_id: taskId,
    agent_id: task.assigned_to,
    actor: ACTOR,
    ...(reason ? { reason } : {}),
  });
  /** The review stays, for the operator to decide. */
  const toOperator = (event: ItemChange["event"]) =>
    changeItem(s.t, m.id, it.id, {
      ...base,
      from: ["review"],
      to: "review",
      set: { [`${it.id}:review`]: "operator" },
      event,
    });
  let res: Reply;
  if (b.role === "work") {
    if (task.state === "completed") {
      // A fix for a watched pull request goes back to the watch; other work to review first.
      const live = v.live.get(it.id)!;
      const prs = [...new Set([...live.prs, ...prRefs(result)])].sort();
      const gate = !live.fixcause && m.reviewer && GATED_KINDS.includes(it.kind);
      const to = gate ? "review" : prs.length ? "watch" : "done";
      res = await changeItem(s.t, m.id, it.id, {
        ...base,
        from: ["active"],
        to,
        set: prs.length
          ? { [`${it.id}:prs`]: JSON.stringify(prs), [`${it.id}:next_check`]: 0 }
          : {},
        del: [`${it.id}:feedback`],
        event: to === "review"
          ? ev("mission_item_review", `item '${it.id}' done, waiting for review`)
          : to === "watch"
          ? ev("mission_item_watching", `item '${it.id}' submitted: watching ${prs.join(", ")}`)
          : ev("mission_item_done", `item '${it.id}' done`),
      });
    } else {
      res = await changeItem(s.t, m.id, it.id, {
        ...base,
        from: ["active"],
        to: "failed",
        event: ev("mission_item_failed", `item '${it.id}' failed: ${oneLine(result, 120)}`, result),
      });
      if (check(res).ok && m.state === "running") {
        check(
          await changeMissionState(s.t, m.id, {
            from: ["running"],
            to: "blocked",
            reason:
              `item '${it.id}' failed (task ${shortTaskId(taskId)}: ${oneLine(result, 120)}); ` +
              `tt mission resume ${shortMissionId(m.id)} retries it`,
            event: "mission_blocked",
            message: `mission ${shortMissionId(m.id)} blocked: item '${it.id}' failed`,
            token: s.token,
            cause,
          }),
        );
        const nv = await loadMission(s.t, m.id);
        if (nv) await assessHelp(s, nv, nv.mission.reason ?? "");
      }
    }
  } else if (actor && actor === v.live.get(it.id)!.agent) {
    // The worker ended its own review (tt task complete --force): that decides nothing.
    res = await toOperator(ev(
      "mission_review_refused",
      `the worker of '${it.id}' ended its own review: the operator decides (tt mission approve|reject)`,
      result,
    ));
  } else if (task.state === "completed" && /^\s*(approved|lgtm)\b/i.test(result)) {
    const watch = v.live.get(it.id)!.prs.length > 0;
    res = await changeItem(s.t, m.id, it.id, {
      ...base,
      from: ["review"],
      to: watch ? "watch" : "done",
      set: watch ? { [`${it.id}:next_check`]: 0 } : {},
      del: [`${it.id}:review`],
      event: watch
        ? ev(
          "mission_item_watching",
          `item '${it.id}' approved by the reviewer: watching its PRs`,
          result,
        )
        : ev("mission_item_done", `item '${it.id}' approved by the reviewer`, result),
    });
  } else if (task.state === "completed") {
    res = await changeItem(s.t, m.id, it.id, {
      ...base,
      from: ["review"],
      to: "ready",
      set: { [`${it.id}:feedback`]: result },
      del: [`${it.id}:review`],
      event: ev(
        "mission_changes_requested",
        `changes requested on '${it.id}': ${oneLine(result, 120)}`,
        result,
      ),
    });
  } else {
    // The review task itself failed: the operator decides (tt mission approve / reject).
    res = await toOperator(ev(
      "mission_review_failed",
      `the review of '${it.id}' ended ${task.state}: the operator decides`,
    ));
  }
  return check(res).ok === true;
}

/**
 * After the lease is (re)taken: every item whose task ended while no dispatcher listened is
 * moved on, then each active mission is scheduled. Idempotent (every step checks status).
 */
export async function reconcile(s: SchedCtx): Promise<void> {
  const ids = await s.t.redis.smembers(s.t.keys.missionsActive);
  for (const v of await loadMissions(s.t, ids)) {
    const bound: [string, TaskBinding][] = [];
    for (const [item, l] of v.live) {
      if (l.status === "active" && l.task) {
        bound.push([l.task, { mission: v.mission.id, item, role: "work" }]);
      }
      if (l.status === "review" && l.review && l.review !== "operator") {
        bound.push([l.review, { mission: v.mission.id, item, role: "review" }]);
      }
    }
    const tasks = new Map((await getTasks(s.t, bound.map(([id]) => id))).map((x) => [x.id, x]));
    for (const [id, b] of bound) {
      const task = tasks.get(id);
      if (task && ["completed", "failed", "cancelled"].includes(task.state)) {
        await onTaskEnded(s, b, id, "reconcile");
      } else if (!task && b.role === "work") {
        // Its task is gone (deleted by hand, a reset): the item is worked on again.
        check(
          await changeItem(s.t, b.mission, b.item, {
            from: ["active"],
            to: "ready",
            token: s.token,
            cause: "reconcile",
            event: {
              type: "mission_item_requeued",
              message: `mission ${shortMissionId(b.mission)}: task ${
                shortTaskId(id)
              } of '${b.item}' no longer exists: the item is ready again`,
              task_id: id,
              actor: ACTOR,
            },
          }),
        );
      }
    }
    await scheduleMission(s, v.mission.id, "reconcile");
  }
}
