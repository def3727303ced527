/**
 * Pull request watches: an item whose work opened pull requests stays `watch` until each one is
 * merged, or approved with passing checks and a clean merge state. A failed check, a change
 * request or a merge conflict sends the item back to `ready` with a fix to do — one fix per
 * cause (the same failing commit or the same review never makes a second fix task). One check
 * reads every due pull request of the mission in one batch (one GraphQL query per page).
 */
import type { GitHubSource, IssueRef, PullState } from "./github.ts";
import { parseIssueRef } from "./issues.ts";
import { shortMissionId } from "./store.ts";
import { changeItem } from "./transitions.ts";
import { loadFrontier } from "./frontier.ts";
import { ACTOR, check, type SchedCtx } from "./context.ts";
import { oneLine } from "../tasks.ts";

const NAME = "[A-Za-z0-9][\\w.-]*";
const PR_URL = new RegExp(`https?://[^\\s/]+/(${NAME})/(${NAME})/pull/(\\d+)`, "g");
const PR_SHORT = new RegExp(`(?<![\\w/.-])(${NAME})/(${NAME})#(\\d+)\\b`, "g");

/** Pull requests named in a work result: `…/owner/repo/pull/N` URLs and `owner/repo#N`. */
export function prRefs(text: string): string[] {
  const out = new Set<string>();
  for (const re of [PR_URL, PR_SHORT]) {
    for (const m of text.matchAll(re)) out.add(`${m[1]}/${m[2].replace(/\.git$/, "")}#${m[3]}`);
  }
  return [...out].sort();
}

/** Merge states in which an approved pull request with passing checks can be merged. */
const MERGEABLE = new Set(["clean", "has_hooks"]);
const ready = (p: PullState) =>
  p.merged ||
  (p.review === "approved" && (p.checks === "success" || p.checks === "none") &&
    MERGEABLE.has(p.mergeState));

/** The first thing to fix on a pull request, as a cause key (for dedupe) and the reason. */
function fixOf(ref: string, p: PullState): { cause: string; reason: string } | undefined {
  if (p.merged) return undefined;
  if (p.mergeState === "dirty") {
    return {
      cause: `dirty:${ref}:${p.headSha}`,
      reason: `pull request ${ref} has merge conflicts with its base: merge or rebase it`,
    };
  }
  if (p.checks === "failure") {
    return {
      cause: `checks:${ref}:${p.headSha}`,
      reason: `checks fail on pull request ${ref} (commit ${p.headSha.slice(0, 7)}): ${
        p.failingChecks.join(", ")
      }: fix them and push`,
    };
  }
  if (p.review === "changes_requested" && p.changeRequest) {
    return {
      cause: `review:${ref}:${p.changeRequest.id}`,
      reason: `changes requested on pull request ${ref}: ${oneLine(p.changeRequest.body, 500)}`,
    };
  }
  return undefined;
}

export interface WatchResult {
  checked: number;
  done: number;
  fixes: number;
  errors: number;
}

/** Reads many pull requests: in one batch where the source can, else one by one. */
function readPulls(gh: GitHubSource, refs: IssueRef[]): Promise<(PullState | undefined)[]> {
  if (gh.pullStates) return gh.pullStates(refs);
  return Promise.all(refs.map((r) => gh.pullState!(r)));
}

/**
 * Checks the due watches of one mission (items in `watch` whose next check has come, and those
 * due within half an interval: they join this batch, so the watches of a mission fall into step
 * and cost one batch per interval, not one per item).
 */
