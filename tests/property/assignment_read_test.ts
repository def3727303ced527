/**
 * drop_stale (src/core/rounds.ts) reads a message's id, type and task_id by plain search when
 * the message is in the form tt writes, and with cjson.decode otherwise. Whatever the text (tt's
 * own messages with any body, and hand-made JSON: keys twice, nested objects, escapes, other key
 * orders, junk), the plain reading must either stand aside or agree with the decoder.
 */
import assert from "node:assert/strict";
import { buildMessage } from "../../src/core/messages.ts";
import { DROP_STALE_LUA } from "../../src/core/rounds.ts";
import { defineScript, LUA_EMIT, runScript } from "../../src/redis/script.ts";
import { withTestTown } from "../helpers.ts";
import { assertCatches, assertProperty, fc } from "./prop.ts";

/** Both readings of each raw message: [plain ('none' when it stands aside), decoder]. */
const READ = (plain: string, extra = "") =>
  defineScript(
    "testReadAssignments",
    1,
    LUA_EMIT + DROP_STALE_LUA + extra + `
local function show(m)
  if m == nil then return 'none' end
  if m == false then return 'other' end
  return m.id .. ' ' .. m.task_id
end
local out = {}
for i, raw in ipairs(ARGV) do
  local ok, d = pcall(cjson.decode, raw)
  local decoded = 'other'
  if ok and type(d) == 'table' and d.type == 'task_assign' and type(d.task_id) == 'string'
      and type(d.id) == 'string' then
    decoded = d.id .. ' ' .. d.task_id
  end
  out[i] = {show(${plain}(raw)), decoded}
end
return out
`,
  );

const text = fc.oneof(
  fc.string(),
  fc.constantFrom('"', "\\", "{", "}", '","type":"task_assign","', ',"task_id":"x"', ',"id":"y"'),
  fc.string({ unit: fc.constantFrom('"', "\\", "{", ",", ":", "a", "é", "\n") }),
);
const id = fc.oneof(fc.uuid(), text);
/** tt's own messages: any body and task id, every type. */
const own = fc.record({
  type: fc.constantFrom("task_assign", "informational", "query", "task_done"),
  body: text,
  task_id: fc.option(id, { nil: undefined }),
}).map((m) => JSON.stringify(buildMessage({ from: "supervisor", to: "a", ...m })));
/** Hand-made entries: tt's keys in other orders, twice, nested, or junk. */
const made = fc.oneof(
  fc.array(
    fc.tuple(
      fc.constantFrom("id", "type", "task_id", "body", "from"),
      fc.oneof(id, fc.constant("task_assign"), fc.constant({ id: "n", type: "task_assign" })),
    ),
    { maxLength: 6 },
  ).map((pairs) =>
    "{" + pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",") + "}"
  ),
  own.map((raw) => raw.replace(',"type":"', ',"type":"task_assign","x":"')),
  own.map((raw) => raw + ' {"id":"z"}'),
  text,
);

Deno.test("a message's assignment read by plain search agrees with cjson.decode or stands aside", async () => {
  await withTestTown(async (t) => {
    const check = async (plain: string, raws: string[], extra = "") => {
      const got = await runScript(t.redis, READ(plain, extra), [t.keys.events], raws) as string[][];
      got.forEach(([p, d], i) => {
        if (p !== "none") assert.equal(p, d, `plain ${p} vs decoded ${d} for ${raws[i]}`);
      });
      return got;
    };
    await assertProperty(
      "plain vs decoded assignments",
      400,
      [fc.array(fc.oneof(own, made), { minLength: 1, maxLength: 20 })],
      async (raws) => {
        await check("plain_assignment", raws);
      },
    );
    // tt's own messages are read without the decoder (the point of the fast path), quotes and
    // escapes in the body too; a brace in the body or an escape in the task id leaves it to the
    // decoder.
    const task = crypto.randomUUID();
    let body = 'Build the "REST" API,\n,"type":"info" \\ é';
    const msg = (task_id: string) =>
      JSON.stringify(buildMessage({
        from: "supervisor",
        to: "a",
        type: "task_assign",
        task_id,
        body,
      }));
    const [[plain, decoded], [odd]] = await check("plain_assignment", [msg(task), msg('x"y')]);
    assert.equal(plain, decoded);
    assert.ok(plain.endsWith(` ${task}`));
    assert.equal(odd, "none");
    body = "fix {the} parser";
    assert.deepEqual((await check("plain_assignment", [msg(task)]))[0][0], "none");
    // The property can fail: a reading that ignores keys found twice.
    await assertCatches(
      "a plain reading that takes the first of two type keys",
      /plain .* vs decoded/,
      400,
      [fc.array(fc.oneof(own, made), { minLength: 1, maxLength: 20 })],
      async (raws) => {
        await check("sloppy", raws, SLOPPY);
      },
    );
  });
});

/** plain_assignment without its duplicate-key checks, for assertCatches. */
const SLOPPY = `
local function sloppy(raw)
  if string.sub(raw, 1, 7) ~= '{"id":"' then return nil end
  local id = string.match(raw, '^{"id":"([^"\\\\]*)"')
  local kind = string.match(raw, ',"type":"([^"]*)"')
  if not id or not kind then return nil end
  if kind ~= 'task_assign' then return false end
  local task = string.match(raw, ',"task_id":"([^"\\\\]*)"')
  if not task then return nil end
  return {id=id, task_id=task}
end
`;
