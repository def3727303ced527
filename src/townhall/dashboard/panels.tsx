/** @jsxImportSource hono/jsx */
/**
 * The dashboard's panels, each rendered whole on the server (the page, and again for every live
 * swap). Buttons exist only for the scopes the session has; the server checks again on each
 * action. All text is escaped by JSX.
 */
import { hasScope, type Scope } from "../../core/auth.ts";
import { TASK_STATES, type TownEvent } from "../../core/schemas.ts";
import type { AgentRow, Attention, Overview, TaskPage } from "./data.ts";

/** Task states counted in the header line (from the counters). */
const TASK_SUMMARY = ["running", "assigned", "pending", "failed"] as const;

export type Can = (scope: Scope) => boolean;
export const canFor = (scopes: readonly Scope[]): Can => (s) => hasScope(scopes, s);

const short = (id: string) => id.slice(0, 8);
const clip = (s: string, n = 140) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function ago(iso: string | undefined, now: number): string {
  const ms = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) return "";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

const State = (props: { s: string }) => <span class={`state s-${props.s}`}>{props.s}</span>;

function AgentButtons(props: { a: AgentRow; can: Can }) {
  const { a, can } = props;
  const body = JSON.stringify({ agent: a.agent.id });
  return (
    <span class="buttons">
      {can("town.read")
        ? <button type="button" data-log={a.agent.id} data-name={a.agent.name}>log</button>
        : null}
      {can("agent.manage")
        ? (
          <>
            <button type="button" data-act="interrupt" data-body={body}>interrupt</button>
            <button type="button" data-act="resume" data-body={body}>resume</button>
            <button
              type="button"
              class="danger"
              data-act="kill"
              data-body={body}
              data-confirm={`Kill ${a.agent.name}?`}
            >
              kill
            </button>
          </>
        )
        : null}
    </span>
  );
}

export function AttentionList(props: { items: Attention[]; can: Can }) {
  if (!props.items.length) return <p class="muted">Nothing needs you right now.</p>;
  return (
    <ul class="plain attention">
      {props.items.map((x) => (
        <li data-kind={x.kind}>
          <State s={x.kind} />
          <b>{x.title}</b>
          {x.until ? <span class="muted">until {x.until}</span> : null}
          {x.detail ? <span class="detail">{clip(x.detail, 400)}</span> : null}
          {x.kind === "needs_input" && x.agent && props.can("town.write")
            ? (
              <form
                class="inline reply"
                data-act="reply"
                data-fixed={JSON.stringify({ agent: x.agent.agent.id })}
              >
                <input name="answer" required placeholder="your answer" aria-label="answer" />
                <button type="submit">reply</button>
              </form>
            )
            : null}
        </li>
      ))}
    </ul>
  );
}

/** "(2 ahead, 1 behind, 3 uncommitted)", or "(even)" when there is nothing to merge. */
function branchText(w: NonNullable<AgentRow["worktree"]>): string {
  const parts = [
    w.ahead ? `${w.ahead} ahead` : "",
    w.behind ? `${w.behind} behind` : "",
    w.dirty ? `${w.dirty} uncommitted` : "",
  ].filter(Boolean);
  return `(${parts.length ? parts.join(", ") : "even"})`;
}

function spent(r: AgentRow): string {
  if (r.budget?.line) return r.budget.line;
  const a = r.agent;
  const tokens = a.tokens_in + a.tokens_out;
  if (!a.cost_usd && !tokens) return "";
  return `$${a.cost_usd.toFixed(2)} · ${tokens.toLocaleString("en")} tok`;
}

