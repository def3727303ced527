/**
 * Readers for the records tt reads back from Redis hashes and JSON (agents, tasks, messages,
 * events, supervisor and host beats): zod's semantics for the few kinds of field they use,
 * without zod.
 *
 * Why: a one-shot `tt assign` spent ~20 ms loading zod and ~20 ms building these schemas, as much
 * as all the rest of its work. Each field here says how it reads a value (hash fields are
 * strings, so numbers are coerced; junk falls back where the record is still usable without it)
 * and its wire type, from which townhall builds the zod schemas of its API (`wire()` in
 * src/townhall/schemas.ts). Records with their own rules (config, requests, mission files) use zod.
 *
 * Output as zod's z.object gives it: keys in the shape's order, unknown keys dropped, a key whose
 * value is undefined kept only when the input had it.
 */

/** A field's value is unusable (and has no fallback): the record fails. */
export const FAIL: unique symbol = Symbol("invalid");
type Fail = typeof FAIL;

/** The JSON type a field has on the wire (API schemas are built from it). */
export type Wire =
  | { type: "string" | "boolean" }
  | { type: "number" | "integer"; min?: number }
  | { type: "enum"; values: readonly string[] }
  | { type: "array"; of: Wire }
  | { type: "object"; shape: Shape }
  | { type: "optional"; of: Wire };

export interface Field<T> {
  read(v: unknown): T | Fail;
  readonly wire: Wire;
}

type Shape = Record<string, Field<unknown>>;
type Out<F> = F extends Field<infer T> ? T : never;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: undefined extends Out<S[K]> ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & unknown;
/** The type a shape reads to, with `?:` for the keys that may be undefined (as z.infer). */
export type RecordOf<S extends Shape> = Simplify<
  & { [K in Exclude<keyof S, OptionalKeys<S>>]: Out<S[K]> }
  & { [K in OptionalKeys<S>]?: Out<S[K]> }
>;
export type Infer<R> = R extends RecordSchema<infer T> ? T : never;

export type SafeParse<T> = { success: true; data: T } | { success: false; error: Error };

export interface RecordSchema<T> extends Field<T> {
  readonly shape: Shape;
  /** The record, or an Error naming the first field that is unusable. */
  safeParse(v: unknown): SafeParse<T>;
  /** The record; throws when a field is unusable. */
  parse(v: unknown): T;
}

const field = <T>(wire: Wire, read: (v: unknown) => T | Fail): Field<T> => ({ read, wire });

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** z.object(shape). */
export function record<S extends Shape>(shape: S, name = "record"): RecordSchema<RecordOf<S>> {
  const keys = Object.keys(shape);
  const run = (v: unknown): { data: RecordOf<S> } | { bad: string } => {
    if (!isObject(v)) return { bad: "not an object" };
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const r = shape[k].read(v[k]);
      if (r === FAIL) return { bad: k };
      if (r !== undefined || Object.hasOwn(v, k)) out[k] = r;
    }
    return { data: out as RecordOf<S> };
  };
  const safeParse = (v: unknown): SafeParse<RecordOf<S>> => {
    const r = run(v);
    return "data" in r
      ? { success: true, data: r.data }
      : { success: false, error: new Error(`invalid ${name}: ${r.bad}`) };
  };
  return {
    shape,
    wire: { type: "object", shape },
    read: (v) => {
      const r = run(v);
      return "data" in r ? r.data : FAIL;
    },
    safeParse,
    parse: (v) => {
      const r = safeParse(v);
      if (!r.success) throw r.error;
      return r.data;
    },
  };
}

/** z.string() */
export const string = (): Field<string> =>
  field({ type: "string" }, (v) => typeof v === "string" ? v : FAIL);

/** z.string().min(1) */
export const nonEmpty = (): Field<string> =>
  field({ type: "string" }, (v) => typeof v === "string" && v.length > 0 ? v : FAIL);

/** z.string().regex(re) */
export const pattern = (re: RegExp): Field<string> =>
  field({ type: "string" }, (v) => typeof v === "string" && re.test(v) ? v : FAIL);

/** z.boolean() */
export const boolean = (): Field<boolean> =>
  field({ type: "boolean" }, (v) => typeof v === "boolean" ? v : FAIL);

/** z.number(), with .int() when `int` (safe integers, as zod 4). */
export const number = (opts: { int?: boolean } = {}): Field<number> =>
  field(
    { type: opts.int ? "integer" : "number" },
    (v) =>
      typeof v === "number" && (opts.int ? Number.isSafeInteger(v) : Number.isFinite(v)) ? v : FAIL,
  );

/** z.enum(values) */
export const oneOf = <const V extends readonly string[]>(values: V): Field<V[number]> => {
  const set: ReadonlySet<unknown> = new Set(values);
  return field({ type: "enum", values }, (v) => set.has(v) ? v as V[number] : FAIL);
};

/** z.array(of) */
export const arrayOf = <T>(of: Field<T>): Field<T[]> =>
  field({ type: "array", of: of.wire }, (v) => {
    if (!Array.isArray(v)) return FAIL;
    const out: T[] = [];
    for (const x of v) {
      const r = of.read(x);
      if (r === FAIL) return FAIL;
      out.push(r);
    }
    return out;
  });

/** z.coerce.number() with zod's checks: .int() (safe), .nonnegative() / .positive(). */
export const coerced = (opts: { int?: boolean; min?: 0 | 1 } = {}): Field<number> =>
  field({ type: opts.int ? "integer" : "number", min: opts.min }, (v) => {
    const n = Number(v);
    if (opts.int ? !Number.isSafeInteger(n) : !Number.isFinite(n)) return FAIL;
    return opts.min === undefined || n >= opts.min ? n : FAIL;
  });

/** .optional(): undefined stays undefined. */
export const optional = <T>(of: Field<T>): Field<T | undefined> =>
  field({ type: "optional", of: of.wire }, (v) => v === undefined ? undefined : of.read(v));

/** .default(value): undefined reads as `value`. */
export const withDefault = <T>(of: Field<T>, value: T): Field<T> =>
  field(of.wire, (v) => v === undefined ? value : of.read(v));

/** .catch(value): whatever `of` cannot read reads as `value`. */
export const orElse = <T, D extends T | undefined>(of: Field<T>, value: D): Field<T | D> =>
  field(of.wire, (v) => {
    const r = of.read(v);
    return r === FAIL ? value : r;
  });

/** z.preprocess(fn, of) */
export const before = <T>(fn: (v: unknown) => unknown, of: Field<T>): Field<T> =>
  field(of.wire, (v) => of.read(fn(v)));
