/** Unit tests of the token buckets, with a fake clock (no timing assumptions). */
import assert from "node:assert/strict";
import { TokenBuckets } from "../../src/townhall/ratelimit.ts";

Deno.test("a bucket allows `burst` requests at once, then refuses with Retry-After", () => {
  let now = 0;
  const rl = new TokenBuckets({ perMinute: 60, burst: 3, now: () => now });
  for (let i = 0; i < 3; i++) assert.ok(rl.take("a").ok);
  const r = rl.take("a");
  assert.deepEqual(r, { ok: false, retryAfterSecs: 1 });
  assert.ok(rl.take("b").ok, "buckets are per client");
  now += 999;
  assert.equal(rl.take("a").ok, false);
  now += 2;
  assert.ok(rl.take("a").ok, "one token refills per second at 60/min");
  assert.equal(rl.take("a").ok, false);
});

Deno.test("refill is capped at burst; retry-after reflects the rate", () => {
  let now = 0;
  const rl = new TokenBuckets({ perMinute: 6, burst: 2, now: () => now });
  assert.ok(rl.take("a").ok);
  assert.ok(rl.take("a").ok);
  const r = rl.take("a");
  assert.ok(!r.ok && r.retryAfterSecs === 10);
  now += 3_600_000;
  assert.ok(rl.take("a").ok);
  assert.ok(rl.take("a").ok);
  assert.equal(rl.take("a").ok, false, "an idle hour still gives only `burst` tokens");
});

Deno.test("perMinute 0 disables the limit", () => {
  const rl = new TokenBuckets({ perMinute: 0, burst: 1 });
  for (let i = 0; i < 1000; i++) assert.ok(rl.take("a").ok);
});

Deno.test("the number of tracked clients is bounded; evicted idle clients start full", () => {
  let now = 0;
  const rl = new TokenBuckets({ perMinute: 60, burst: 1, now: () => now, maxClients: 10 });
  for (let i = 0; i < 100; i++) rl.take(`c${i}`);
  assert.ok(!rl.take("c99").ok, "a recent client keeps its empty bucket");
  now += 60_000;
  for (let i = 100; i < 200; i++) assert.ok(rl.take(`c${i}`).ok);
});
