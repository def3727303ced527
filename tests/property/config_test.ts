/**
 * tinytown.toml and tasks.toml parsing, for any text: either a valid value, or a TtError whose
 * message is one line starting with the file's path. Never another exception, never two lines.
 */
import { report } from "../helpers.ts";
import assert from "node:assert/strict";
import { parse as parseTomlRaw } from "smol-toml";
import { z } from "zod";
import { loadTownConfig } from "../../src/core/config.ts";
import { parseTomlFile } from "../../src/core/toml_file.ts";
import { TownConfig, validate } from "../../src/core/config_schema.ts";
import { parsePlan, Plan } from "../../src/core/plan.ts";
import { TtError } from "../../src/core/errors.ts";
import {
  assertCatches,
  assertProperty,
  fc,
  isOneLine,
  keyArb,
  mutate,
  tomlishText,
  tomlValue,
  toToml,
} from "./prop.ts";

const TOWN_PATH = "/srv/my town/tinytown.toml";
const PLAN_PATH = "/srv/my town/tasks.toml";

/** Runs a parse; returns "ok" or "error", and throws (failing the property) on anything else. */
function outcome(path: string, parse: () => unknown): "ok" | "error" {
  try {
    parse();
    return "ok";
  } catch (e) {
    if (!(e instanceof TtError)) {
      throw new Error(`not a TtError: ${e instanceof Error ? e.name : typeof e}: ${e}`);
    }
    if (!e.message.startsWith(`${path}:`)) {
      throw new Error(`message does not start with the path: ${JSON.stringify(e.message)}`);
    }
    if (!isOneLine(e.message)) {
      throw new Error(`message spans several lines: ${JSON.stringify(e.message)}`);
    }
    return "error";
  }
}

const parseTown = (text: string) => validate(TownConfig, parseTomlFile(text, TOWN_PATH), TOWN_PATH);
const parsePlanText = (text: string) => parsePlan(text, PLAN_PATH);

// ---- near-valid structures, so both the success and every error path get exercised ----

const TOWN_KEYS = [
  "name",
  "default_cli",
  "conductor_cli",
  "redis",
  "url",
  "agent",
  "idle_timeout_secs",
  "round_timeout_secs",
  "max_rounds",
  "worktrees",
  "kill_grace_secs",
  "pass_env",
  "agent_clis",
  "command",
  "workdir",
  "env",
  "townhall",
  "bind",
  "port",
  "auth",
  "max_body_bytes",
  "rate_limit",
  "read_per_min",
  "write_per_min",
  "burst",
];
const any = tomlValue(TOWN_KEYS);
/** Mostly the right type, sometimes anything. */
const or = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 30, arbitrary: good }, { weight: 1, arbitrary: any });
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 8 }) },
);
const count = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 65535 }) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 100000 }) },
);
/** A record whose keys are all optional, plus now and then an unknown key. */
const table = (
  shape: Record<string, fc.Arbitrary<unknown>>,
  keys: string[],
  required: string[] = [],
) =>
  fc.tuple(
    fc.record(shape, { requiredKeys: required }),
    // fc.option's freq is the chance (1/freq) of *no* value: an extra key in 1 table of 10.
    fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(keyArb(keys), any) },
    ),
  ).map(([r, extra]) => (extra ? { ...r, [extra[0]]: extra[1] } : r));

const townStructure = table(
  {
    name: or(fc.oneof(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), text)),
    default_cli: or(text),
    conductor_cli: or(text),
    redis: or(table({ url: or(text) }, TOWN_KEYS)),
    agent: or(table({
      idle_timeout_secs: or(count),
      round_timeout_secs: or(count),
      max_rounds: or(count),
      worktrees: or(fc.boolean()),
      kill_grace_secs: or(fc.oneof(count, fc.double({ min: 0, max: 100, noNaN: true }))),
      pass_env: or(fc.array(text, { maxLength: 3 })),
    }, TOWN_KEYS)),
    agent_clis: or(fc.dictionary(
      keyArb(["claude", "codex", "my cli"]),
      or(table({
        command: or(text),
        workdir: or(text),
        env: or(fc.dictionary(keyArb(["HOME", "PATH"]), or(text), { maxKeys: 2 })),
      }, TOWN_KEYS)),
      { maxKeys: 2 },
    )),
    townhall: or(table({
      bind: or(text),
      port: or(count),
      auth: or(fc.constantFrom("auto", "none", "api_key")),
      max_body_bytes: or(count),
      rate_limit: or(table({
        read_per_min: or(count),
        write_per_min: or(count),
        burst: or(count),
      }, TOWN_KEYS)),
    }, TOWN_KEYS)),
  },
  TOWN_KEYS,
  ["name"],
);

