/**
 * GitHub issues as a mission source: one work item per issue; dependencies from GitHub's native
 * issue dependencies first, then text patterns in the body ("Depends on #2", "Blocked by o/r#3",
 * "Requires #4 and #5", a line starting "After #6"). Only issues of the same mission count.
 */
import { UsageError } from "../errors.ts";
import { type GitHubSource, type IssueRef, refText } from "./github.ts";
import { inferKind, inferRole } from "./graph.ts";
import type { ItemDef } from "./schemas.ts";

const NAME = "[A-Za-z0-9][\\w.-]*";
const REF_RE = new RegExp(`(?:(${NAME})\\/(${NAME}))?#(\\d+)`, "g");
const LIST =
  `((?:${NAME}\\/${NAME})?#\\d+(?:\\s*(?:,|&|\\band\\b)\\s*(?:${NAME}\\/${NAME})?#\\d+)*)`;
/** "depends on", "blocked by", "requires" anywhere; "after" only opening a line (not prose). */
const DEP_RES = [
  new RegExp(`\\b(?:depends?\\s+on|blocked\\s+by|requires?)\\s*:?\\s*${LIST}`, "gi"),
  new RegExp(`^\\s*(?:[-*]\\s*)?after\\s*:?\\s*${LIST}`, "gim"),
];

/** Parses `N`, `owner/repo#N` or an issue URL; `N` needs `defaultRepo` (the git remote). */
export function parseIssueRef(
  raw: string,
  defaultRepo?: { owner: string; repo: string },
): IssueRef {
  const s = raw.trim();
  let m = s.match(/^#?(\d+)$/);
  if (m) {
    if (!defaultRepo) {
      throw new UsageError(
        `issue '${s}': no GitHub remote 'origin' here to say which repository; write owner/repo#${
          m[1]
        }`,
      );
    }
    return { ...defaultRepo, number: Number(m[1]) };
  }
  m = s.match(new RegExp(`^(${NAME})\\/(${NAME})#(\\d+)$`));
  if (m) return { owner: m[1], repo: m[2], number: Number(m[3]) };
  m = s.match(
    new RegExp(`^https?://[^/]+/(${NAME})/(${NAME})/(?:issues|pull)/(\\d+)(?:[/?#].*)?$`),
  );
  if (m) return { owner: m[1], repo: m[2].replace(/\.git$/, ""), number: Number(m[3]) };
  throw new UsageError(`'${s}' is not an issue: give N, owner/repo#N or the issue's URL`);
}

/** owner/repo from a git remote URL (`git@host:o/r.git`, `https://host/o/r`), if it is one. */
export function repoOfRemote(url: string): { owner: string; repo: string } | undefined {
  const m = url.trim().match(new RegExp(`[:/](${NAME})/(${NAME}?)(?:\\.git)?/?$`));
  return m ? { owner: m[1], repo: m[2].replace(/\.git$/, "") } : undefined;
}

async function originRepo(cwd: string) {
  try {
    const out = await new Deno.Command("git", {
      args: ["remote", "get-url", "origin"],
      cwd,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? repoOfRemote(new TextDecoder().decode(out.stdout)) : undefined;
  } catch {
    return undefined;
  }
}

/** Issue references named by dependency phrases in `text` (relative to `self`'s repository). */
export function textDependencies(text: string, self: IssueRef): IssueRef[] {
  const out: IssueRef[] = [];
  for (const re of DEP_RES) {
    for (const m of text.matchAll(re)) {
      for (const r of m[1].matchAll(REF_RE)) {
        out.push({ owner: r[1] ?? self.owner, repo: r[2] ?? self.repo, number: Number(r[3]) });
      }
    }
  }
  return out;
}

const key = (r: IssueRef) => `${r.owner.toLowerCase()}/${r.repo.toLowerCase()}#${r.number}`;

export interface IssueOptions {
  cwd: string;
  github?: GitHubSource;
  /** Repository of plain issue numbers (default: the git remote 'origin' of cwd). */
  defaultRepo?: { owner: string; repo: string };
}

/** Fetches the issues and turns them into work items (not yet compiled into a graph). */
export async function issueItems(
  raw: string[],
  opts: IssueOptions,
): Promise<{ items: ItemDef[]; refs: string[] }> {
  const needsRemote = raw.some((r) => /^#?\d+$/.test(r.trim()));
  const remote = opts.defaultRepo ?? (needsRemote ? await originRepo(opts.cwd) : undefined);
  const refs = raw.map((r) => parseIssueRef(r, remote));
  const unique = [...new Map(refs.map((r) => [key(r), r])).values()];
  const gh = opts.github ?? await (await import("./github.ts")).githubFromEnv();
  const oneRepo = new Set(unique.map((r) => `${r.owner}/${r.repo}`.toLowerCase())).size === 1;
  const idOf = (r: IssueRef) =>
    (oneRepo
      ? `issue-${r.number}`
      : `${r.owner}-${r.repo}-${r.number}`.replace(/^[^A-Za-z0-9]+/, ""))
      .slice(0, 64);
  const inMission = new Map(unique.map((r) => [key(r), r]));
  const fetched = await Promise.all(unique.map(async (r) => {
    const [issue, native] = await Promise.all([gh.issue(r), gh.blockedBy(r)]);
    return { issue, native };
  }));
  const items = fetched.map(({ issue, native }): ItemDef => {
    const deps = [...(native ?? []), ...textDependencies(issue.body, issue.ref)]
      .filter((d) => inMission.has(key(d)) && key(d) !== key(issue.ref))
      .map((d) => idOf(inMission.get(key(d))!));
    const kind = inferKind(issue);
    return {
      id: idOf(issue.ref),
      title: (issue.title.trim() || `Issue ${refText(issue.ref)}`).slice(0, 300),
      body: `${clipBody(issue.body)}\n\n(GitHub issue ${refText(issue.ref)}: ${issue.url})`.trim(),
      kind,
      role: inferRole(kind, issue),
      depends_on: [...new Set(deps)],
      source: refText(issue.ref),
    };
  });
  return { items, refs: unique.map(refText) };
}

/** Issue bodies are the agent's brief; past ~30 KB the rest is left on GitHub. */
function clipBody(body: string): string {
  const b = body.trim();
  return b.length <= 30_000 ? b : `${b.slice(0, 30_000)}\n\n[… the rest of the issue is on GitHub]`;
}
