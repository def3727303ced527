/**
 * The dashboard in a real Chromium against a real `tt townhall` and supervisor running fake agent
 * CLIs: log in, see agents, assign and watch completion live, reply to needs_input, follow a log,
 * the XSS case, a wrong key, and a page on another origin trying to use the session.
 * TT_SCREENSHOT=1 writes docs/dashboard.png (the needs-input moment of the second test).
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { AgentTown, fakeCli, waitForEvent, waitUntil } from "../agent_helpers.ts";
import { ROOT } from "../helpers.ts";
import { type StartedHall, startHall } from "../townhall/helpers.ts";
import { chromiumMissing, launch } from "./browser.ts";

const LIMIT = 60_000;
const FIXTURES = `${ROOT}/tests/fixtures/clis`;
const XSS = "<img src=x onerror=alert(1)>";

interface World {
  at: AgentTown;
  h: StartedHall;
  browser: Browser;
  state: string;
}

async function world(fn: (w: World) => Promise<void>) {
  const at = await AgentTown.create();
  const state = await Deno.makeTempDir();
  let h: StartedHall | undefined;
  let browser: Browser | undefined;
  try {
    h = await startHall({ sandbox: at.sb, name: at.name, keys: [["admin"]] });
    browser = await launch();
    await fn({ at, h, browser, state });
  } finally {
    await Deno.writeTextFile(`${state}/open`, "").catch(() => {});
    await browser?.close();
    await h?.stop();
    await h?.t.close();
    await at.cleanup();
    await Deno.remove(state, { recursive: true });
  }
}

/** A page that records every dialog (an XSS payload's alert would be one). */
async function newPage(w: World): Promise<{ page: Page; dialogs: string[] }> {
  const page = await w.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.setDefaultTimeout(LIMIT);
  return { page, dialogs };
}

/** Waits until the round log shown has `text` (a locator: the page's CSP forbids eval). */
const logHas = (page: Page, text: string) => page.locator("#log-text", { hasText: text }).waitFor();

async function logIn(page: Page, url: string, key: string) {
  await page.goto(`${url}/`);
  assert.match(page.url(), /\/login$/, "no session: the login page");
  await page.fill("input[name=key]", key);
  await Promise.all([page.waitForURL(`${url}/`), page.click("#login button[type=submit]")]);
  await page.waitForSelector('body[data-live="1"]'); // the live stream is connected
}

Deno.test({
  name: "browser: log in, see agents, assign a task and watch it complete live; XSS stays text",
  ignore: chromiumMissing,
  fn: () =>
    world(async (w) => {
      await w.at.sb.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
      const { page, dialogs } = await newPage(w);

      await page.goto(`${w.h.url}/login`);
      await page.fill("input[name=key]", "tt_" + "A".repeat(43));
      await page.click("#login button[type=submit]");
      assert.match(await page.textContent("#login-error") ?? "", /invalid API key/);

      await logIn(page, w.h.url, w.h.keys[0]);
      await page.waitForSelector('tr[data-agent="w1"]');
      // A marker that a reload would wipe: everything below happens without one.
      await page.evaluate(() => ((globalThis as Record<string, unknown>).ttMarker = 1));

      await page.fill("#assign-form textarea[name=description]", "write the release notes");
      await page.click("#assign-form button[type=submit]");
      await page.waitForSelector("#flash.ok");
      const done = page.locator('#tasks-list li[data-state="completed"]', {
        hasText: "write the release notes",
      });
      await done.waitFor();
      assert.match(await page.textContent('tr[data-agent="w1"]') ?? "", /w1/);
      await page.waitForSelector('#feed li[data-type="task_completed"]');

      await page.fill("#backlog-form textarea[name=description]", XSS);
      await page.click("#backlog-form button[type=submit]");
      const evil = page.locator("#tasks-list li", { hasText: XSS });
      await evil.waitFor();
      assert.equal(await page.locator("#tasks-list img, #feed img").count(), 0, "no <img> made");
      assert.deepEqual(dialogs, [], "no script of the payload ran");
      assert.equal(
        await page.evaluate(() => (globalThis as Record<string, unknown>).ttMarker),
        1,
        "no reload happened",
      );

      // Readable on a phone: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const width = await page.evaluate(() =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } })
          .document.documentElement.scrollWidth
      );
      assert.ok(width <= 390, `the page is ${width}px wide on a 390px screen`);
    }),
});

