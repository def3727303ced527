/**
 * Which agent suits a work item: the original's lanes and score tables (reference §2.6.6).
 * score = base(kind, owner role, lane) − 30 × work already given to the agent.
 */
import type { Agent } from "../schemas.ts";
import type { ItemKind } from "./schemas.ts";

export type Lane =
  | "backend"
  | "frontend"
  | "devops"
  | "generalist"
  | "tester"
  | "reviewer"
  | "runner"
  | "researcher";

const ROLE_LANES: Record<string, Lane> = {
  backend: "backend",
  frontend: "frontend",
  tester: "tester",
  test: "tester",
  reviewer: "reviewer",
  review: "reviewer",
  audit: "reviewer",
  devops: "devops",
  infra: "devops",
  runner: "runner",
  researcher: "researcher",
  default: "generalist",
  worker: "generalist",
};

const NAME_LANES: [RegExp, Lane][] = [
  [/review|audit/, "reviewer"],
  [/test|qa/, "tester"],
  [/backend|api|server/, "backend"],
  [/frontend|ui|web|client/, "frontend"],
  [/devops|infra|deploy/, "devops"],
  [/runner|ci/, "runner"],
  [/research|explore/, "researcher"],
];

export function laneOf(a: Pick<Agent, "name" | "role">): Lane {
  const role = a.role?.toLowerCase();
  if (role && ROLE_LANES[role]) return ROLE_LANES[role];
  const name = a.name.toLowerCase();
  return NAME_LANES.find(([re]) => re.test(name))?.[1] ?? "generalist";
}

type Table = Partial<Record<Lane, number>>;
const IMPL: Lane[] = ["backend", "frontend", "devops", "generalist"];
const fill = (lanes: Lane[], v: number): Table => Object.fromEntries(lanes.map((l) => [l, v]));

const KIND_TABLE: Record<ItemKind, Table> = {
  implement: { ...fill(IMPL, 60), researcher: 35, runner: 35, tester: 5, reviewer: 0 },
  test: { tester: 85, ...fill(IMPL, 45), runner: 30, researcher: 30, reviewer: 10 },
  review: {
    reviewer: 100,
    researcher: 35,
    generalist: 20,
    backend: 5,
    frontend: 5,
    devops: 5,
    tester: 5,
    runner: 5,
  },
  design: { researcher: 75, ...fill(IMPL, 55), reviewer: 30, runner: 20, tester: 10 },
  mergegate: { runner: 80, reviewer: 50, ...fill(IMPL, 35), researcher: 20, tester: 10 },
  followup: { ...fill(IMPL, 50), researcher: 50, runner: 35, tester: 20, reviewer: 10 },
};

const ROLE_ALIASES: Record<string, string> = {
  test: "tester",
  review: "reviewer",
  audit: "reviewer",
  infra: "devops",
};
const canonical = (r: string) => ROLE_ALIASES[r.toLowerCase()] ?? r.toLowerCase();

/** Does the agent hold `role` (role id with aliases, or the role's name in the agent's name)? */
function holdsRole(a: Pick<Agent, "name" | "role">, role: string): boolean {
  const want = canonical(role);
  if (a.role && canonical(a.role) === want) return true;
  return a.name.toLowerCase().includes(want);
}

function mismatch(owner: string, lane: Lane, kind: ItemKind): number | undefined {
  if (["backend", "frontend", "devops"].includes(owner)) {
    if (lane === "generalist") return 55;
    if (IMPL.includes(lane)) return 35;
    if (lane === "researcher" || lane === "runner") return 20;
    if (lane === "tester") return kind === "implement" ? 5 : 15;
    return 0;
  }
  if (owner === "tester") {
    return {
      generalist: 45,
      tester: 100,
      runner: 20,
      researcher: 20,
      reviewer: 5,
    }[lane as string] ??
      30;
  }
  if (owner === "reviewer") {
    return { reviewer: 100, researcher: 20, generalist: 10 }[lane as string] ?? 0;
  }
  return undefined;
}

/** The base score of an agent for an item (before the load penalty). */
export function baseScore(
  a: Pick<Agent, "name" | "role">,
  item: { kind: ItemKind; role?: string },
): number {
  const lane = laneOf(a);
  if (item.kind === "review" && lane === "reviewer") return 120;
  if (item.role) {
    if (holdsRole(a, item.role)) return 100;
    const m = mismatch(canonical(item.role), lane, item.kind);
    if (m !== undefined) return m;
  }
  return KIND_TABLE[item.kind][lane] ?? 0;
}

export const LOAD_PENALTY = 30;

/**
 * The best agent for an item among `agents` (already filtered to those that can take work),
 * given how much work each already has; undefined when none scores above 0. Ties go to the
 * agent listed first.
 */
export function pickAgent<A extends Pick<Agent, "id" | "name" | "role">>(
  agents: readonly A[],
  item: { kind: ItemKind; role?: string },
  load: ReadonlyMap<string, number>,
): A | undefined {
  let best: A | undefined;
  let bestScore = 0;
  for (const a of agents) {
    const s = baseScore(a, item) - LOAD_PENALTY * (load.get(a.id) ?? 0);
    if (s > bestScore) {
      best = a;
      bestScore = s;
    }
  }
  return best;
}
