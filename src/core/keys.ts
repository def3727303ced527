/**
 * Every Redis key of a town, and nowhere else. All keys share the hash tag `{<town>}` so Lua
 * scripts and MULTI work on Redis Cluster too.
 */

/** The well-known mailbox of the human/conductor ("supervisor" and "conductor" both name it). */
export const SUPERVISOR_ID = "00000000-0000-0000-0000-000000000001";

/** Town names go into keys verbatim, so they are restricted to a safe alphabet. */
export const TOWN_NAME_RULE =
  "1 to 64 letters, digits, '.', '_' or '-', not starting or ending with '-'";
const VALID_TOWN_NAME = /^[A-Za-z0-9._](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9._])?$/;

/** Host names (`TT_HOST`, `tt spawn --host`) go into keys and file names: the agent-name rule. */
export const HOST_NAME_RULE =
  "up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit";
const VALID_HOST_NAME = /^[\p{L}\p{N}][\p{L}\p{N}._-]{0,63}$/u;
/**
 * The ASCII names VALID_HOST_NAME allows, tested first: a Unicode-property pattern costs about a
 * millisecond to build, in every short command (host_name.ts runs before anything else).
 */
export const ASCII_HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidHostName(name: string): boolean {
  return ASCII_HOST_NAME.test(name) || VALID_HOST_NAME.test(name);
}

/** Is `name` usable as a town name as it is (no normalisation)? */
export function isValidTownName(name: string): boolean {
  return VALID_TOWN_NAME.test(name);
}

/**
 * A valid town name made from `raw` (a directory or branch name), or `undefined` when nothing
 * usable is left. Accents are dropped (`café` → `cafe`), runs of other characters become `-`.
 * Only for names tt derives itself: an explicit `--name` is used verbatim or refused, so two
 * different names the user typed never become one.
 */
export function sanitizeTownName(raw: string): string | undefined {
  const cleaned = raw.normalize("NFKD").replace(/\p{M}+/gu, "").trim()
    .replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+/, "").slice(0, 64).replace(/-+$/, "");
  return isValidTownName(cleaned) ? cleaned : undefined;
}

export type Keys = ReturnType<typeof townKeys>;

