/**
 * The dashboard: server-rendered pages (hono JSX) at `/`, live over SSE, login with an API key or
 * a one-time `tt dashboard` link. Mounted by app.ts with `registerDashboard`; `sessionAuth` and
 * `dashboardPublic` slot into app.ts's middleware chain (after identify, before the auth gate).
 *
 *   GET  /               the page (no session: HTML → /login, others 401)
 *   GET  /login          login form; `?token=` uses a one-time link, then → /
 *   POST /login          form field `key` or JSON {"key"} → session cookie → 303 /
 *   GET  /ui/tasks       one page of tasks (fragment): ?state= &q= &cursor=
 *   GET  /ui/stream      SSE: panels and feed items (needs town.read)
 *   GET  /ui/log/:agent  SSE: the agent's round log, followed (needs town.read)
 *   POST /ui/act/:name   an action (session + X-CSRF-Token + the action's scope)
 *   GET  /assets/tt.js, /assets/tt.css   from memory
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { listKeys, matchKey } from "../../core/auth.ts";
import { TASK_STATES } from "../../core/schemas.ts";
import { body, HttpError } from "../errors.ts";
import type { AppEnv, TownhallDeps } from "../env.ts";
import { audit, recordAudit } from "../middleware.ts";
import { scopeError } from "../auth.ts";
import { actionRoute } from "./actions.ts";
import { ASSETS } from "./assets.ts";
import { securityHeaders, setSessionCookie, wantsHtml } from "./auth.ts";
import { feed, overview, taskPage } from "./data.ts";
import { logStream, townStream } from "./live.ts";
import { dashboardHtml, loginHtml, tasksHtml } from "./render.tsx";
import type { PageData } from "./page.tsx";
import type { TownContext } from "../../core/town.ts";
import { consumeLoginToken, createSession, type Who } from "./session.ts";
import { documentDashboard } from "./openapi.ts";

export { dashboardPublic, sessionAuth } from "./auth.ts";

const LoginBody = z.object({ key: z.string().trim().min(1).max(200) });
const TasksQuery = z.object({
  state: z.union([z.enum(TASK_STATES), z.literal("")]).optional(),
  q: z.string().max(200).optional(),
  cursor: z.coerce.number().int().min(0).max(10_000_000).optional(),
});

/** The whole page for a caller: a few pipelined reads, one bounded task page, the last events. */
export async function renderDashboard(
  t: TownContext,
  who: PageData["who"],
  csrf?: string,
): Promise<string> {
  const [ov, tasks, events] = await Promise.all([overview(t), taskPage(t, {}), feed(t)]);
  return dashboardHtml({ town: t.name, who, csrf, ov, tasks, events, now: Date.now() });
}

const DASHBOARD_PATHS = ["/", "/login", "/logout", "/ui/*", "/assets/*"];

export function registerDashboard(app: OpenAPIHono<AppEnv>, deps: TownhallDeps) {
  const t = deps.town;
  const tooLarge = (c: Context) =>
    c.json(body(413, `request body is larger than ${deps.maxBodyBytes} bytes`), 413);
  for (const path of DASHBOARD_PATHS) {
    app.use(path, securityHeaders, bodyLimit({ maxSize: deps.maxBodyBytes, onError: tooLarge }));
  }
  app.use("/ui/act/*", audit(deps));

  for (const [path, asset] of Object.entries(ASSETS)) {
    app.get(path, (c) => c.body(asset.body, 200, { "Content-Type": asset.type }));
  }

  app.get("/favicon.ico", (c) => c.body(null, 204));

  const loginPage = (c: Context<AppEnv>, error?: string, status: 200 | 401 = 200) =>
    c.html(loginHtml(t.name, error), status);

  /** Opens a session for `who`, audits the login (303), and sends the browser home with it. */
  const logIn = async (c: Context<AppEnv>, who: Who, method: string, path: string) => {
    const s = await createSession(t, who);
    await recordAudit(
      t,
      { id: who.key_id, name: who.name, scopes: who.scopes, via: "key" },
      method,
      path,
      303,
    );
    setSessionCookie(c, s.id);
    return c.redirect("/", 303);
  };

  app.get("/login", async (c) => {
    const token = c.req.query("token");
    if (token === undefined) return loginPage(c);
    if (!(await consumeLoginToken(t, token))) {
      return loginPage(
        c,
        "This login link was already used or has expired: run 'tt dashboard' again.",
        401,
      );
    }
    return await logIn(
      c,
      { key_id: "operator", name: "operator", scopes: ["admin"], operator: true },
      "GET",
      "/login?token",
    );
  });

  app.post("/login", async (c) => {
    const form = !(c.req.header("content-type") ?? "").includes("json");
    let raw: unknown;
    try {
      raw = form ? await c.req.parseBody() : await c.req.json();
    } catch {
      throw new HttpError(400, "bad_request", 'the login body is not JSON: send {"key": "tt_…"}');
    }
    const parsed = LoginBody.safeParse(raw);
    const key = parsed.success ? matchKey(await listKeys(t), parsed.data.key) : undefined;
    if (!key) {
      await recordAudit(t, undefined, "POST", "/login", 401);
      const why = parsed.success ? "invalid API key" : "send the API key (form field 'key')";
      if (form) return loginPage(c, `Login refused: ${why}.`, 401);
      throw new HttpError(401, "unauthorized", why);
    }
    return await logIn(c, { key_id: key.id, name: key.name, scopes: key.scopes }, "POST", "/login");
  });

  app.get("/", async (c) => {
    const p = c.get("principal");
    if (!p) {
      if (wantsHtml(c)) return c.redirect("/login", 303);
      throw c.get("authError") ??
        new HttpError(401, "unauthorized", "log in at /login or send an API key");
    }
    const denied = scopeError(p, "town.read");
    if (denied) throw denied;
    let session = c.get("session");
    if (!session && p.via === "open") {
      // auth = "none": no key to log in with; the page still gets a session for its CSRF token.
      const s = await createSession(t, {
        key_id: p.id,
        name: p.name,
        scopes: [...p.scopes],
        open: true,
      });
      setSessionCookie(c, s.id);
      session = { id: s.id, csrf: s.record.csrf };
    }
    return c.html(await renderDashboard(t, { name: p.name, scopes: p.scopes }, session?.csrf));
  });

  app.get("/ui/tasks", async (c) => {
    const denied = scopeError(c.get("principal"), "town.read");
    if (denied) throw denied;
    const q = TasksQuery.parse(c.req.query());
    const page = await taskPage(t, { state: q.state || undefined, q: q.q, cursor: q.cursor });
    return c.html(await tasksHtml(t, page));
  });

  app.get("/ui/stream", (c) => townStream(c, deps));
  app.get("/ui/log/:agent", (c) => logStream(c, deps));
  app.post("/ui/act/:name", actionRoute(deps));
  documentDashboard(app);
}
