/**
 * The work graph: checks a list of work items (unique ids, known dependencies, no cycle) and
 * orders them topologically. Pure: nothing here touches Redis, so a bad graph is refused before
 * anything is written.
 */
import { UsageError } from "../errors.ts";
import { ItemDef, type ItemKind, type WorkItem } from "./schemas.ts";

/** A dependency cycle, as the ids along it, first id repeated at the end. */
export function findCycle(items: readonly { id: string; depends_on: string[] }[]): string[] | null {
  const deps = new Map(items.map((i) => [i.id, i.depends_on]));
  const state = new Map<string, 1 | 2>(); // 1 = on the current path, 2 = finished
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    state.set(id, 1);
    path.push(id);
    for (const d of deps.get(id) ?? []) {
      if (state.get(d) === 1) return [...path.slice(path.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    path.pop();
    state.set(id, 2);
    return null;
  };
  for (const i of items) {
    if (!state.has(i.id)) {
      const c = visit(i.id);
      // A cycle found along depends_on edges reads backwards; show it in the order work flows.
      if (c) return c.reverse();
    }
  }
  return null;
}

export interface CompileOptions {
  /** Kind of an item that does not give one (plan files: implement; issues: inferred). */
  defaultKind?: (item: { title: string; body: string }) => ItemKind;
  /** Where errors point (a file path, "the issues"). */
  origin?: string;
}

/**
 * Validates the items and returns them in topological order (dependencies first, otherwise in
 * the order given). Duplicate ids, unknown or self dependencies and cycles are refused.
 */
export function compileGraph(defs: readonly ItemDef[], opts: CompileOptions = {}): WorkItem[] {
  const where = opts.origin ? `${opts.origin}: ` : "";
  const items: WorkItem[] = defs.map((d, i) => {
    const r = ItemDef.safeParse(d);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new UsageError(
        `${where}items[${i}]${
          issue.path.length ? "." + issue.path.join(".") : ""
        }: ${issue.message}`,
      );
    }
    const kind = r.data.kind ?? opts.defaultKind?.(r.data) ?? "implement";
    return { ...r.data, kind, depends_on: [...new Set(r.data.depends_on)] };
  });
  if (!items.length) throw new UsageError(`${where}a mission needs at least one work item`);
  const ids = new Set<string>();
  for (const it of items) {
    if (ids.has(it.id)) throw new UsageError(`${where}duplicate item id '${it.id}'`);
    ids.add(it.id);
  }
  for (const it of items) {
    for (const d of it.depends_on) {
      if (d === it.id) throw new UsageError(`${where}item '${it.id}' depends on itself`);
      if (!ids.has(d)) {
        throw new UsageError(
          `${where}item '${it.id}' depends on '${d}', which is not an item of this mission`,
        );
      }
    }
  }
  const cycle = findCycle(items);
  if (cycle) {
    throw new UsageError(
      `${where}the work graph has a cycle: ${
        cycle.join(" → ")
      }; remove one of these depends_on (nothing was started)`,
    );
  }
  return topoOrder(items);
}

/** Kahn's algorithm, stable: among items whose dependencies are placed, the earliest given first. */
function topoOrder(items: WorkItem[]): WorkItem[] {
  const placed = new Set<string>();
  const out: WorkItem[] = [];
  const left = [...items];
  while (left.length) {
    const i = left.findIndex((it) => it.depends_on.every((d) => placed.has(d)));
    const [it] = left.splice(i, 1);
    placed.add(it.id);
    out.push(it);
  }
  return out;
}

/** Items that list `id` among their dependencies. */
export function dependantsOf(items: readonly WorkItem[], id: string): WorkItem[] {
  return items.filter((it) => it.depends_on.includes(id));
}

/** Kind from an issue's text, first hit wins (the original's heuristic). */
export function inferKind({ title, body }: { title: string; body: string }): ItemKind {
  const s = `${title} ${body}`.toLowerCase();
  if (/\b(design|rfc|proposal)\b/.test(s)) return "design";
  if (/\b(tests?|spec)\b/.test(s)) return "test";
  if (/\breview\b/.test(s)) return "review";
  if (/\bmerge\b/.test(s)) return "mergegate";
  if (/\b(follow-?up|fix)\b/.test(s)) return "followup";
  return "implement";
}

/** Owner role from an issue's text (the original's heuristic); undefined when nothing fits. */
export function inferRole(kind: ItemKind, { title, body }: { title: string; body: string }) {
  const s = `${title} ${body}`.toLowerCase();
  if (/\b(backend|api|server)\b/.test(s)) return "backend";
  if (/\b(frontend|ui|web)\b/.test(s)) return "frontend";
  if (kind === "test" || s.includes("qa owner")) return "tester";
  if (kind === "review") return "reviewer";
  if (/\b(devops|infrastructure|deploy)\b/.test(s)) return "devops";
  return undefined;
}

/**
 * The DAG as text: one line per item in topological order, indented by depth, with its
 * dependencies when it has more than the one it is drawn under.
 */
export function drawGraph(
  items: readonly WorkItem[],
  label: (it: WorkItem) => string,
): string[] {
  const depth = new Map<string, number>();
  for (const it of items) {
    depth.set(
      it.id,
      it.depends_on.length ? Math.max(...it.depends_on.map((d) => depth.get(d)! + 1)) : 0,
    );
  }
  return items.map((it) => {
    const d = depth.get(it.id)!;
    const after = it.depends_on.length ? `  ← ${it.depends_on.join(", ")}` : "";
    return `${"  ".repeat(d)}${d ? "└─ " : ""}${label(it)}${after}`;
  });
}
