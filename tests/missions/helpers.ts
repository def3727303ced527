/**
 * Helpers for the mission tests: plan files, mission events, the hold agent, a scheduler holding
 * the dispatcher lease, clients of the fake GitHub.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers.ts";
import type { AgentTown } from "../agent_helpers.ts";
import { recentEvents } from "../../src/core/events.ts";
import type { TownEvent } from "../../src/core/schemas.ts";
import { createAgent, setAgentState } from "../../src/core/agents.ts";
import type { TownContext } from "../../src/core/town.ts";
import { runScript } from "../../src/redis/script.ts";
import { ACQUIRE_LEASE } from "../../src/core/missions/scripts.ts";
import type { SchedCtx } from "../../src/core/missions/scheduler.ts";
import { type GitHubOptions, GitHubRest } from "../../src/core/missions/github.ts";
import { FakeGitHub } from "./fake_github.ts";

const HOLD_AGENT = `${ROOT}/tests/missions/fixtures/hold-agent.sh`;

/** --cli of the hold agent (see the fixture) with a private state dir. */
export function holdCli(state: string, mode = "work"): string {
  return `FAKE_STATE='${state}' sh '${HOLD_AGENT}' ${mode}`;
}

export interface PlanItem {
  id: string;
  title?: string;
  body?: string;
  depends_on?: string[];
  kind?: string;
  role?: string;
  verify?: string;
}

/** Writes a plan file into the town dir; returns its path. */
export async function writePlan(at: AgentTown, items: PlanItem[], name = "mission.toml") {
  const q = (s: string) => JSON.stringify(s);
  const text = items.map((i) =>
    [
      "[[items]]",
      `id = ${q(i.id)}`,
      `title = ${q(i.title ?? `Item ${i.id}`)}`,
      ...(i.body ? [`body = ${q(i.body)}`] : []),
      ...(i.kind ? [`kind = ${q(i.kind)}`] : []),
      ...(i.role ? [`role = ${q(i.role)}`] : []),
      ...(i.verify ? [`verify = ${q(i.verify)}`] : []),
      `depends_on = [${(i.depends_on ?? []).map(q).join(", ")}]`,
    ].join("\n")
  ).join("\n\n");
  const path = `${at.sb.dir}/${name}`;
  await Deno.writeTextFile(path, text + "\n");
  return path;
}

/** Every event of one mission, oldest first. */
export async function missionEvents(at: AgentTown, missionId: string): Promise<TownEvent[]> {
  return (await recentEvents(at.t, { count: 100_000 })).filter((e) => e.mission_id === missionId);
}

export interface MissionJson {
  id: string;
  state: string;
  counts: { total: number; done: number; active: number };
  items: {
    id: string;
    title: string;
    status: string;
    task?: string;
    agent?: string;
    attempts: number;
    depends_on: string[];
    prs: string[];
  }[];
}

/** Creates an agent and marks it idle (ready for the scheduler); returns it. */
export async function idleAgent(t: TownContext, name: string, role?: string) {
  const a = await createAgent(t, { name, cli: "true", role });
  await setAgentState(t, a.id, "idle");
  return a;
}

/**
 * A scheduler holding the dispatcher lease (taken by `holder` for `ms`, as the dispatcher takes
 * it), which must be free.
 */
export async function lease(t: TownContext, holder = "h:1", ms = 60_000): Promise<SchedCtx> {
  const [ok, token] = (await runScript(
    t.redis,
    ACQUIRE_LEASE,
    [t.keys.dispatcherLock, t.keys.dispatcherFence],
    [ms, holder, ""],
  )) as [number, string];
  assert.equal(ok, 1, `lease held by ${token}`);
  return { t, token, helpRepeatMs: 3_600_000 };
}

/**
 * A client of the fake GitHub with a token; the waits it would sleep (rate limits, retries) are
 * pushed to `waits` instead, and it goes on at once.
 */
export function fakeClient(
  gh: FakeGitHub,
  { waits = [], ...opts }: GitHubOptions & { waits?: number[] } = {},
): GitHubRest {
  return new GitHubRest({
    baseUrl: gh.url,
    token: "t0ken",
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
    ...opts,
  });
}

/** Runs `fn` with a fake GitHub, closed after; every answer it gave kept to GitHub's schemas. */
export async function withGitHub(fn: (gh: FakeGitHub) => Promise<void>) {
  const gh = new FakeGitHub();
  try {
    await fn(gh);
    assert.deepEqual(gh.broken, [], "the fake's answers kept to the schema");
  } finally {
    await gh.close();
  }
}
