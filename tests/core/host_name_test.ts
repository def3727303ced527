/**
 * Host names (src/core/keys.ts, host_name.ts): the ASCII fast path tested before the Unicode
 * rule accepts exactly what the Unicode rule accepts, and the machine's hostname comes out as the
 * rewrite gives it, on random names of ASCII, accented and other letters, digits and junk.
 */
import assert from "node:assert/strict";
import { ASCII_HOST_NAME, isValidHostName } from "../../src/core/keys.ts";
import { machineHost } from "../../src/core/host_name.ts";
import { Rng } from "../chaos/rng.ts";

const UNICODE_RULE = /^[\p{L}\p{N}][\p{L}\p{N}._-]{0,63}$/u;
const PARTS = ["a", "Z", "7", ".", "_", "-", " ", "é", "日", "٣", "/", ":", "\u0000", "🚀", "ß"];

const ASCII_PARTS = PARTS.slice(0, 6);

function randomName(rng: Rng, parts = PARTS): string {
  return Array.from({ length: rng.int(0, 70) }, () => rng.pick(parts)).join("");
}

Deno.test("host names: the ASCII fast path never accepts what the Unicode rule refuses", () => {
  const rng = new Rng(7);
  let ascii = 0;
  for (let i = 0; i < 5000; i++) {
    const name = randomName(rng, rng.chance(0.5) ? ASCII_PARTS : PARTS);
    assert.equal(isValidHostName(name), UNICODE_RULE.test(name), JSON.stringify(name));
    if (ASCII_HOST_NAME.test(name)) ascii++;
  }
  assert.ok(ascii > 500, `the fast path was taken ${ascii} times`);
});

Deno.test("host names: the machine's hostname is rewritten the same with or without the fast path", () => {
  const rewrite = (given: string) => {
    const name = given.replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^[._-]+/, "").slice(0, 64);
    return UNICODE_RULE.test(name) ? name : "localhost";
  };
  const real = Deno.hostname;
  const rng = new Rng(11);
  try {
    for (let i = 0; i < 2000; i++) {
      const given = randomName(rng);
      Deno.hostname = () => given;
      assert.equal(machineHost(), rewrite(given), JSON.stringify(given));
    }
  } finally {
    Deno.hostname = real;
  }
});