export function AgentsTable(props: { rows: AgentRow[]; can: Can; now: number }) {
  if (!props.rows.length) {
    return (
      <p class="muted">
        No agents yet: <code>tt spawn &lt;name&gt;</code> starts one.
      </p>
    );
  }
  return (
    <table class="agents">
      <thead>
        <tr>
          <th>agent</th>
          <th>state</th>
          <th>task</th>
          <th class="opt">host</th>
          <th class="opt">spent</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => {
          const a = r.agent;
          return (
            <tr data-agent={a.name}>
              <td>
                <b>{r.label}</b>
                <div class="muted small">
                  {a.cli}
                  {a.branch ? ` · ${a.branch}` : ""}
                  {r.worktree ? ` ${branchText(r.worktree)}` : ""}
                  {a.sandboxed === undefined ? "" : a.sandboxed ? " · sandboxed" : " · no sandbox"}
                </div>
              </td>
              <td>
                <State s={a.state} />
                <div class="muted small">
                  since{" "}
                  <span data-since={a.last_active_at}>{ago(a.last_active_at, props.now)}</span>
                  {a.round_started_at
                    ? (
                      <>
                        {` · round ${a.round} for `}
                        <span class="round-timer" data-since={a.round_started_at}>
                          {ago(a.round_started_at, props.now)}
                        </span>
                      </>
                    )
                    : ""}
                </div>
              </td>
              <td>
                {r.task
                  ? (
                    <span>
                      <code>{short(r.task.id)}</code> {clip(r.task.description, 80)}
                    </span>
                  )
                  : <span class="muted">—</span>}
                {r.lastLine ? <div class="muted small last-line">{clip(r.lastLine)}</div> : null}
              </td>
              <td class="opt">{a.host ?? ""}</td>
              <td class="opt small">{spent(r)}</td>
              <td>
                <AgentButtons a={r} can={props.can} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Rows of one task page; ends with a "more" link when the index goes on. */
export function TaskRows(props: { page: TaskPage; labels: Map<string, string>; now: number }) {
  const { page } = props;
  return (
    <>
      {page.tasks.map((x) => (
        <li data-task={x.id} data-state={x.state}>
          <State s={x.state} /> <code>{short(x.id)}</code> {clip(x.description, 200)}
          <span class="muted small">
            {x.assigned_to ? ` → ${props.labels.get(x.assigned_to) ?? short(x.assigned_to)}` : ""}
            {x.updated_at ? ` · ${ago(x.updated_at, props.now)} ago` : ""}
          </span>
        </li>
      ))}
      {page.tasks.length === 0 && page.next === undefined
        ? <li class="muted">No matching task.</li>
        : null}
      {page.next !== undefined
        ? (
          <li id="tasks-more">
            <a href="#" data-more={String(page.next)}>
              more… ({page.scanned} looked at, {page.total - page.next} older)
            </a>
          </li>
        )
        : null}
    </>
  );
}

export function TaskFilter(props: { state?: string; q?: string }) {
  return (
    <form id="taskfilter" class="inline">
      <select name="state" aria-label="state">
        <option value="">all states</option>
        {TASK_STATES.map((s) => <option key={s} value={s} selected={props.state === s}>{s}
        </option>)}
      </select>
      <input
        name="q"
        type="search"
        placeholder="search"
        value={props.q ?? ""}
        aria-label="search"
      />
    </form>
  );
}

export function Summary(props: { ov: Overview }) {
  const { tasks, agents } = props.ov;
  const busy = agents.filter((r) => r.agent.state === "working").length;
  return (
    <span>
      {agents.length} agent(s), {busy} working · {tasks.total} task(s)
      {TASK_SUMMARY.filter((st) => tasks.by_state[st]).map((st) => `, ${tasks.by_state[st]} ${st}`)
        .join("")} · {tasks.backlog} in backlog
    </span>
  );
}

export function EventItem(props: { ev: TownEvent; labels: Map<string, string> }) {
  const { ev } = props;
  const who = ev.agent_id ? props.labels.get(ev.agent_id) ?? short(ev.agent_id) : undefined;
  return (
    <li data-type={ev.type}>
      <span class="muted small">{ev.ts.slice(11, 19)}</span> <b>{ev.type}</b>
      {who ? ` ${who}:` : ""} {clip(ev.message, 300)}
    </li>
  );
}

/** Forms that create work: assign, backlog add, send. */
export function ActionForms(props: { agents: AgentRow[]; can: Can }) {
  if (!props.can("town.write")) return <p class="muted">This key can only read.</p>;
  const options = props.agents.map((r) => (
    <option key={r.agent.id} value={r.agent.id}>{r.label}</option>
  ));
  return (
    <>
      <form class="inline" data-act="assign" id="assign-form">
        <select name="agent" required aria-label="agent">{options}</select>
        <textarea name="description" required placeholder="task description" aria-label="task" />
        <button type="submit">assign</button>
      </form>
      <form class="inline" data-act="backlog" id="backlog-form">
        <textarea name="description" required placeholder="backlog task" aria-label="backlog" />
        <button type="submit">add to backlog</button>
      </form>
      <form class="inline" data-act="send" id="send-form">
        <select name="to" required aria-label="to">{options}</select>
        <input name="message" required placeholder="message" aria-label="message" />
        <button type="submit">send</button>
      </form>
    </>
  );
}
