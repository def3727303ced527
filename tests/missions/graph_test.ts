/** The work-graph compiler, plan files and role scoring (pure: no Redis). */
import assert from "node:assert/strict";
import {
  compileGraph,
  drawGraph,
  findCycle,
  inferKind,
  inferRole,
} from "../../src/core/missions/graph.ts";
import { parseMissionPlan } from "../../src/core/missions/plan.ts";
import { baseScore, laneOf, pickAgent } from "../../src/core/missions/scoring.ts";
import { UsageError } from "../../src/core/errors.ts";

const item = (id: string, depends_on: string[] = []) => ({ id, title: `T ${id}`, depends_on });

Deno.test("graph: topological order keeps the given order where dependencies allow", () => {
  const out = compileGraph([item("d", ["b", "c"]), item("b", ["a"]), item("c", ["a"]), item("a")]);
  assert.deepEqual(out.map((i) => i.id), ["a", "b", "c", "d"]);
  assert.equal(out[0].kind, "implement");
});

Deno.test("graph: a cycle is named in the order work would flow", () => {
  assert.deepEqual(findCycle([item("a", ["c"]), item("b", ["a"]), item("c", ["b"])]), [
    "a",
    "b",
    "c",
    "a",
  ]);
  assert.equal(findCycle([item("a"), item("b", ["a"])]), null);
  assert.throws(
    () =>
      compileGraph([item("x"), item("a", ["c", "x"]), item("b", ["a"]), item("c", ["b"])], {
        origin: "m.toml",
      }),
    (e: Error) =>
      e instanceof UsageError &&
      /^m\.toml: the work graph has a cycle: a → b → c → a;/.test(e.message),
  );
});

Deno.test("graph: duplicate ids, self and unknown dependencies, bad ids are refused", () => {
  const refuse = (defs: ReturnType<typeof item>[], re: RegExp) =>
    assert.throws(
      () => compileGraph(defs),
      (e: Error) => e instanceof UsageError && re.test(e.message),
    );
  refuse([item("a"), item("a")], /duplicate item id 'a'/);
  refuse([item("a", ["a"])], /item 'a' depends on itself/);
  refuse([item("a", ["ghost"])], /depends on 'ghost', which is not an item/);
  for (const bad of ["../x", "a:b", "", "a b", "x".repeat(65), "-a"]) {
    refuse([item(bad)], /items\[0\]\.id: use up to 64 letters/);
  }
  refuse([], /at least one work item/);
});

Deno.test("plan file: parsed with its options; unknown keys and bad values named with the file", () => {
  const plan = parseMissionPlan(
    `title = "Ship v2"\nmax_parallel = 3\nreviewer = false\n\n[[items]]\nid = "design"\ntitle = "Design"\nkind = "merge_gate"\n\n[[items]]\nid = "build"\ntitle = "Build"\nrole = "backend"\nverify = "deno task test"\ndepends_on = ["design"]\n`,
    "m.toml",
  );
  assert.equal(plan.title, "Ship v2");
  assert.equal(plan.maxParallel, 3);
  assert.equal(plan.reviewer, false);
  assert.deepEqual(plan.items.map((i) => [i.id, i.kind, i.role, i.verify, i.source]), [
    ["design", "mergegate", undefined, undefined, "m.toml#design"],
    ["build", "implement", "backend", "deno task test", "m.toml#build"],
  ]);
  const refuse = (text: string, re: RegExp) =>
    assert.throws(
      () => parseMissionPlan(text, "m.toml"),
      (e: Error) => re.test(e.message) && !e.message.includes("\n"),
    );
  refuse(`[[items]]\nid = "a"\ntitle = "A"\nowner = "me"\n`, /^m\.toml: items\.0\.owner: /);
  refuse(
    `[[items]]\nid = "a"\ntitle = "  "\n`,
    /^m\.toml: items\.0\.title: title must not be empty/,
  );
  refuse(`[[items]]\nid = "a"\ntitle = "A"\nkind = "party"\n`, /^m\.toml: items\.0\.kind: /);
  refuse(`max_parallel = 0\n[[items]]\nid = "a"\ntitle = "A"\n`, /^m\.toml: max_parallel: /);
  refuse(`title = "x"\n`, /^m\.toml: items: /);
  refuse(`[[items]\nid = "a"`, /^m\.toml:\d+:\d+: invalid TOML/);
  refuse(`[[items]]\nid = "a"\ntitle = "A"\nverify = ""\n`, /verify must not be empty/);
});

