/**
 * The dashboard's only client script, plain JS served by townhall from memory as /assets/tt.js
 * (a string here, so `deno bundle` carries it inside dist/tt.js: no CDN, works offline).
 *
 * What it does: listens to /ui/stream (SSE, the session cookie authenticates) and swaps the
 * server-rendered fragments it receives into their panels; posts actions as JSON with the
 * session's CSRF token; reloads the task list for its filter when tasks change; follows a round
 * log from /ui/log/<agent> into a <pre> as text. It never builds HTML from agent or task text:
 * fragments come escaped from the server, log text goes in as a text node.
 */
export const CLIENT_JS = String.raw`(() => {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const csrf = () => ($("meta[name=tt-csrf]") || {}).content || "";
  const flash = (text, bad) => {
    const el = $("#flash");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "flash bad" : "flash ok";
  };

  async function act(name, body) {
    const res = await fetch("/ui/act/" + encodeURIComponent(name), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      flash((data && data.error) || ("failed: HTTP " + res.status), true);
      return undefined;
    }
    flash(data.message || "done", false);
    if (data.redirect) window.location.assign(data.redirect);
    return data;
  }

  function formBody(form) {
    const body = {};
    for (const [k, v] of new FormData(form).entries()) {
      if (typeof v === "string" && v !== "") body[k] = v;
    }
    return body;
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form instanceof HTMLFormElement && form.id === "taskfilter") {
      e.preventDefault();
      reloadTasks();
      return;
    }
    if (!(form instanceof HTMLFormElement) || !form.dataset.act) return;
    e.preventDefault();
    const body = Object.assign({}, form.dataset.fixed ? JSON.parse(form.dataset.fixed) : {},
      formBody(form));
    const ok = await act(form.dataset.act, body);
    if (ok) form.reset();
  });

  document.addEventListener("click", async (e) => {
    const btn = e.target instanceof Element ? e.target.closest("button[data-act]") : null;
    if (btn) {
      e.preventDefault();
      if (btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) return;
      await act(btn.dataset.act, JSON.parse(btn.dataset.body || "{}"));
      return;
    }
    const log = e.target instanceof Element ? e.target.closest("button[data-log]") : null;
    if (log) {
      e.preventDefault();
      followLog(log.dataset.log, log.dataset.name || log.dataset.log);
      return;
    }
    const more = e.target instanceof Element ? e.target.closest("a[data-more]") : null;
    if (more) {
      e.preventDefault();
      loadTasks(more.dataset.more, true);
    }
  });

  // ---- tasks: filter, search, pages ----
  let taskTimer = 0;
  async function loadTasks(cursor, append) {
    const form = $("#taskfilter");
    const list = $("#tasks-list");
    if (!form || !list) return;
    const q = new URLSearchParams(formBody(form));
    if (cursor) q.set("cursor", cursor);
    const res = await fetch("/ui/tasks?" + q.toString(), { credentials: "same-origin" });
    if (!res.ok) return;
    const html = await res.text();
    if (append) {
      const old = $("#tasks-more", list);
      if (old) old.remove();
      list.insertAdjacentHTML("beforeend", html);
    } else {
      list.innerHTML = html;
    }
  }
  const reloadTasks = () => {
    clearTimeout(taskTimer);
    taskTimer = setTimeout(() => loadTasks(undefined, false), 150);
  };
  document.addEventListener("input", (e) => {
    if (e.target instanceof Element && e.target.closest("#taskfilter")) reloadTasks();
  });

  // ---- live updates ----
  // A panel is replaced whole when the town changes; what the user was typing in it (a reply,
  // an assignment) and where the cursor was are carried over to the same field of the same form.
  const fieldKey = (f) => {
    const form = f.form;
    return (form ? (form.dataset.act || form.id) + "|" + (form.dataset.fixed || "") : "") + "|" + f.name;
  };
  function swapPanel(el, html) {
    const kept = new Map();
    let focused;
    for (const f of el.querySelectorAll("input[name],textarea[name],select[name]")) {
      if (f.type === "hidden" || f.type === "submit") continue;
      const key = fieldKey(f);
      if (f.value !== f.defaultValue || document.activeElement === f) kept.set(key, f.value);
      if (document.activeElement === f) focused = key;
    }
    el.innerHTML = html;
    if (!kept.size) return;
    for (const f of el.querySelectorAll("input[name],textarea[name],select[name]")) {
      const key = fieldKey(f);
      if (!kept.has(key)) continue;
      f.value = kept.get(key);
      if (key === focused) f.focus();
    }
  }

  function connect() {
    if (!$("#dashboard")) return;
    const es = new EventSource("/ui/stream");
    es.addEventListener("panel", (m) => {
      const d = JSON.parse(m.data);
      const el = document.getElementById(d.id);
      if (el) swapPanel(el, d.html);
    });
    es.addEventListener("feed", (m) => {
      const d = JSON.parse(m.data);
      const ul = $("#feed");
      if (!ul) return;
      ul.insertAdjacentHTML("afterbegin", d.html);
      while (ul.children.length > 60) ul.lastElementChild.remove();
    });
    es.addEventListener("tasks", reloadTasks);
    es.addEventListener("open", () => { document.body.dataset.live = "1"; });
    es.addEventListener("error", () => { document.body.dataset.live = "0"; });
  }

  // ---- round log ----
  let logStream;
  function followLog(agent, name) {
    const box = $("#log");
    const pre = $("#log-text");
    if (!box || !pre) return;
    if (logStream) logStream.close();
    box.hidden = false;
    $("#log-title").textContent = "Round log: " + name;
    pre.textContent = "";
    const es = new EventSource("/ui/log/" + encodeURIComponent(agent));
    logStream = es;
    es.addEventListener("chunk", (m) => {
      pre.appendChild(document.createTextNode(JSON.parse(m.data)));
      pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("end", (m) => {
      pre.appendChild(document.createTextNode("\n[" + JSON.parse(m.data) + "]\n"));
      es.close();
    });
    es.addEventListener("error", () => { if (es.readyState === 2) logStream = undefined; });
  }

  // Ages (round timers, "since") tick in the page; the times themselves come from the server.
  const age = (s) => s < 90 ? s + "s" : s < 5400 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h";
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-since]")) {
      const ms = Date.parse(el.dataset.since);
      if (!Number.isNaN(ms)) el.textContent = age(Math.max(0, Math.round((Date.now() - ms) / 1000)));
    }
  }, 1000);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", connect);
  } else {
    connect();
  }
})();
`;

