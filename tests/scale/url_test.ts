/** Cluster and Sentinel URLs: parsing, refusals in one line, masked passwords, failing fast. */
import assert from "node:assert/strict";
import { parseTopologyUrl, redactUrl } from "../../src/redis/url.ts";
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
