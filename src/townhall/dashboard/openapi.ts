/**
 * The dashboard's routes in the OpenAPI document (tag Dashboard): they are served by the same
 * app, so they are listed like the rest, though a browser is their client.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env.ts";

const html = (description: string) => ({
  description,
  content: { "text/html": { schema: z.string() } },
});
const sse = (description: string) => ({
  description,
  content: { "text/event-stream": { schema: z.string() } },
});
const redirect = (description: string) => ({ description });
const cookie: Record<string, string[]>[] = [
  { sessionCookie: [] },
  { bearerAuth: [] },
  { apiKeyHeader: [] },
];

const ROUTES: {
  method: "get" | "post";
  path: string;
  summary: string;
  responses: Record<number, unknown>;
  security?: Record<string, string[]>[];
  params?: string[];
}[] = [
  {
    method: "get",
    path: "/",
    summary: "The dashboard page (session cookie or key; no session: HTML → /login, else 401)",
    responses: { 200: html("The page"), 303: redirect("To /login") },
    security: cookie,
  },
  {
    method: "get",
    path: "/login",
    summary: "Login form; `?token=` uses a one-time `tt dashboard` link, then redirects to /",
    responses: { 200: html("The form"), 303: redirect("Logged in: to /") },
    security: [],
  },
  {
    method: "post",
    path: "/login",
    summary: "Log in with an API key (form field `key` with its Origin, or JSON " +
      '`{"key": "tt_…"}`): HttpOnly SameSite=Strict session cookie, then 303 to /',
    responses: { 303: redirect("Logged in: to /") },
    security: [],
  },
  {
    method: "get",
    path: "/ui/tasks",
    summary: "One page of tasks as HTML list items (`state`, `q`, `cursor`)",
    responses: { 200: html("The rows") },
    security: cookie,
  },
  {
    method: "get",
    path: "/ui/stream",
    summary: "Live panels and feed items (SSE `panel`, `feed`, `tasks` events)",
    responses: { 200: sse("The stream") },
    security: cookie,
  },
  {
    method: "get",
    path: "/ui/log/{agent}",
    summary: "The agent's latest round log, followed while the round runs (SSE `chunk`, `end`)",
    responses: { 200: sse("The log"), 404: { description: "No such agent" } },
    security: cookie,
    params: ["agent"],
  },
  {
    method: "post",
    path: "/ui/act/{name}",
    summary: "A dashboard action (assign, backlog, send, reply, interrupt, resume, kill, " +
      "approve, reject, logout): session cookie + `X-CSRF-Token` + the action's scope",
    responses: {
      200: { description: "Done: `{message}`" },
      404: { description: "No such action, agent, mission or item" },
    },
    security: [{ sessionCookie: [] }],
    params: ["name"],
  },
  {
    method: "get",
    path: "/assets/tt.js",
    summary: "The dashboard's script",
    responses: { 200: { description: "JavaScript" } },
    security: [],
  },
  {
    method: "get",
    path: "/assets/tt.css",
    summary: "The dashboard's styles",
    responses: { 200: { description: "CSS" } },
    security: [],
  },
  {
    method: "get",
    path: "/favicon.ico",
    summary: "No icon (204)",
    responses: { 204: { description: "Empty" } },
    security: [],
  },
];

export function documentDashboard(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "sessionCookie", {
    type: "apiKey",
    in: "cookie",
    name: "tt_session",
    description: "The dashboard's session (POST /login); actions also need `X-CSRF-Token`",
  });
  for (const r of ROUTES) {
    app.openAPIRegistry.registerPath({
      method: r.method,
      path: r.path,
      tags: ["Dashboard"],
      summary: r.summary,
      security: r.security,
      request: r.params
        ? { params: z.object(Object.fromEntries(r.params.map((p) => [p, z.string()]))) }
        : undefined,
      responses: r.responses as never,
    });
  }
}