export const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2230;background:#f5f6f8}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;background:#1d2230;color:#fff}
header h1{font-size:1.1rem;margin:0}
header .who{margin-left:auto;opacity:.85}
header form{display:inline}
body[data-live="1"] .live::before{content:"● ";color:#4caf50}
body[data-live="0"] .live::before{content:"● ";color:#e53935}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,28rem),1fr))}
section{background:#fff;border-radius:8px;padding:.8rem 1rem;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0}
section h2{font-size:1rem;margin:0 0 .5rem}
section.wide{grid-column:1/-1}
table{width:100%;border-collapse:collapse}
td,th{padding:.3rem .4rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#555;white-space:nowrap}
.buttons{display:flex;flex-wrap:wrap;gap:.25rem}
.state{display:inline-block;white-space:nowrap;padding:0 .4rem;border-radius:4px;background:#eceff1;font-size:.85em}
.s-working,.s-running{background:#e3f2fd}.s-idle,.s-completed{background:#e8f5e9}
.s-needs_input,.s-rate_limited,.s-over_budget{background:#fff3e0}.s-error,.s-failed,.s-verify_failed,.s-mission_help{background:#ffebee}
.muted{color:#777}.small{font-size:.85em}
ul.plain{list-style:none;margin:0;padding:0}
ul.plain li{padding:.3rem 0;border-bottom:1px solid #f0f0f0;overflow-wrap:anywhere}
.attention li{display:flex;flex-wrap:wrap;gap:.4rem;align-items:baseline}
form.inline{display:flex;flex-wrap:wrap;gap:.4rem;margin:.3rem 0}
input,select,textarea,button{font:inherit;padding:.3rem .5rem;border:1px solid #c5cad3;border-radius:4px;max-width:100%}
textarea{width:100%;min-height:3rem}
button{background:#fff;cursor:pointer}button:hover{background:#f0f3f8}
button.danger{border-color:#e57373;color:#b71c1c}
.flash{margin:0 1rem;padding:.4rem .8rem;border-radius:4px}.flash:empty{display:none}
.flash.ok{background:#e8f5e9}.flash.bad{background:#ffebee}
pre#log-text{max-height:24rem;overflow:auto;background:#111;color:#ddd;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere}
.login{max-width:26rem;margin:10vh auto;display:block;background:#fff;padding:1.5rem;border-radius:8px}
.login label{display:flex;flex-direction:column;gap:.3rem;margin:1rem 0}
.error{color:#b71c1c}
svg.graph{max-width:100%;height:auto}
svg.graph rect{fill:#fff;stroke:#90a4ae;rx:6}
svg.graph .st-done rect{fill:#e8f5e9}svg.graph .st-active rect{fill:#e3f2fd}
svg.graph .st-review rect,svg.graph .st-watch rect{fill:#fff3e0}svg.graph .st-failed rect{fill:#ffebee}
svg.graph path{fill:none;stroke:#90a4ae;stroke-width:1.5}
svg.graph text{font-size:12px}
@media (max-width:600px){main{padding:.5rem}td.opt,th.opt{display:none}}
`;
