/** Agents and messages: list, show, inbox, send. */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv, TownhallDeps } from "../env.ts";
import * as ops from "../ops.ts";
import {
  AgentDetail,
  AgentList,
  AgentParam,
  Inbox,
  InboxQuery,
  SendBody,
  SendResult,
  TownInfo,
} from "../schemas.ts";
import { errors, json, jsonBody, notFound, secured, tooLarge } from "./common.ts";

export function register(app: OpenAPIHono<AppEnv>, { town }: TownhallDeps) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/town",
      tags: ["Town"],
      summary: "The town: name, root, Redis URL (password masked)",
      ...secured("town.read"),
      responses: { 200: json(TownInfo, "The town"), ...errors },
    }),
    (c) => c.json(ops.townInfo(town), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/agents",
      tags: ["Agents"],
      summary: "All agents, oldest first",
      ...secured("town.read"),
      responses: { 200: json(AgentList, "The agents"), ...errors },
    }),
    async (c) => c.json(await ops.agentList(town), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/agents/{agent}",
      tags: ["Agents"],
      summary: "One agent (name, nickname, `Nick [role]`, id or id prefix) and its queue depths",
      ...secured("town.read"),
      request: { params: AgentParam },
      responses: { 200: json(AgentDetail, "The agent"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.agentDetail(town, c.req.valid("param").agent), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/agents/{agent}/inbox",
      tags: ["Agents"],
      summary: "An agent's urgent list, inbox and in-progress messages (read, never popped)",
      ...secured("town.read"),
      request: { params: AgentParam, query: InboxQuery },
      responses: { 200: json(Inbox, "The inbox"), ...errors, ...notFound },
    }),
    async (c) =>
      c.json(await ops.inbox(town, c.req.valid("param").agent, c.req.valid("query").limit), 200),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/messages/send",
      tags: ["Messages"],
      summary: "Send a message to an agent or to the supervisor mailbox",
      ...secured("town.write"),
      request: jsonBody(SendBody),
      responses: { 201: json(SendResult, "Sent"), ...errors, ...notFound, ...tooLarge },
    }),
    async (c) => c.json(await ops.send(town, c.req.valid("json")), 201),
  );
}
