/** Status, tasks and the backlog. */
import { createRoute, type OpenAPIHono, type z } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import * as ops from "../ops.ts";
import {
  AgentBody,
  AssignAllResult,
  AssignBody,
  BacklogAddBody,
  CancelBody,
  CompleteBody,
  FailBody,
  STATUS_AGENTS,
  StatusQuery,
  StatusView,
  TaskList,
  TaskListQuery,
  TaskPage,
  TaskParam,
  TaskResult,
  TaskView,
} from "../schemas.ts";
import { conflict, errors, json, jsonBody, notFound, secured, tooLarge } from "./common.ts";
import { requireExec, verifyRunsCode } from "../exec.ts";
import { statusSource } from "../status_cache.ts";

const VERIFY_NEEDS_EXEC = "Requires scope `town.write` (or `admin`); with `verify`, also `exec`.";

const optionalBody = <T>(schema: T) => ({
  body: { required: false, content: { "application/json": { schema } } },
});

export function register(app: OpenAPIHono<AppEnv>, { town }: TownhallDeps) {
  const status = {
    first: statusSource(town, { agentLimit: STATUS_AGENTS }),
    all: statusSource(town, {}),
  };
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/status",
      tags: ["Town"],
      summary: "The town at a glance: agents, mailboxes, tasks by state, backlog",
      ...secured("town.read"),
      request: { query: StatusQuery },
      responses: { 200: json(StatusView, "Status"), ...errors },
    }),
    // Served as computed (StatusView's shape), shared by concurrent readers: status_cache.ts.
    async (c) =>
      // The text is a serialized TownStatus (StatusView): typed as the route's JSON reply.
      c.body(
        await status[c.req.valid("query").all_agents === "true" ? "all" : "first"](),
        200,
        { "content-type": "application/json" },
      ) as unknown as ReturnType<
        typeof c.json<z.infer<typeof StatusView>, 200>
      >,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tasks",
      tags: ["Tasks"],
      summary: "Tasks, oldest first, optionally by state and assignee, one page at a time",
      ...secured("town.read"),
      description: "Requires scope `town.read` (or `admin`). At most `limit` tasks (default " +
        "100) after `cursor`; a page costs the same whatever the number of tasks. Follow " +
        "`next_cursor` until it is absent.",
      request: { query: TaskListQuery },
      responses: { 200: json(TaskPage, "One page of tasks"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.taskList(town, c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tasks/{task}",
      tags: ["Tasks"],
      summary: "Any task by id or unique id prefix",
      ...secured("town.read"),
      request: { params: TaskParam },
      responses: { 200: json(TaskView, "The task"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.taskShow(town, c.req.valid("param").task), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tasks/assign",
      tags: ["Tasks"],
      summary: "Create a task and assign it to an agent (or the supervisor mailbox)",
      ...secured("town.write"),
      description: VERIFY_NEEDS_EXEC,
      request: jsonBody(AssignBody),
      responses: { 201: json(TaskResult, "Assigned"), ...errors, ...notFound, ...tooLarge },
    }),
    async (c) => {
      const b = c.req.valid("json");
      requireExec(c.get("principal"), verifyRunsCode(b));
      return c.json(await ops.taskAssign(town, b), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tasks/{task}/complete",
      tags: ["Tasks"],
      summary: "Complete a task (with `agent`, only the assignee may, unless `force`)",
      ...secured("town.write"),
      request: { params: TaskParam, ...optionalBody(CompleteBody) },
      responses: {
        200: json(TaskResult, "Completed"),
        ...errors,
        ...notFound,
        ...conflict,
        ...tooLarge,
      },
    }),
    async (c) =>
      c.json(await ops.taskComplete(town, c.req.valid("param").task, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tasks/{task}/fail",
      tags: ["Tasks"],
      summary: "Mark a task failed",
      ...secured("town.write"),
      request: { params: TaskParam, ...optionalBody(FailBody) },
      responses: {
        200: json(TaskResult, "Failed"),
        ...errors,
        ...notFound,
        ...conflict,
        ...tooLarge,
      },
    }),
    async (c) =>
      c.json(await ops.taskFail(town, c.req.valid("param").task, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tasks/{task}/cancel",
      tags: ["Tasks"],
      summary: "Cancel a task, whoever holds it",
      ...secured("town.write"),
      request: { params: TaskParam, ...optionalBody(CancelBody) },
      responses: {
        200: json(TaskResult, "Cancelled"),
        ...errors,
        ...notFound,
        ...conflict,
        ...tooLarge,
      },
    }),
    async (c) =>
      c.json(await ops.taskCancel(town, c.req.valid("param").task, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/backlog",
      tags: ["Backlog"],
      summary: "Backlog tasks in claim order",
      ...secured("town.read"),
      responses: { 200: json(TaskList, "Backlog"), ...errors },
    }),
    async (c) => c.json(await ops.backlogList(town), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/backlog",
      tags: ["Backlog"],
      summary: "Add a task to the backlog",
      ...secured("town.write"),
      description: VERIFY_NEEDS_EXEC,
      request: jsonBody(BacklogAddBody),
      responses: { 201: json(TaskResult, "Added"), ...errors, ...tooLarge },
    }),
    async (c) => {
      const b = c.req.valid("json");
      requireExec(c.get("principal"), verifyRunsCode(b));
      return c.json(await ops.backlogAdd(town, b), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/backlog/{task}/claim",
      tags: ["Backlog"],
      summary: "Assign a backlog task to an agent",
      ...secured("town.write"),
      request: { params: TaskParam, ...jsonBody(AgentBody) },
      responses: { 200: json(TaskResult, "Claimed"), ...errors, ...notFound, ...tooLarge },
    }),
    async (c) =>
      c.json(await ops.backlogClaim(town, c.req.valid("param").task, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/backlog/assign-all",
      tags: ["Backlog"],
      summary: "Assign every backlog task, in order, to one agent",
      ...secured("town.write"),
      request: jsonBody(AgentBody),
      responses: { 200: json(AssignAllResult, "Assigned"), ...errors, ...notFound, ...tooLarge },
    }),
    async (c) => c.json(await ops.backlogAssignAll(town, c.req.valid("json")), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/backlog/{task}",
      tags: ["Backlog"],
      summary: "Delete a task that is in the backlog",
      ...secured("town.write"),
      request: { params: TaskParam },
      responses: { 200: json(TaskResult, "Removed"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.backlogRemove(town, c.req.valid("param").task), 200),
  );
}
