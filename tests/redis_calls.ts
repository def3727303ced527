/** Counting what a piece of code asks of Redis: for tests that a cost does not grow with the data. */
import type { Redis } from "../src/redis/connection.ts";

/**
 * `t` with a Redis connection that counts the calls made on it: every command or pipeline
 * started (a pipeline's queued commands are not counted again), or only calls of method `only`.
 */
export function countingTown<T extends { redis: Redis }>(t: T, only?: string) {
  const counter = { town: t, calls: 0 };
  const redis = new Proxy(t.redis, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (only === undefined || prop === only) counter.calls++;
        return v.apply(target, args);
      };
    },
  });
  counter.town = { ...t, redis };
  return counter;
}

/** How many calls `fn` made on Redis (see countingTown). */
export async function countCalls<T extends { redis: Redis }>(
  t: T,
  fn: (counted: T) => Promise<unknown>,
): Promise<number> {
  const c = countingTown(t);
  await fn(c.town);
  return c.calls;
}
