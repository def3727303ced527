/**
 * POST /ui/act/<name>: the dashboard's buttons and forms. Each needs the session and its CSRF
 * token, checks its scope again (whatever buttons the page showed), validates its body with zod
 * and calls the same operation as REST and MCP (ops.ts, core/missions/ops.ts).
 */
import { z } from "zod";
import type { Context } from "hono";
import type { Scope } from "../../core/auth.ts";
import { approveItem, rejectItem } from "../../core/missions/ops.ts";
import { scopeError } from "../auth.ts";
import { HttpError } from "../errors.ts";
import { requireExec, verifyRunsCode } from "../exec.ts";
import type { AppEnv, TownhallDeps } from "../env.ts";
import * as ops from "../ops.ts";
import { AgentBody, AssignBody, BacklogAddBody, SendBody } from "../schemas.ts";
import { clearSessionCookie, requireCsrf } from "./auth.ts";
import { deleteSession } from "./session.ts";

const ReplyBody = z.strictObject({
  agent: z.string().trim().min(1).max(200),
  answer: z.string().trim().min(1).max(16 * 1024),
});
const ItemBody = z.strictObject({
  mission: z.string().trim().min(1).max(100),
  item: z.string().trim().min(1).max(64),
  reason: z.string().max(8000).optional(),
});

type Handler = (
  body: unknown,
  c: Context<AppEnv>,
) => Promise<{ message: string; redirect?: string }>;

interface Action {
  scope: Scope;
  run: Handler;
}

const short = (id: string) => id.slice(0, 8);

export function actions(deps: TownhallDeps): Record<string, Action> {
  const t = deps.town;
  const verb = (v: ops.Verb): Action => ({
    scope: "agent.manage",
    run: async (b) => {
      const r = await ops.agentAction(t, AgentBody.parse(b).agent, v);
      return { message: `${v}: ${r.agent.name} is now ${r.state}` };
    },
  });
  return {
    assign: {
      scope: "town.write",
      run: async (b, c) => {
        const body = AssignBody.parse(b);
        requireExec(c.get("principal"), verifyRunsCode(body));
        const r = await ops.taskAssign(t, body);
        return { message: `task ${short(r.task.id)} assigned to ${r.agent.name}` };
      },
    },
    backlog: {
      scope: "town.write",
      run: async (b, c) => {
        const body = BacklogAddBody.parse(b);
        requireExec(c.get("principal"), verifyRunsCode(body));
        const r = await ops.backlogAdd(t, body);
        return { message: `task ${short(r.task.id)} added to the backlog` };
      },
    },
    send: {
      scope: "town.write",
      run: async (b) => {
        const r = await ops.send(t, SendBody.parse(b));
        return { message: `message sent to ${r.to.name}` };
      },
    },
    reply: {
      scope: "town.write",
      run: async (b) => {
        const { agent, answer } = ReplyBody.parse(b);
        const r = await ops.reply(t, agent, answer);
        return { message: `answered ${r.agent.name}` };
      },
    },
    interrupt: verb("interrupt"),
    resume: verb("resume"),
    kill: verb("kill"),
    approve: {
      scope: "town.write",
      run: async (b) => {
        const x = ItemBody.parse(b);
        await approveItem(t, x.mission, x.item, x.reason ?? "");
        return { message: `approved ${x.item}` };
      },
    },
    reject: {
      scope: "town.write",
      run: async (b) => {
        const x = ItemBody.parse(b);
        await rejectItem(t, x.mission, x.item, x.reason ?? "");
        return { message: `sent ${x.item} back to work` };
      },
    },
    logout: {
      scope: "town.read",
      run: async (_b, c) => {
        await deleteSession(t, c.get("session")!.id);
        clearSessionCookie(c);
        return { message: "logged out", redirect: "/login" };
      },
    },
  };
}

/** The handler of POST /ui/act/:name. */
export function actionRoute(deps: TownhallDeps) {
  const table = actions(deps);
  return async (c: Context<AppEnv>) => {
    const name = c.req.param("name") ?? "";
    const a = Object.hasOwn(table, name) ? table[name] : undefined;
    if (!a) throw new HttpError(404, "not_found", `no dashboard action '${name.slice(0, 40)}'`);
    requireCsrf(c);
    const denied = scopeError(c.get("principal"), a.scope);
    if (denied) throw denied;
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new HttpError(400, "bad_request", "the action's body is not JSON", "body");
    }
    return c.json(await a.run(body, c), 200);
  };
}