export function townKeys(town: string) {
  const p = `tt:{${town}}:`;
  return {
    prefix: p,
    /** Pattern matching every key of the town (for SCAN in reset/save); glob-safe. */
    all: `${p.replace(/[*?[\]\\]/g, "\\$&")}*`,
    /** Set of agent ids. */
    agents: `${p}agents`,
    /** Hash canonical-name (lower case) → agent id, for names in use. */
    agentNames: `${p}agent-names`,
    /**
     * Which town holds this name on this Redis: JSON {id, path, host, created_at} (OwnerRecord in
     * identity.ts), set with SET NX by `tt init` and checked by every command that opens the town.
     * Kept by `tt reset`, left out of snapshots.
     */
    owner: `${p}owner`,
    /** Hash API key id → JSON record (townhall auth; the key text itself is never stored). */
    authKeys: `${p}auth:keys`,
    agent: (id: string) => `${p}agent:${id}`,
    inbox: (id: string) => `${p}inbox:${id}`,
    urgent: (id: string) => `${p}urgent:${id}`,
    /** Messages an agent's current round has taken (reliable-queue pattern). */
    processing: (id: string) => `${p}processing:${id}`,
    /**
     * Wake-up tokens: every message push also pushes here (see PUSH_MESSAGE_LUA), so an idle
     * agent blocks on this one list instead of polling its urgent list and inbox.
     */
    wake: (id: string) => `${p}wake:${id}`,
    /** Informational messages seen while idle, shown in the agent's next round. */
    notes: (id: string) => `${p}notes:${id}`,
    activity: (id: string) => `${p}activity:${id}`,
    /** Sorted set of task ids scored by creation time (ms). */
    tasks: `${p}tasks`,
    task: (id: string) => `${p}task:${id}`,
    /** Sorted set per task state, scored like `tasks` (task_index.ts keeps it). */
    tasksIn: (state: string) => `${p}tasks:state:${state}`,
    /** Sorted set of `<assignee>|<state>|<padded score>|<task id>`, read by lex (task_index.ts). */
    tasksByAgent: `${p}tasks:agent`,
    /** Hash `<assignee>|<state>` → number of tasks (task_index.ts). */
    taskCounts: `${p}task-counts`,
    /** Version of the task index layout once built (task_index.ts ensureIndexed). */
    taskIndex: `${p}task-index`,
    /** List of task ids waiting to be claimed (FIFO). */
    backlog: `${p}backlog`,
    /** Hash plan entry id (tasks.toml) → task id, for idempotent `tt sync push`. */
    plan: `${p}plan`,
    /** Town event stream; bounded with MAXLEN ~. */
    events: `${p}events`,
    /** Liveness of the supervisor on a host (JSON, with a TTL refreshed while it runs). */
    supervisor: (host: string) => `${p}supervisor:${host}`,
    /**
     * Hash host → JSON HostRecord (src/core/hosts.ts): every host whose supervisor has run, with
     * its last heartbeat and whether it stopped cleanly or was lost. Liveness: never snapshotted.
     */
    hosts: `${p}hosts`,
    /** Lease (SET NX PX) of the one supervisor handling a lost host or a host coming back. */
    hostsLock: `${p}hosts:lock`,
    /** Control messages for the supervisor on a host (spawn, kill, shutdown…). */
    control: (host: string) => `${p}control:${host}`,
    /** One-shot reply list a starting supervisor pushes to when it is ready. */
    ready: (nonce: string) => `${p}ready:${nonce}`,
    /** Sorted set of mission ids scored by creation time (ms): `tt mission list --all`. */
    missions: `${p}missions`,
    /** Set of the ids of missions not yet completed or stopped (the dispatcher's work). */
    missionsActive: `${p}missions:active`,
    /** Hash: the mission record (fields of Mission in src/core/missions/schemas.ts). */
    mission: (id: string) => `${p}mission:${id}`,
    /** Hash: live state of a mission's items (`<item>`, `<item>:task`, `<item>:agent`…). */
    missionItems: (id: string) => `${p}mission:${id}:items`,
    /** List of operator notes on a mission (JSON, oldest first). */
    missionNotes: (id: string) => `${p}mission:${id}:notes`,
    /** Hash task id → JSON {mission, item, role}: which mission item a task works on. */
    missionTasks: `${p}mission-tasks`,
    /** The mission dispatcher's lease (one per town across hosts): its owner token. */
    dispatcherLock: `${p}dispatcher:lock`,
    /** Counter whose every value is a fencing token handed to one dispatcher lease. */
    dispatcherFence: `${p}dispatcher:fence`,
    /**
     * Dashboard login session, by SHA-256 of the cookie's session id: JSON SessionRecord
     * (src/townhall/dashboard/session.ts: key id and scopes, never the key), with a TTL.
     */
    dashSession: (hash: string) => `${p}dash:session:${hash}`,
    /** One-time login link of `tt dashboard`, by SHA-256 of its token: JSON, short TTL, GETDEL. */
    dashLoginToken: (hash: string) => `${p}dash:login:${hash}`,
    /**
     * Hash of one UTC day's usage (src/core/usage/): `<dim>|<id>|<metric>` → number, dim one of
     * town, agent, task, model, mission, cli; metric in, out, cached, usd, rounds, ms. Expires
     * after USAGE_DAYS_KEPT days.
     */
    usageDay: (day: string) => `${p}usage:day:${day}`,
    /** Hash of all-time usage for the counters: `<agent>|<model>|<kind>` and `<agent>||usd`. */
    usageTotals: `${p}usage:totals`,
    /** Hash of an agent's usage by minute (`<epoch minute>|usd`, `|tok`) for rolling budgets. */
    usageSlots: (agentId: string) => `${p}usage:slots:${agentId}`,
    /** A CLI account's usage limit (JSON UsageLimit), expiring at its reset time. */
    usageLimit: (account: string) => `${p}usage:limit:${account}`,
  };
}

/** Key kinds that belong to one agent (or to the supervisor mailbox). */
const AGENT_SCOPED = [
  "agent:",
  "inbox:",
  "urgent:",
  "processing:",
  "wake:",
  "notes:",
  "activity:",
  "usage:slots:",
];

/** Is `key` a per-agent key of this town (agent hash, mailbox list)? `tt reset --agents-only`. */
export function isAgentKey(keys: Keys, key: string): boolean {
  return AGENT_SCOPED.some((kind) => key.startsWith(keys.prefix + kind));
}

/** Scratch key on which `tt restore` lets Redis check each DUMP payload before touching the town. */
export const restoreCheckKey = (keys: Keys) => `${keys.prefix}restore-check`;
