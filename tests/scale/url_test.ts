/**
 * Cluster and Sentinel URLs: parsing, refusals in one line, masked passwords, failing fast; the
 * sentinels' own credentials and TLS files (parameters, redaction, secrets rules, permissions).
 */
import assert from "node:assert/strict";
import { parseTopologyUrl, redactUrl } from "../../src/redis/url.ts";
import { urlPassword, withoutPassword, withPasswordFrom } from "../../src/core/secrets.ts";
import { redisFiles } from "../../src/supervisor/permissions.ts";
import { connectRedis } from "../../src/redis/connection.ts";
import { keySlot } from "../../src/redis/topology.ts";
import { Sandbox } from "../helpers.ts";
import { freePorts } from "../../bench/lib/topology.ts";

Deno.test("redis+cluster:// and redis+sentinel:// URLs parse into nodes, credentials and db", () => {
  assert.deepEqual(parseTopologyUrl("redis+cluster://u:p%40ss@h1:7000,h2:7001,[::1]:7002"), {
    kind: "cluster",
    tls: false,
    username: "u",
    password: "p@ss",
    tlsFiles: {},
    nodes: [{ host: "h1", port: 7000 }, { host: "h2", port: 7001 }, { host: "::1", port: 7002 }],
  });
  assert.deepEqual(parseTopologyUrl("rediss+sentinel://:pw@s1,s2:5000/mymaster?db=3"), {
    kind: "sentinel",
    tls: true,
    username: undefined,
    password: "pw",
    sentinels: [{ host: "s1", port: 26379 }, { host: "s2", port: 5000 }],
    masterName: "mymaster",
    db: 3,
    tlsFiles: {},
    sentinelUsername: undefined,
    sentinelPassword: undefined,
  });
  assert.equal(
    redactUrl("redis+sentinel://u:secret@h1:1,h2:2/m"),
    "redis+sentinel://u:****@h1:1,h2:2/m",
  );
});

