/** Unit tests: API key storage and verification (real Redis), credentials, auth mode decisions. */
import assert from "node:assert/strict";
import {
  countKeys,
  ensureFirstKey,
  generateKey,
  hashKey,
  hasScope,
  listKeys,
  matchKey,
  parseScope,
  revokeKey,
  verifyKey,
} from "../../src/core/auth.ts";
import { NotFoundError, TtError, UsageError } from "../../src/core/errors.ts";
import { authenticate, credential, OPEN } from "../../src/townhall/auth.ts";
import { decideAuth, isLoopback } from "../../src/townhall/server.ts";
import { snapshotTown, withTestTown } from "../helpers.ts";

Deno.test("a key is tt_ + 43 base64url chars, shown once and stored only as its SHA-256", async () => {
  await withTestTown(async (t) => {
    const { key, record } = await generateKey(t, { name: "ci", scopes: ["town.read"] });
    assert.match(key, /^tt_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.hash, hashKey(key));
    assert.match(record.id, /^[0-9a-f]{12}$/);
    const dump = JSON.stringify(await snapshotTown(t));
    assert.ok(!dump.includes(key) && !dump.includes(key.slice(3)), "key text must not be stored");
    assert.ok(dump.includes(record.hash));
    const second = await generateKey(t);
    assert.notEqual(second.key, key);
    assert.deepEqual(second.record.scopes, ["admin"]);
    assert.deepEqual((await listKeys(t)).map((k) => k.id), [record.id, second.record.id]);
    assert.equal(await countKeys(t), 2);
  });
});

Deno.test("verifyKey accepts exactly the stored keys; revoke takes effect at once", async () => {
  await withTestTown(async (t) => {
    const a = await generateKey(t, { scopes: ["town.write"] });
    const b = await generateKey(t, { scopes: ["admin"] });
    assert.equal((await verifyKey(t, a.key))?.id, a.record.id);
    assert.equal((await verifyKey(t, b.key))?.id, b.record.id);
    const flipped = a.key.slice(0, -1) + (a.key.endsWith("A") ? "B" : "A");
    for (
      const bad of [flipped, "", "tt_", a.key + "x", a.key.slice(3), a.record.hash, " " + a.key]
    ) {
      assert.equal(await verifyKey(t, bad), undefined, bad);
    }
    assert.equal(matchKey([], a.key), undefined);
    await revokeKey(t, a.record.id);
    assert.equal(await verifyKey(t, a.key), undefined);
    assert.equal((await verifyKey(t, b.key))?.id, b.record.id);
    await assert.rejects(revokeKey(t, a.record.id), NotFoundError);
    await assert.rejects(revokeKey(t, "nope"), UsageError);
  });
});

Deno.test("scopes: admin implies all; town:read accepted; unknown scope names the value", () => {
  assert.ok(hasScope(["admin"], "agent.manage"));
  assert.ok(hasScope(["town.write"], "town.write"));
  assert.ok(!hasScope(["town.write"], "town.read"));
  assert.equal(parseScope("Town:Read"), "town.read");
  assert.throws(() => parseScope("root"), /unknown scope 'root'/);
});

Deno.test("credentials: Bearer (any case) or X-API-Key; other Authorization schemes are refused", () => {
  assert.deepEqual(credential("Bearer tt_x", undefined), { key: "tt_x" });
  assert.deepEqual(credential("bearer   tt_x ", undefined), { key: "tt_x" });
  assert.deepEqual(credential(undefined, " tt_y "), { key: "tt_y" });
  assert.equal(credential("Basic dXNlcjpwYXNz", undefined).error?.status, 401);
  assert.equal(credential("Bearer a b", undefined).error?.status, 401);
  assert.deepEqual(credential(undefined, undefined), {});
});

Deno.test("auth modes: auto and api_key always need a key (none at all: 401); none never", async () => {
  await withTestTown(async (t) => {
    for (const mode of ["auto", "api_key"] as const) {
      const r0 = await authenticate(t, mode, undefined, undefined);
      assert.ok("error" in r0 && r0.error.status === 401, mode);
      const forged = await authenticate(t, mode, `Bearer tt_${"A".repeat(43)}`, undefined);
      assert.ok("error" in forged && /no API key any more/.test(forged.error.message), mode);
    }
    const { key, record } = await generateKey(t, { scopes: ["town.read"] });
    const r1 = await authenticate(t, "auto", undefined, undefined);
    assert.ok("error" in r1 && /authentication required/.test(r1.error.message));
    const r2 = await authenticate(t, "auto", `Bearer ${key}`, undefined);
    assert.ok("principal" in r2 && r2.principal.id === record.id);
    assert.deepEqual(r2.principal.scopes, ["town.read"]);
    const r3 = await authenticate(t, "auto", undefined, "tt_wrong");
    assert.ok("error" in r3 && r3.error.message === "invalid API key");
    assert.deepEqual(await authenticate(t, "none", undefined, undefined), { principal: OPEN });
  });
});

Deno.test("first key: created only when the town has none, atomically (one of many racers wins)", async () => {
  await withTestTown(async (t) => {
    const made = await Promise.all(Array.from({ length: 8 }, () => ensureFirstKey(t)));
    const won = made.filter((m) => m !== undefined);
    assert.equal(won.length, 1);
    assert.deepEqual(won[0]!.record.scopes, ["admin"]);
    assert.equal(await countKeys(t), 1);
    assert.equal((await verifyKey(t, won[0]!.key))?.id, won[0]!.record.id);
    assert.equal(await ensureFirstKey(t), undefined);
  });
});

Deno.test("bind safety: auth none is refused off loopback (no override); everything else needs keys", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.ok(isLoopback(h), h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) assert.ok(!isLoopback(h), h);
  assert.deepEqual(decideAuth("auto", "127.0.0.1", 1), { mode: "api_key" });
  assert.equal(decideAuth("auto", "0.0.0.0", 1).mode, "api_key");
  assert.throws(() => decideAuth("none", "0.0.0.0", 5), /refusing to serve 0\.0\.0\.0/);
  assert.throws(() => decideAuth("none", "10.0.0.1", 0), TtError);
  assert.equal(decideAuth("none", "127.0.0.1", 0).mode, "none");
  assert.match(decideAuth("none", "127.0.0.1", 0).warning ?? "", /NO API KEY IS CHECKED/);
  assert.equal(decideAuth("api_key", "0.0.0.0", 0).mode, "api_key");
  assert.match(decideAuth("api_key", "127.0.0.1", 0).warning ?? "", /no API key/);
});