Deno.test("graph: kinds and roles inferred from issue text (the original's heuristic)", () => {
  assert.equal(inferKind({ title: "RFC: new storage", body: "" }), "design");
  assert.equal(inferKind({ title: "Add tests for login", body: "" }), "test");
  assert.equal(inferKind({ title: "Fix the crash", body: "" }), "followup");
  assert.equal(inferKind({ title: "Build the thing", body: "" }), "implement");
  assert.equal(inferRole("implement", { title: "API pagination", body: "" }), "backend");
  assert.equal(inferRole("test", { title: "coverage", body: "" }), "tester");
  assert.equal(inferRole("implement", { title: "stuff", body: "" }), undefined);
});

Deno.test("graph: drawn as text, indented by depth, with extra dependencies named", () => {
  const items = compileGraph([
    item("a"),
    item("b", ["a"]),
    item("c", ["a"]),
    item("d", ["b", "c"]),
  ]);
  assert.deepEqual(drawGraph(items, (i) => i.id), [
    "a",
    "  └─ b  ← a",
    "  └─ c  ← a",
    "    └─ d  ← b, c",
  ]);
});

Deno.test("scoring: lanes, role matches, kind tables and the load penalty", () => {
  const dev = { id: "1", name: "w1", role: undefined };
  const be = { id: "2", name: "x", role: "backend" };
  const rev = { id: "3", name: "alice", role: "reviewer" };
  const qa = { id: "4", name: "qa-bot", role: undefined };
  assert.equal(laneOf(dev), "generalist");
  assert.equal(laneOf(qa), "tester");
  assert.equal(laneOf(rev), "reviewer");
  assert.equal(baseScore(be, { kind: "implement", role: "backend" }), 100);
  assert.equal(baseScore(dev, { kind: "implement", role: "backend" }), 55);
  assert.equal(baseScore(rev, { kind: "review" }), 120);
  assert.equal(baseScore(qa, { kind: "test" }), 85);
  assert.equal(baseScore(rev, { kind: "implement" }), 0);
  // The backend item goes to the backend agent, unless it already has two more items.
  const agents = [dev, be, rev];
  assert.equal(pickAgent(agents, { kind: "implement", role: "backend" }, new Map())?.id, "2");
  assert.equal(
    pickAgent(agents, { kind: "implement", role: "backend" }, new Map([["2", 2]]))?.id,
    "1",
  );
  // Nobody scores above 0 for implement work: only a reviewer.
  assert.equal(pickAgent([rev], { kind: "implement" }, new Map()), undefined);
});

Deno.test("sources: a plan and documents make one graph; a missing document is refused", async () => {
  const { collectSources } = await import("../../src/core/missions/sources.ts");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/m.toml`,
      `[[items]]\nid = "build"\ntitle = "Build"\n`,
    );
    await Deno.writeTextFile(`${dir}/spec.md`, "# Spec\n");
    const got = await collectSources({ plan: `${dir}/m.toml`, docs: [`${dir}/spec.md`] });
    assert.deepEqual(got.items.map((i) => [i.id, i.kind, i.depends_on]), [
      ["build", "implement", []],
      ["doc-1", "design", []],
    ]);
    assert.equal(got.source, `plan:${dir}/m.toml doc:${dir}/spec.md`);
    await assert.rejects(
      () => collectSources({ docs: [`${dir}/nope.md`] }),
      /document .*nope\.md does not exist/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
