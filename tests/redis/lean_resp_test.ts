/**
 * The lean client's reply parser (src/redis/lean_resp.ts) on replies split at every place a
 * socket read can split them: random nested replies (bulk strings with CRLF, multi-byte UTF-8,
 * empty and nil values, errors, integers), several replies in one chunk, chunks of one byte.
 * The parser decodes a reply once it has all arrived and only scans its framing before that;
 * these check that scan against the values a whole-buffer parse gives.
 */
import assert from "node:assert/strict";
import { ReplyError, ReplyParser } from "../../src/redis/lean_resp.ts";
import { Rng } from "../chaos/rng.ts";

const enc = new TextEncoder();

type Reply = string | number | null | ReplyError | Reply[];

/** RESP2 bytes of a reply (bulk strings for text, as Redis sends script replies). */
function encode(r: Reply): string {
  if (r === null) return "$-1\r\n";
  if (typeof r === "number") return `:${r}\r\n`;
  if (r instanceof ReplyError) return `-${r.message}\r\n`;
  if (Array.isArray(r)) return `*${r.length}\r\n${r.map(encode).join("")}`;
  return `$${enc.encode(r).length}\r\n${r}\r\n`;
}

const TEXTS = ["", "ok", "a\r\nb", "\r\n", "日本語 🚀", "$5\r\n", "*2\r\n:1\r\n", "x".repeat(300)];

function randomReply(rng: Rng, depth = 0): Reply {
  const k = rng.int(0, depth > 2 ? 3 : 5);
  if (k === 0) return null;
  if (k === 1) return rng.int(-1000, 1_000_000);
  if (k === 2) return new ReplyError(`ERR ${rng.pick(["bad", "WRONGTYPE no", "x y z"])}`);
  if (k === 3) return rng.pick(TEXTS) + rng.int(0, 99);
  if (k === 4) return [];
  return Array.from({ length: rng.int(1, 6) }, () => randomReply(rng, depth + 1));
}

/** Feeds `bytes` in chunks of the sizes `sizes` picks, collecting every complete reply. */
function parseChunked(bytes: Uint8Array, size: () => number): unknown[] {
  const p = new ReplyParser();
  const out: unknown[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.max(1, size());
    p.push(bytes.slice(i, i + n));
    i += n;
    for (let v = p.next(); v !== ReplyParser.INCOMPLETE; v = p.next()) out.push(v);
  }
  return out;
}

Deno.test("replies split anywhere parse as the whole buffer does", () => {
  const rng = new Rng(20261201);
  for (let round = 0; round < 300; round++) {
    const replies = Array.from({ length: rng.int(1, 4) }, () => randomReply(rng));
    const bytes = enc.encode(replies.map(encode).join(""));
    const whole = parseChunked(bytes, () => bytes.length);
    assert.deepEqual(whole, replies, `round ${round}: whole buffer`);
    assert.deepEqual(parseChunked(bytes, () => 1), replies, `round ${round}: one byte at a time`);
    assert.deepEqual(
      parseChunked(bytes, () => rng.int(1, 40)),
      replies,
      `round ${round}: random chunks`,
    );
  }
});

Deno.test("a large script reply arriving in socket-sized reads is one value, given once", () => {
  // The shape of readLists over 1,000 queued messages: {LLEN, {entries}} per list.
  const lists: Reply[] = Array.from({ length: 30 }, (_, i) => [
    100,
    Array.from({ length: 100 }, (_, j) => JSON.stringify({ id: `${i}-${j}`, body: "é".repeat(j) })),
  ]);
  const bytes = enc.encode(encode(lists) + encode("PONG"));
  const p = new ReplyParser();
  const got: unknown[] = [];
  for (let i = 0; i < bytes.length; i += 16 * 1024) {
    p.push(bytes.slice(i, i + 16 * 1024));
    for (let v = p.next(); v !== ReplyParser.INCOMPLETE; v = p.next()) got.push(v);
    if (i + 16 * 1024 < bytes.length - 20) assert.equal(got.length, 0, "nothing before the end");
  }
  assert.deepEqual(got, [lists, "PONG"]);
});

Deno.test("a reply of an unknown type is a protocol error, not a hang", () => {
  const p = new ReplyParser();
  p.push(enc.encode("?what\r\n"));
  assert.throws(() => p.next(), /Protocol error/);
});