Deno.test({
  name: "browser: reply to a needs-input agent; follow a round log live",
  ignore: chromiumMissing,
  fn: () =>
    world(async (w) => {
      const env = { PATH: `${FIXTURES}:${Deno.env.get("PATH")}`, FAKE_STATE: w.state };
      await w.at.sb.ok(["spawn", "asker", "--cli", "claude"], { env });
      await w.at.sb.ok(["spawn", "gated", "--cli", fakeCli("gate", w.state)], { env });
      const { page, dialogs } = await newPage(w);
      await logIn(page, w.h.url, w.h.keys[0]);

      const task = await w.at.sb.json<{ id: string }>(["assign", "asker", "tidy fake:denyonce"]);
      const ask = page.locator('#attention li[data-kind="needs_input"]', { hasText: "asker" });
      await ask.waitFor();
      if (Deno.env.get("TT_SCREENSHOT") === "1") {
        await page.screenshot({ path: `${ROOT}/docs/dashboard.png`, fullPage: true });
      }
      await ask.locator("input[name=answer]").fill("yes, go ahead");
      // A live update while the answer is being typed replaces the panel: the text stays.
      await ask.evaluate((el) => el.setAttribute("data-old", "1"));
      await w.at.sb.ok(["backlog", "add", "poke the panels"]);
      const fresh = page.locator('#attention li[data-kind="needs_input"]:not([data-old])');
      await fresh.waitFor();
      assert.equal(await fresh.locator("input[name=answer]").inputValue(), "yes, go ahead");
      await fresh.locator("button[type=submit]").click();
      await waitForEvent(w.at.t, (e) => e.type === "task_completed" && e.task_id === task.id);
      await page.locator('#attention li[data-kind="needs_input"]').waitFor({ state: "detached" });
      const prompt = await Deno.readTextFile(`${w.state}/prompt_claude`);
      assert.match(prompt, /The answer: yes, go ahead/);

      await w.at.sb.ok(["assign", "gated", "wait for the gate"]);
      const log = `${w.at.sb.dir}/.tt/logs/gated_round_1.log`;
      await waitUntil(async () =>
        (await Deno.readTextFile(log).catch(() => "")).includes("before")
      );
      await page.click('tr[data-agent="gated"] button[data-log]');
      await logHas(page, "before gate");
      assert.doesNotMatch(await page.textContent("#log-text") ?? "", /after gate/);
      await Deno.writeTextFile(`${w.state}/open`, "");
      await logHas(page, "after gate");
      await logHas(page, "[end of the log]");
      assert.deepEqual(dialogs, []);
    }),
});

/** A page on another origin (another port of 127.0.0.1: same site, so the cookie would go). */
function evilServer(hall: string, key: string) {
  const html = `<!DOCTYPE html><html><body><form id="f" method="post" action="${hall}/login">
<input name="key" value="${key}"></form><script>
(async () => {
  const out = [];
  try {
    const r = await fetch("${hall}/ui/act/backlog", { method: "POST", credentials: "include",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ description: "cors" }) });
    out.push("cors:" + r.status);
  } catch (e) { out.push("cors:blocked"); }
  try {
    await fetch("${hall}/ui/act/backlog", { method: "POST", mode: "no-cors", credentials: "include",
      body: JSON.stringify({ description: "no-cors" }) });
    out.push("nocors:sent");
  } catch (e) { out.push("nocors:blocked"); }
  try {
    const r = await fetch("${hall}/", { credentials: "include" });
    out.push("read:" + r.status);
  } catch (e) { out.push("read:blocked"); }
  document.title = "done " + out.join(" ");
})();
</script></body></html>`;
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(html, { headers: { "content-type": "text/html" } }),
  );
}

Deno.test({
  name: "browser: a page on another origin can neither act with the session nor log in",
  ignore: chromiumMissing,
  fn: () =>
    world(async (w) => {
      const { page } = await newPage(w);
      await logIn(page, w.h.url, w.h.keys[0]);
      const sessionKeys = async () => {
        const found: string[] = [];
        for await (const b of w.h.t.redis.scanStream({ match: `${w.h.t.keys.prefix}dash:*` })) {
          found.push(...(b as string[]));
        }
        return found.length;
      };
      const before = await sessionKeys();
      const evil = evilServer(w.h.url, w.h.keys[0]);
      try {
        const evilUrl = `http://127.0.0.1:${evil.addr.port}/`;
        await page.goto(evilUrl);
        await page.waitForFunction('document.title.startsWith("done")');
        const title = await page.title();
        assert.match(title, /cors:blocked/, title);
        assert.match(title, /read:blocked/, title);
        // The form login from the foreign page is refused by its Origin.
        const [res] = await Promise.all([
          page.waitForResponse((r) => r.url().endsWith("/login")),
          page.evaluate('document.getElementById("f").submit()'),
        ]);
        assert.equal(res.status(), 403);
        assert.equal(await w.h.t.redis.llen(w.h.t.keys.backlog), 0, "no action got through");
        assert.equal(await sessionKeys(), before, "no session was made");
      } finally {
        await evil.shutdown();
      }
    }),
});