const PLAN_KEYS = [
  "meta",
  "description",
  "default_agent",
  "tasks",
  "id",
  "agent",
  "status",
  "tags",
];
const planAny = tomlValue(PLAN_KEYS);
const por = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 20, arbitrary: good }, { weight: 1, arbitrary: planAny });
const entryId = fc.oneof(fc.constantFrom("a", "b", "c", "d"), fc.stringMatching(/^[\w.-]{1,8}$/));
const planStructure = table({
  meta: por(fc.record({ description: por(text), default_agent: por(text) }, { requiredKeys: [] })),
  tasks: por(fc.array(
    table(
      {
        id: por(entryId),
        description: por(fc.oneof({ weight: 9, arbitrary: text }, fc.constant(" "))),
        agent: por(text),
        status: por(fc.constantFrom("pending", "assigned", "completed", "cancelled", "done")),
        tags: por(fc.array(text, { maxLength: 2 })),
        parent: por(fc.oneof(entryId, text)),
      },
      PLAN_KEYS,
      ["id", "description"],
    ),
    { maxLength: 4 },
  )),
}, PLAN_KEYS);

const townTexts = fc.oneof(tomlishText, mutate(townStructure.map(toToml)));
const planTexts = fc.oneof(tomlishText, mutate(planStructure.map(toToml)));

Deno.test("tinytown.toml: any text is a valid config or a one-line TtError naming the file", async () => {
  const seen = { ok: 0, error: 0 };
  await assertProperty("tinytown.toml text", 3000, [townTexts], (t) => {
    seen[outcome(TOWN_PATH, () => parseTown(t))]++;
  });
  report(`  valid: ${seen.ok}, refused: ${seen.error}`);
  // Both outcomes must be common, or the generators test only one path.
  assert.ok(seen.ok > 100, `only ${seen.ok} valid configs generated`);
  assert.ok(seen.error > 100, `only ${seen.error} invalid configs generated`);
});

Deno.test("tinytown.toml: a valid config survives a write/read round trip unchanged", async () => {
  await assertProperty("tinytown.toml round trip", 1000, [townStructure.map(toToml)], (t) => {
    let cfg: TownConfig;
    try {
      cfg = parseTown(t);
    } catch {
      return;
    }
    assert.deepEqual(parseTown(toToml(cfg)), cfg);
  });
});

Deno.test("tasks.toml: any text is a valid plan or a one-line TtError naming the file", async () => {
  const seen = { ok: 0, error: 0 };
  await assertProperty("tasks.toml text", 3000, [planTexts], (t) => {
    seen[outcome(PLAN_PATH, () => parsePlanText(t))]++;
  });
  report(`  valid: ${seen.ok}, refused: ${seen.error}`);
  assert.ok(seen.ok > 100, `only ${seen.ok} valid plans generated`);
  assert.ok(seen.error > 100, `only ${seen.error} invalid plans generated`);
});

Deno.test("loadTownConfig (the file on disk, with the town-name check) fails only with one-line TtErrors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tt-prop-config-" });
  try {
    const path = `${dir}/tinytown.toml`;
    await assertProperty("tinytown.toml on disk", 300, [townTexts], async (t) => {
      await Deno.writeTextFile(path, t);
      let error: unknown;
      try {
        await loadTownConfig(dir);
      } catch (e) {
        error = e;
      }
      outcome(path, () => {
        if (error) throw error;
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the parsing properties can fail: unwrapped TOML and zod errors are caught", async () => {
  // Without parseTomlFile's wrapping, syntax errors escape as TomlError (multi-line, no path).
  await assertCatches(
    "a raw TOML syntax error",
    /not a TtError: .*Invalid TOML document/,
    500,
    [townTexts],
    (t) => {
      outcome(TOWN_PATH, () => TownConfig.parse(parseTomlRaw(t)));
    },
  );
  // Without validate(), schema violations escape as ZodError.
  await assertCatches("a raw zod error", /not a TtError: ZodError/, 500, [townTexts], (t) => {
    outcome(TOWN_PATH, () => TownConfig.parse(parseTomlFile(t, TOWN_PATH)));
  });
  // An error message that embeds the offending text raw spans lines for some inputs.
  await assertCatches(
    "a message quoting raw input",
    /spans several lines/,
    500,
    [planTexts],
    (t) => {
      outcome(PLAN_PATH, () => {
        const r = Plan.safeParse(parseTomlFile(t, PLAN_PATH));
        if (!r.success) throw new TtError(`${PLAN_PATH}: ${z.prettifyError(r.error)}`);
      });
    },
  );
});
