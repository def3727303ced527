/**
 * Shared pieces of the property tests: a runner that prints how many cases were tried, a check
 * that a property *can* fail (run against a deliberately broken subject), and TOML-ish inputs.
 */
import { report } from "../helpers.ts";
import fc from "fast-check";
import { stringify as stringifyToml } from "smol-toml";

export { fc };

/** A fixed seed by default (reproducible CI); FC_SEED=random or a number to explore. */
export function seed(): number | undefined {
  const s = Deno.env.get("FC_SEED");
  if (s === "random") return undefined;
  return s ? Number(s) : 0x7474;
}

/**
 * Asserts a property over `numRuns` cases and prints `fast-check: N cases (what)`. The counter
 * counts every executed case (fast-check itself only reports runs on failure).
 */
export async function assertProperty<Ts extends [unknown, ...unknown[]]>(
  what: string,
  numRuns: number,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void | boolean | Promise<void | boolean>,
): Promise<number> {
  let n = 0;
  const counted = (...args: Ts) => {
    n++;
    return predicate(...args);
  };
  const prop = fc.asyncProperty(...arbs, counted as never);
  await fc.assert(prop as fc.IAsyncProperty<unknown>, { numRuns, seed: seed() });
  report(`fast-check: ${n} cases (${what})`);
  return n;
}

/**
 * The other half of "the property can fail": the same checker, run against a deliberately
 * broken subject, must find a counterexample (no shrinking, so this stays cheap).
 */
export async function assertCatches<Ts extends [unknown, ...unknown[]]>(
  what: string,
  /** What the property's own failure says (not a crash of the test's machinery). */
  expected: RegExp,
  numRuns: number,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void | boolean | Promise<void | boolean>,
): Promise<void> {
  const prop = fc.asyncProperty(...arbs, predicate as never);
  const r = await fc.check(prop as fc.IAsyncProperty<unknown>, {
    numRuns,
    seed: seed(),
    endOnFailure: true,
  });
  if (!r.failed) {
    throw new Error(`the property did not catch ${what} in ${numRuns} cases: it cannot fail`);
  }
  const why = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
  if (!expected.test(why)) {
    throw new Error(`the property failed for another reason than ${what}: ${why}`);
  }
  report(`fast-check: caught ${what} after ${r.numRuns} case(s) (as it must)`);
}

/** One line, no matter what. */
export const isOneLine = (s: string) => !/[\n\r\u2028\u2029]/.test(s);

// ---- TOML-ish inputs ----

const TOKENS = [
  "[",
  "]",
  "[[",
  "]]",
  "=",
  " = ",
  '"',
  "'",
  '"""',
  "\n",
  "\r\n",
  "\t",
  " ",
  ".",
  ",",
  "{",
  "}",
  "#",
  "\\",
  "\\u",
  "-",
  ":",
  "+",
  "_",
  "0",
  "1",
  "1979-05-27T07:32:00Z",
  "true",
  "false",
  "inf",
  "nan",
  "0x1F",
  "1e9",
  "name",
  "tasks",
  "meta",
  "agent",
  "redis",
  "url",
  "townhall",
  "agent_clis",
  "id",
  "description",
  "status",
  "tags",
  "parent",
  "\u00e9",
  "\u{1F600}",
  "\u0000",
];

/** Free text: printable, any code point, or a soup of TOML tokens. */
export const tomlishText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 120 }),
  fc.string({ unit: "binary", maxLength: 120 }),
  fc.string({ unit: fc.constantFrom(...TOKENS), maxLength: 60 }),
);

/** A key: sometimes a known field, sometimes anything (dots, quotes, newlines…). */
export function keyArb(known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 6 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 4 }) },
  );
}

/** Any TOML value (tables and arrays nest a little). */
export function tomlValue(keys: string[]): fc.Arbitrary<unknown> {
  const { value } = fc.letrec<{ value: unknown; leaf: unknown }>((tie) => ({
    leaf: fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 20 }),
      fc.string({ unit: "binary", maxLength: 10 }),
      fc.integer(),
      fc.integer({ min: -1, max: 70000 }),
      fc.double(),
      fc.boolean(),
      fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }),
    ),
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { weight: 4, arbitrary: tie("leaf") },
      { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 3 }) },
      { weight: 1, arbitrary: fc.dictionary(keyArb(keys), tie("value"), { maxKeys: 3 }) },
    ),
  }));
  return value;
}

/** Text edits that break well-formed TOML in small ways. */
export function mutate(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: text },
    {
      weight: 1,
      arbitrary: fc.tuple(text, fc.nat(), fc.constantFrom(...TOKENS)).map(([t, at, tok]) =>
        t.slice(0, at % (t.length + 1)) + tok + t.slice(at % (t.length + 1))
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(text, fc.nat(), fc.nat({ max: 8 })).map(([t, at, n]) =>
        t.slice(0, at % (t.length + 1)) + t.slice((at % (t.length + 1)) + n)
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(text, fc.nat()).map(([t, at]) => {
        const lines = t.split("\n");
        const i = at % lines.length;
        return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join("\n");
      }),
    },
  );
}

/** TOML text of a structure; structures TOML cannot express become free text instead. */
export function toToml(data: unknown): string {
  try {
    return stringifyToml(data as Record<string, unknown>);
  } catch {
    return String(data);
  }
}