export async function checkWatches(
  s: SchedCtx,
  gh: GitHubSource,
  missionId: string,
  cause?: string,
): Promise<WatchResult> {
  const out: WatchResult = { checked: 0, done: 0, fixes: 0, errors: 0 };
  const v = await loadFrontier(s.t, missionId);
  if (!v || v.mission.state !== "running" || !(gh.pullState || gh.pullStates)) return out;
  const interval = v.mission.watch_interval * 1000;
  const now = Date.now();
  const mid = shortMissionId(missionId);
  const due = v.mission.items.filter((it) => {
    const live = v.live.get(it.id)!;
    return live.status === "watch" && (live.nextCheck ?? 0) <= now + interval / 2;
  });
  const refs = [...new Set(due.flatMap((it) => v.live.get(it.id)!.prs))];
  let batch: Map<string, PullState | undefined> | Error;
  try {
    const states = refs.length ? await readPulls(gh, refs.map((r) => parseIssueRef(r))) : [];
    batch = new Map(refs.map((r, i) => [r, states[i]]));
  } catch (e) {
    batch = e as Error;
  }
  for (const it of due) {
    const live = v.live.get(it.id)!;
    out.checked++;
    const base = { from: ["watch" as const], token: s.token, cause };
    const ev = (type: string, message: string, reason?: string) => ({
      type,
      message: `mission ${mid}: ${message}`,
      actor: ACTOR,
      ...(reason ? { reason } : {}),
    });
    if (batch instanceof Error) {
      // Rate limits and outages show in the mission and back off; they never stop it.
      out.errors++;
      const failures = live.watchFailures + 1;
      const msg = oneLine(batch.message, 300);
      check(
        await changeItem(s.t, missionId, it.id, {
          ...base,
          to: "watch",
          set: {
            [`${it.id}:next_check`]: now + Math.min(interval * 2 ** failures, 1_800_000),
            [`${it.id}:watch_failures`]: failures,
            [`${it.id}:watch_error`]: msg,
          },
          event: ev(
            "mission_watch_error",
            `checking '${it.id}' failed (${failures}×): ${msg}`,
            msg,
          ),
        }),
      );
      continue;
    }
    const states = batch;
    const known = live.prs.map((r) => [r, states.get(r)] as const).filter(([, p]) => !!p) as [
      string,
      PullState,
    ][];
    const fix = known.map(([r, p]) => fixOf(r, p)).find((f) => !!f);
    const clear = [`${it.id}:watch_error`];
    if (!known.length || known.every(([, p]) => ready(p))) {
      const why = known.length
        ? known.map(([r, p]) => `${r} ${p.merged ? "merged" : `approved, ${p.mergeState}`}`).join(
          "; ",
        )
        : "none of its references is a pull request";
      check(
        await changeItem(s.t, missionId, it.id, {
          ...base,
          to: "done",
          del: clear,
          event: ev("mission_item_done", `item '${it.id}' done: ${why}`, why),
        }),
      );
      out.done++;
    } else if (fix && fix.cause !== live.fixcause) {
      check(
        await changeItem(s.t, missionId, it.id, {
          ...base,
          to: "ready",
          set: { [`${it.id}:feedback`]: fix.reason, [`${it.id}:fixcause`]: fix.cause },
          del: clear,
          event: ev(
            "mission_fix_needed",
            `'${it.id}' needs a fix: ${oneLine(fix.reason, 200)}`,
            fix.reason,
          ),
        }),
      );
      out.fixes++;
    } else {
      const summary = known.map(([r, p]) =>
        `${r}: checks ${p.checks}, review ${p.review}, ${p.mergeState}${
          p.unresolvedThreads ? `, ${p.unresolvedThreads} unresolved review thread(s)` : ""
        }`
      )
        .join("; ");
      check(
        await changeItem(s.t, missionId, it.id, {
          ...base,
          to: "watch",
          set: { [`${it.id}:next_check`]: now + interval, [`${it.id}:watch_failures`]: 0 },
          del: clear,
          event: ev("mission_watch_checked", `watching '${it.id}': ${summary}`),
        }),
      );
    }
  }
  return out;
}

/** The earliest due watch check among the given missions (ms epoch), if any. */
export function nextWatchAt(
  views: {
    mission: { state: string };
    live: Map<string, { status: string; nextCheck?: number }>;
  }[],
) {
  let at: number | undefined;
  for (const v of views) {
    if (v.mission.state !== "running") continue;
    for (const l of v.live.values()) {
      if (l.status === "watch") at = Math.min(at ?? Infinity, l.nextCheck ?? 0);
    }
  }
  return at;
}
