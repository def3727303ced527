/** The event stream: recent events, history, and a live Server-Sent Events feed. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { followEvents, lastEventId } from "../../core/events.ts";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { LiveStreams } from "../sse.ts";
import * as ops from "../ops.ts";
import { EventList, EventsQuery, HistoryQuery, StreamQuery } from "../schemas.ts";
import { errors, json, notFound, secured } from "./common.ts";

/** Live streams at once; more get 503 (each holds a Redis connection). */
export const MAX_STREAMS = 64;
const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

export function register(app: OpenAPIHono<AppEnv>, deps: TownhallDeps) {
  const { town } = deps;
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/events",
      tags: ["Events"],
      summary: "The most recent events, oldest first",
      ...secured("town.read"),
      request: { query: EventsQuery },
      responses: { 200: json(EventList, "Events"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.events(town, c.req.valid("query")), 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/history",
      tags: ["Events"],
      summary: "What happened lately, newest first",
      ...secured("town.read"),
      request: { query: HistoryQuery },
      responses: { 200: json(EventList, "Events"), ...errors, ...notFound },
    }),
    async (c) => c.json(await ops.history(town, c.req.valid("query")), 200),
  );

  const streams = new LiveStreams(MAX_STREAMS, "live event streams");
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/events/stream",
      tags: ["Events"],
      summary: "Live events as Server-Sent Events; `id` is the stream entry id. " +
        "Reconnect with `Last-Event-ID` (or `?after=`) to resume without gaps",
      ...secured("town.read"),
      request: {
        query: StreamQuery,
        headers: z.object({
          "last-event-id": z.string().regex(ENTRY_ID).optional().openapi({
            example: "1718000000000-0",
          }),
        }),
      },
      responses: {
        200: {
          description: "text/event-stream; each event: `event: <type>`, `id: <entry id>`, " +
            "`data: <event JSON>`",
          content: { "text/event-stream": { schema: z.string() } },
        },
        ...errors,
        ...notFound,
        503: json(z.object({ error: z.string() }), "Too many live streams"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const agentId = await ops.agentIdOf(town, q.agent);
      // Fixed before the response starts: whatever happens after the client sees 200 is sent.
      const from = c.req.valid("header")["last-event-id"] ?? q.after ?? await lastEventId(town);
      return streams.serve(c, deps, async (stream, signal, stop) => {
        await followEvents(town, from, async (ev) => {
          if (agentId && ev.agent_id !== agentId) return;
          try {
            await stream.writeSSE({ id: ev.id, event: ev.type, data: JSON.stringify(ev) });
          } catch {
            stop(); // the client went away
          }
        }, signal);
      });
    },
  );
}
