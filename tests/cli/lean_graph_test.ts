/**
 * The lean path's module graph: what `tt assign`, `tt status`… load before their action runs.
 * Every module a lean group imports statically (not `import type`, not `await import()`) is
 * loaded by every command of that group, so none of them may reach commander or ioredis: each
 * costs more than a whole short command (commander alone ~40 ms; it came back once through a
 * value import of InvalidArgumentError and made `tt assign` 1.4× slower).
 */
import assert from "node:assert/strict";
import { LEAN_GROUPS } from "../../src/cli/lean.ts";
import { ROOT } from "../helpers.ts";

interface Dep {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  modules: { specifier: string; dependencies?: Dep[] }[];
  redirects: Record<string, string>;
}

/** Loading any of these makes a short command cost more than the whole command should. */
const HEAVY = [/^npm:\/?commander@/, /^npm:\/?@commander-js\//, /^npm:\/?ioredis@/];

/** The static runtime closure of `entry`, from `deno info --json`. */
async function staticClosure(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
  const deps = new Map(info.modules.map((m) => [m.specifier, m.dependencies ?? []]));
  const root = `file://${ROOT}/${entry}`;
  const seen = new Set<string>();
  const walk = (spec: string) => {
    const s = info.redirects[spec] ?? spec;
    if (seen.has(s)) return;
    seen.add(s);
    for (const d of deps.get(s) ?? []) if (d.code && !d.isDynamic) walk(d.code.specifier);
  };
  walk(root);
  return seen;
}

/** The files of the lean groups, read from the table's own import() calls. */
function groupFiles(): string[] {
  const files = new Set<string>();
  for (const load of Object.values(LEAN_GROUPS)) {
    const m = /import\("\.\/([\w-]+\.ts)"\)/.exec(String(load));
    assert.ok(m, `a LEAN_GROUPS entry that is not a plain import(): ${load}`);
    files.add(`src/cli/${m[1]}`);
  }
  return [...files];
}

Deno.test("lean path: no lean command module statically loads commander or ioredis", async () => {
  const entries = ["src/cli/lean.ts", "src/redis/connection.ts", ...groupFiles()];
  assert.ok(entries.includes("src/cli/task.ts"), "tt assign's module is among them");
  for (const entry of entries) {
    const heavy = [...await staticClosure(entry)].filter((s) => HEAVY.some((h) => h.test(s)));
    assert.deepEqual(heavy, [], `${entry} loads ${heavy.join(", ")} before any command runs`);
  }
});

Deno.test("lean path graph check: it sees a value import of commander", async () => {
  // The check itself: the full program's entry does load commander statically.
  const all = await staticClosure("src/cli/program.ts");
  assert.ok([...all].some((s) => HEAVY[1].test(s) || HEAVY[0].test(s)), [...all].join("\n"));
});
