/** @jsxImportSource hono/jsx */
/** The dashboard page, and the fragments the live stream swaps into it (same components). */
import type { Scope } from "../../core/auth.ts";
import type { TownEvent } from "../../core/schemas.ts";
import type { Overview, TaskPage } from "./data.ts";
import { Layout } from "./layout.tsx";
import { MissionsPanel } from "./missions.tsx";
import {
  ActionForms,
  AgentsTable,
  AttentionList,
  canFor,
  EventItem,
  Summary,
  TaskFilter,
  TaskRows,
} from "./panels.tsx";

export interface PageData {
  town: string;
  who: { name: string; scopes: readonly Scope[] };
  /** Absent when the page was fetched with a key header (no session: read-only). */
  csrf?: string;
  ov: Overview;
  tasks: TaskPage;
  events: TownEvent[];
  now: number;
}

export const labelsOf = (ov: Overview) => new Map(ov.agents.map((r) => [r.agent.id, r.label]));

/** Panel id → its inner HTML, for the live stream. */
export function panels(ov: Overview, scopes: readonly Scope[], now: number) {
  const can = canFor(scopes);
  return {
    summary: String(<Summary ov={ov} />),
    attention: String(<AttentionList items={ov.attention} can={can} />),
    agents: String(<AgentsTable rows={ov.agents} can={can} now={now} />),
    missions: String(<MissionsPanel missions={ov.missions} can={can} />),
    actions: String(<ActionForms agents={ov.agents} can={can} />),
  };
}

export function taskRowsHtml(page: TaskPage, labels: Map<string, string>, now: number): string {
  return String(<TaskRows page={page} labels={labels} now={now} />);
}

export function eventHtml(ev: TownEvent, labels: Map<string, string>): string {
  return String(<EventItem ev={ev} labels={labels} />);
}

export function DashboardPage(props: { d: PageData }) {
  const { d } = props;
  const can = canFor(d.csrf ? d.who.scopes : ["town.read"]);
  const labels = labelsOf(d.ov);
  return (
    <Layout title={`tt · ${d.town}`} csrf={d.csrf}>
      <header>
        <h1>tt · {d.town}</h1>
        <span class="live" id="summary">
          <Summary ov={d.ov} />
        </span>
        <span class="who">
          {d.who.name} ({d.who.scopes.join(", ")})
        </span>
        {d.csrf
          ? (
            <form method="post" action="/logout" data-act="logout">
              <button type="submit">log out</button>
            </form>
          )
          : null}
      </header>
      <p id="flash" class="flash" role="status" aria-live="polite"></p>
      <main id="dashboard">
        <section id="attention-box" class="wide">
          <h2>Needs attention</h2>
          <div id="attention">
            <AttentionList items={d.ov.attention} can={can} />
          </div>
        </section>
        <section class="wide">
          <h2>Agents</h2>
          <div id="agents">
            <AgentsTable rows={d.ov.agents} can={can} now={d.now} />
          </div>
        </section>
        <section>
          <h2>Work</h2>
          <div id="actions">
            <ActionForms agents={d.ov.agents} can={can} />
          </div>
        </section>
        <section>
          <h2>Tasks</h2>
          <TaskFilter />
          <ul class="plain" id="tasks-list">
            <TaskRows page={d.tasks} labels={labels} now={d.now} />
          </ul>
        </section>
        <section>
          <h2>Events</h2>
          <ul class="plain small" id="feed">
            {d.events.map((ev) => <EventItem key={ev.id} ev={ev} labels={labels} />)}
          </ul>
        </section>
        <section id="log" class="wide" hidden>
          <h2 id="log-title">Round log</h2>
          <pre id="log-text"></pre>
        </section>
        <section class="wide">
          <h2>Missions</h2>
          <div id="missions">
            <MissionsPanel missions={d.ov.missions} can={can} />
          </div>
        </section>
      </main>
    </Layout>
  );
}
