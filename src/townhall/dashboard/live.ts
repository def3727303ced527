/**
 * The dashboard's two live streams, both Server-Sent Events fed by blocking reads (no polling):
 *
 * - /ui/stream follows the town's event stream (XREAD BLOCK). Each event is sent at once as a
 *   feed item; the panels (attention, agents, missions, summary) are re-rendered once per burst
 *   of events (coalesced for PANEL_DELAY_MS) and sent whole; task changes tell the page to reload
 *   its task list for its own filter.
 * - /ui/log/<agent> follows the agent's current round log (inotify + its round-end event), as
 *   text chunks the page appends as text.
 */
import type { Context } from "hono";
import type { SSEStreamingApi } from "hono/streaming";
import { resolveAgent } from "../../core/agents.ts";
import type { Scope } from "../../core/auth.ts";
import { followEvents, lastEventId } from "../../core/events.ts";
import { TtError } from "../../core/errors.ts";
import { showLog } from "../../supervisor/logs.ts";
import { scopeError } from "../auth.ts";
import { LiveStreams } from "../sse.ts";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { type Overview, overview } from "./data.ts";
import { eventHtml, labelsOf, panels } from "./page.tsx";

/** Live dashboard streams at once (each holds a Redis connection or a file watch). */
export const MAX_LIVE = 64;
const PANEL_DELAY_MS = 100;

/**
 * One read of the town for every stream that re-renders within SHARE_MS of another (they all
 * wake on the same events), so ten open dashboards do not read the town ten times per burst.
 */
const SHARE_MS = 50;
const recent = new Map<string, { at: number; p: Promise<Overview> }>();
function sharedOverview(t: TownhallDeps["town"]): Promise<Overview> {
  const now = performance.now();
  const hit = recent.get(t.name);
  if (hit && now - hit.at < SHARE_MS) return hit.p;
  const p = overview(t);
  recent.set(t.name, { at: now, p });
  p.catch(() => recent.delete(t.name));
  return p;
}

function scopes(c: Context<AppEnv>, need: Scope): readonly Scope[] {
  const p = c.get("principal");
  const e = scopeError(p, need);
  if (e) throw e;
  return p!.scopes;
}

const streams = new LiveStreams(MAX_LIVE, "live dashboard streams");
const live = (
  c: Context<AppEnv>,
  deps: TownhallDeps,
  body: (stream: SSEStreamingApi, signal: AbortSignal) => Promise<void>,
) => streams.serve(c, deps, body);

const isTaskEvent = (type: string, taskId?: string) => !!taskId || type.startsWith("task_");

/** GET /ui/stream */
export async function townStream(c: Context<AppEnv>, deps: TownhallDeps) {
  const granted = scopes(c, "town.read");
  const t = deps.town;
  // Fixed before the first render: nothing that happens after it is missed.
  const from = await lastEventId(t);
  return live(c, deps, async (stream, signal) => {
    let labels = new Map<string, string>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let tasksChanged = false;
    let busy: Promise<void> = Promise.resolve();
    const send = (event: string, data: unknown) =>
      stream.writeSSE({ event, data: JSON.stringify(data) });
    const render = async (fresh = false) => {
      const ov = await (fresh ? overview(t) : sharedOverview(t));
      labels = labelsOf(ov);
      for (const [id, html] of Object.entries(panels(ov, granted, Date.now()))) {
        await send("panel", { id, html });
      }
      if (tasksChanged) {
        tasksChanged = false;
        await send("tasks", {});
      }
    };
    const schedule = () => {
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        busy = busy.then(() => render()).catch(() => {
          if (!signal.aborted) stream.abort();
        });
      }, PANEL_DELAY_MS);
    };
    signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    // What changed between the page and this stream; read after `from` was fixed, so not shared.
    await render(true);
    await followEvents(t, from, async (ev) => {
      await send("feed", { html: eventHtml(ev, labels) });
      if (ev.type === "audit") return; // a request, not a change of state: nothing to re-render
      if (isTaskEvent(ev.type, ev.task_id)) tasksChanged = true;
      schedule();
    }, signal);
    await busy;
  });
}

/** GET /ui/log/:agent — the agent's latest round log, followed while the round runs. */
export async function logStream(c: Context<AppEnv>, deps: TownhallDeps) {
  scopes(c, "town.read");
  const agent = await resolveAgent(deps.town, c.req.param("agent") ?? "");
  return live(c, deps, async (stream, signal) => {
    const dec = new TextDecoder();
    const sink = {
      write: async (bytes: Uint8Array) => {
        const text = dec.decode(bytes, { stream: true });
        if (text) await stream.writeSSE({ event: "chunk", data: JSON.stringify(text) });
      },
    };
    let end = "end of the log";
    try {
      await showLog(deps.town, agent, undefined, true, false, sink, signal);
      if (signal.aborted) return;
    } catch (e) {
      if (signal.aborted) return;
      if (!(e instanceof TtError)) throw e;
      end = e.message;
    }
    await stream.writeSSE({ event: "end", data: JSON.stringify(end) });
  });
}