Deno.test("bad cluster/sentinel URLs are refused in one line that never shows the password", () => {
  for (
    const [url, re] of [
      ["redis+sentinel://u:secret@h1:1", /names no Sentinel master/],
      ["redis+cluster://u:secret@h1:1/0", /no databases/],
      ["redis+cluster://u:secret@h1:99999", /invalid host/],
      ["redis+cluster://u:secret@h1:1?db=2", /unknown parameter 'db'/],
      ["redis+sentinel://u:secret@h1:1/m?db=-1", /invalid database number/],
      ["redis+cluster://u:secret@", /invalid Redis URL/],
    ] as const
  ) {
    assert.throws(() => parseTopologyUrl(url), (e: Error) => {
      assert.match(e.message, re, url);
      assert.doesNotMatch(e.message, /secret/);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
  }
});

Deno.test("key slots match Redis's CRC16 (hash tags included)", () => {
  // Values from CLUSTER KEYSLOT on Redis 7.
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("tt:{x}:a"), keySlot("x"));
  assert.equal(keySlot("tt:{x}:a"), 16287);
  assert.equal(keySlot("a{}b"), keySlot("a{}b")); // an empty tag hashes the whole key
  assert.notEqual(keySlot("{}x"), keySlot(""));
});

Deno.test("nothing listening: connecting to a cluster or sentinels fails fast, password masked", async () => {
  const [a, b] = freePorts(2);
  for (
    const url of [
      `redis+cluster://u:secret@127.0.0.1:${a},127.0.0.1:${b}`,
      `redis+sentinel://u:secret@127.0.0.1:${a}/mymaster`,
    ]
  ) {
    const start = Date.now();
    await assert.rejects(() => connectRedis(url, { connectTimeoutMs: 500 }), (e: Error) => {
      assert.match(e.message, /^Failed to connect to configured Redis at redis\+/);
      assert.match(e.message, /u:\*\*\*\*@/);
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
    assert.ok(Date.now() - start < 10_000, `${url} took ${Date.now() - start} ms`);
  }
  // The same through the real tt: one line on stderr, exit 1.
  const sb = new Sandbox(`redis+cluster://u:secret@127.0.0.1:${a}`);
  try {
    const r = await sb.tt(["init", "--name", "c1"]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /redis\+cluster:\/\/u:\*\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(r.stderr, /secret/);
  } finally {
    sb.cleanup();
  }
});

Deno.test("sentinel_user/sentinel_password and tls_cert/tls_key/tls_ca parse; + stays a plus", () => {
  const t = parseTopologyUrl(
    "rediss+sentinel://tt:pw@s1:1,s2:2/m?db=1&sentinel_user=sen&sentinel_password=a%26b+c" +
      "&tls_cert=/k/c.crt&tls_key=/k/c.key&tls_ca=/k/ca.crt",
  );
  assert.equal(t.kind, "sentinel");
  if (t.kind !== "sentinel") return;
  assert.equal(t.sentinelUsername, "sen");
  assert.equal(t.sentinelPassword, "a&b+c");
  assert.equal(t.password, "pw");
  assert.deepEqual(t.tlsFiles, { cert: "/k/c.crt", key: "/k/c.key", ca: "/k/ca.crt" });
  assert.deepEqual(parseTopologyUrl("rediss+cluster://h:1?tls_ca=/ca.pem").tlsFiles, {
    ca: "/ca.pem",
  });
  for (
    const [url, re] of [
      [
        "redis+cluster://h:1?sentinel_password=s3cret",
        /sentinel_user and sentinel_password are for/,
      ],
      ["redis+sentinel://h:1/m?sentinel_user=x", /sentinel_user without sentinel_password/],
      ["redis+sentinel://h:1/m?tls_cert=/c&tls_key=/k", /tls_cert .*needs TLS: use rediss/],
      ["rediss+cluster://h:1?tls_cert=/c", /tls_cert without tls_key/],
      ["rediss+cluster://h:1?tls_key=k&tls_cert=/c", /tls_key .*must be an absolute path/],
      ["rediss+sentinel://h:1/m?sentinel_password=s3cret&sentinel_password=x", /appears twice/],
    ] as const
  ) {
    assert.throws(() => parseTopologyUrl(url), (e: Error) => {
      assert.match(e.message, re, url);
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    });
  }
});

Deno.test("the sentinel password is masked, kept out of tinytown.toml, and found in config.toml", () => {
  const url = "redis+sentinel://tt:pw@s1:1,s2:2/m?sentinel_password=s3cret&db=2";
  assert.equal(redactUrl(url), "redis+sentinel://tt:****@s1:1,s2:2/m?sentinel_password=****&db=2");
  assert.equal(
    redactUrl("redis+sentinel://s1:1/m?db=2&sentinel_password=s3cret"),
    "redis+sentinel://s1:1/m?db=2&sentinel_password=****",
  );
  assert.equal(
    redactUrl("rediss://h:1?sentinel_password=s3cret"),
    "rediss://h:1?sentinel_password=****",
  );
  // Either secret makes a URL one that must not be committed; both are dropped for the file.
  assert.equal(urlPassword("redis+sentinel://s1:1/m?sentinel_password=s3cret"), "s3cret");
  assert.equal(urlPassword(url), "pw");
  assert.equal(withoutPassword(url), "redis+sentinel://tt@s1:1,s2:2/m?db=2");
  assert.equal(
    withoutPassword("redis+sentinel://s1:1/m?db=2&sentinel_password=x&tls_ca=/c"),
    "redis+sentinel://s1:1/m?db=2&tls_ca=/c",
  );
  assert.equal(urlPassword(withoutPassword(url)), undefined);
  // ~/.tt/config.toml's URL fills in both secrets for the same sentinels, master and user.
  const bare = "redis+sentinel://tt@s1:1,s2:2/m?db=0";
  assert.equal(
    withPasswordFrom(bare, [url]),
    "redis+sentinel://tt:pw@s1:1,s2:2/m?db=0&sentinel_password=s3cret",
  );
  assert.equal(withPasswordFrom(bare, ["redis+sentinel://tt:pw@s1:1,s9:2/m"]), bare);
  assert.equal(withPasswordFrom(bare, ["redis+sentinel://bob:pw@s1:1,s2:2/m"]), bare);
  assert.equal(withPasswordFrom(bare, ["redis+sentinel://tt:pw@s1:1,s2:2/other"]), bare);
  assert.equal(withPasswordFrom(bare, ["rediss+sentinel://tt:pw@s1:1,s2:2/m"]), bare);
  assert.equal(
    withPasswordFrom("redis+cluster://tt@h:1", ["redis+cluster://tt:p%40@H:1"]),
    "redis+cluster://tt:p%40@h:1",
  );
});

Deno.test("the supervisor may read exactly the URL's TLS files", () => {
  const q = "tls_cert=/etc/tt/c.crt&tls_key=/etc/tt/c.key&tls_ca=/etc/tt/ca.crt";
  const files = ["/etc/tt/c.crt", "/etc/tt/c.key", "/etc/tt/ca.crt"];
  assert.deepEqual(redisFiles(`rediss://u:pw@h:6380/0?${q}`), files);
  assert.deepEqual(redisFiles(`rediss+cluster://u:pw@h:1?${q}`), files);
  assert.deepEqual(redisFiles(`rediss+sentinel://h:1/m?sentinel_password=x&${q}`), files);
  assert.deepEqual(redisFiles("rediss://h:6380"), []);
  assert.throws(() => redisFiles(`redis://:s3cret@h?${q}`), (e: Error) => {
    assert.match(e.message, /needs TLS/);
    assert.doesNotMatch(e.message, /s3cret/);
    return true;
  });
});
