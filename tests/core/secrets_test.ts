/** Unit tests of the Redis password rules (src/core/secrets.ts) and town-name rules (keys.ts). */
import assert from "node:assert/strict";
import { urlPassword, withoutPassword, withPasswordFrom } from "../../src/core/secrets.ts";
import { isValidTownName, sanitizeTownName } from "../../src/core/keys.ts";
import { chooseTownName } from "../../src/core/identity.ts";

Deno.test("withoutPassword drops only the password; urlPassword finds it (also percent-encoded)", () => {
  assert.equal(withoutPassword("redis://bob:p%40ss@h:6380/2"), "redis://bob@h:6380/2");
  assert.equal(withoutPassword("rediss://:pw@h"), "rediss://h");
  assert.equal(withoutPassword("unix://:pw@localhost/tmp/r.sock"), "unix://localhost/tmp/r.sock");
  assert.equal(withoutPassword("redis://h:6379"), "redis://h:6379");
  assert.equal(urlPassword("redis://bob:p%40ss@h"), "p@ss");
  assert.equal(urlPassword("redis://bob@h"), undefined);
  assert.equal(urlPassword(withoutPassword("redis://:x@h")), undefined);
});

Deno.test("withPasswordFrom takes a password only from the same scheme, host, port or socket, and user", () => {
  const from = (url: string, c: string) => withPasswordFrom(url, [c]);
  assert.equal(from("redis://h:6379/1", "redis://:pw@H:6379/0"), "redis://:pw@h:6379/1");
  assert.equal(from("redis://h", "redis://:pw@h:6379"), "redis://:pw@h");
  assert.equal(from("redis://bob@h", "redis://bob:pw@h"), "redis://bob:pw@h");
  assert.equal(from("redis://h", "redis://bob:pw@h"), "redis://h"); // another user
  assert.equal(from("redis://h:6380", "redis://:pw@h:6379"), "redis://h:6380"); // another port
  assert.equal(from("redis://h", "rediss://:pw@h"), "redis://h"); // TLS vs plain
  assert.equal(from("redis://evil", "redis://:pw@h"), "redis://evil"); // another host
  assert.equal(from("unix:///a.sock", "unix://:pw@localhost/b.sock"), "unix:///a.sock");
  assert.equal(from("redis://:mine@h", "redis://:pw@h"), "redis://:mine@h"); // has its own
  assert.equal(withPasswordFrom("redis://h", [undefined, "not a url"]), "redis://h");
});

Deno.test("explicit town names are verbatim or refused; derived ones are sanitised", () => {
  for (const ok of ["a", "my-town", "A.b_c-9", "x".repeat(64)]) {
    assert.equal(chooseTownName(ok, "dir"), ok);
  }
  for (const bad of ["*", "ü", "", " a", "a b", "-a", "a-", "x".repeat(65), "a{b}", "a:b"]) {
    assert.ok(!isValidTownName(bad));
    assert.throws(() => chooseTownName(bad, "dir"), (e: Error & { exitCode?: number }) => {
      assert.equal(e.exitCode, 2);
      return /invalid town name .*--name \S+\)$/.test(e.message);
    });
  }
  assert.equal(sanitizeTownName("café au lait"), "cafe-au-lait");
  assert.equal(sanitizeTownName("*"), undefined);
  assert.equal(chooseTownName(undefined, "*"), "tinytown");
  assert.equal(chooseTownName(undefined, "My Project!"), "My-Project");
});
