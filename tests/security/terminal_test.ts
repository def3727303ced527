/**
 * Terminal safety (issue 9, item 9): text from tasks, messages, results, agent nicknames and
 * roles, events and round logs is data. Whatever escape sequences it holds (OSC 52 writing the
 * clipboard, CSI 2J clearing the screen, NUL, C1 CSI, a right-to-left override), `tt`'s human
 * output shows them escaped and never raw; `--json` round-trips the exact text. Black-box: the
 * real `tt` and supervisor in a temp town, with an agent CLI that prints the payload into its
 * round log and reports it as its result. Plus unit tests of the escaper itself.
 */
import assert from "node:assert/strict";
import { AgentTown, BackgroundTt, waitUntil } from "../agent_helpers.ts";
import { type Sandbox, ttCommand } from "../helpers.ts";
import { resolveAgent } from "../../src/core/agents.ts";
import { addToBacklog } from "../../src/core/backlog.ts";
import { sendMessage } from "../../src/core/messages.ts";
import { SUPERVISOR_ID } from "../../src/core/keys.ts";
import type { Message, Task } from "../../src/core/schemas.ts";
import {
  escapeText,
  inline,
  jsonText,
  palette,
  render,
  TerminalEscaper,
} from "../../src/cli/output.ts";

const OSC52 = "\x1b]52;c;aGFja2Vk\x07"; // sets the clipboard to "hacked"
const CLEAR = "\x1b[2J";
const RLO = "\u202e"; // right-to-left override
const CSI8 = "\u009b"; // the one-character C1 CSI
/** What a command line can carry (argv cannot hold NUL). */
const ARGV = `A${OSC52}B${CLEAR}C${RLO}E${CSI8}F`;
/** What REST, MCP, tasks.toml or an agent's output can carry: NUL too. */
const FULL = `A${OSC52}B${CLEAR}C\0D${RLO}E${CSI8}F`;
const ARGV_SHOWN = "A\\x1b]52;c;aGFja2Vk\\x07B\\x1b[2JC\\u202eE\\u009bF";
const FULL_SHOWN = "A\\x1b]52;c;aGFja2Vk\\x07B\\x1b[2JC\\0D\\u202eE\\u009bF";
/** The payload's characters that act on a terminal or hide text: none may appear raw. */
const RAW = ["\x1b", "\x07", "\0", RLO, CSI8];
/** The first raw one in `s`, if any. */
const rawIn = (s: string, chars = RAW) => chars.find((c) => s.includes(c));

/** printf format of FULL for the agent CLI (octal escapes; U+202E and U+009B as UTF-8). */
const PRINTF_FULL = "A\\033]52;c;aGFja2Vk\\007B\\033[2JC\\000D\\342\\200\\256E\\302\\233F";
const PRINTF_ARGV = "A\\033]52;c;aGFja2Vk\\007B\\033[2JC\\342\\200\\256E\\302\\233F";

/** An agent CLI that prints the payload (NUL included) and completes its tasks with it. */
const HOSTILE_AGENT = `prompt=$(cat)
ids=$(printf '%s\\n' "$prompt" | sed -n 's/^ *- Task ID: \\([0-9a-f-]*\\)$/\\1/p')
printf 'log ${PRINTF_FULL}\\n'
for id in $ids; do
  tt task complete "$id" --result "res $(printf '${PRINTF_ARGV}')" || exit 3
done
`;

/**
 * Runs `tt` on a pseudo-terminal (util-linux `script`) with colour allowed: what a terminal
 * receives, stdout and stderr together. Undefined when `script` is missing.
 */
async function onTerminal(sb: Sandbox, args: string[]): Promise<string | undefined> {
  const { cmd, args: pre } = ttCommand();
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const env: Record<string, string> = { ...sb.env(), PATH: Deno.env.get("PATH") ?? "" };
  delete env.NO_COLOR;
  try {
    const out = await new Deno.Command("script", {
      args: ["-qec", [cmd, ...pre, ...args].map(quote).join(" "), "/dev/null"],
      cwd: sb.dir,
      env: { ...env, DENO_NO_UPDATE_CHECK: "1" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function noRaw(what: string, r: { stdout: string; stderr: string }) {
  const c = rawIn(r.stdout) ?? rawIn(r.stderr);
  assert.equal(
    c,
    undefined,
    `${what}: raw ${JSON.stringify(c)} in ${JSON.stringify((r.stdout + r.stderr).slice(0, 400))}`,
  );
}

Deno.test("human output of every command shows hostile text escaped, never raw; --json is exact", async () => {
  const at = await AgentTown.create();
  const dir = await Deno.makeTempDir();
  let follow: BackgroundTt | undefined;
  try {
    const script = `${dir}/hostile.sh`;
    await Deno.writeTextFile(script, HOSTILE_AGENT);
    const sb = at.sb;
    await sb.ok([
      "spawn",
      "w1",
      "--cli",
      `sh '${script}'`,
      "--nickname",
      `N${ARGV}`,
      "--role",
      `R${ARGV}`,
    ]);
    const task = await sb.json<Task>(["assign", "w1", `task ${ARGV}`]);
    await sb.ok(["wait", "w1", "--timeout", "60"]);
    await sb.ok(["interrupt", "w1"]); // so the messages below stay in the inbox
    await sb.ok(["send", "w1", `msg ${ARGV}`, "--info"]);
    const agent = await resolveAgent(at.t, "w1");
    await sendMessage(at.t, {
      from: SUPERVISOR_ID,
      to: agent.id,
      type: "informational",
      body: `nul ${FULL}`,
    });
    const queued = await addToBacklog(at.t, {
      description: `backlog ${FULL}`,
      tags: [`tag${FULL}`],
    });

    const commands: [string[], string[]][] = [
      [["task", "list"], [`task ${ARGV_SHOWN}`, `N${ARGV_SHOWN}`]],
      [["task", "show", task.id], [`task ${ARGV_SHOWN}`, `res ${ARGV_SHOWN}`]],
      [["task", "show", queued.id], [`backlog ${FULL_SHOWN}`]],
      [["history", "-n", "100"], [`N${ARGV_SHOWN}`]],
      [["events", "-c", "100"], [`N${ARGV_SHOWN}`]],
      [["inbox", "w1"], [`msg ${ARGV_SHOWN}`, `nul ${FULL_SHOWN}`]],
      [["inbox", "--all"], [`N${ARGV_SHOWN}`]],
      [["status", "--deep", "--tasks"], [`N${ARGV_SHOWN}`, `R${ARGV_SHOWN}`]],
      [["list"], [`N${ARGV_SHOWN}`]],
      [["backlog", "list"], [`backlog ${FULL_SHOWN}`, `tag${FULL_SHOWN}`]],
      [["logs", "w1"], [`log ${FULL_SHOWN}`]],
    ];
    for (const [args, shown] of commands) {
      const r = await sb.ok(args);
      noRaw(JSON.stringify(args), r);
      for (const s of shown) {
        assert.ok(r.stdout.includes(s), `${JSON.stringify(args)}: no ${s} in\n${r.stdout}`);
      }
    }

    // On a terminal the CLI's own colours still work, and the data is still escaped.
    const tty = await onTerminal(sb, ["task", "list"]);
    if (tty === undefined) {
      console.log("skipped the terminal check: util-linux 'script' is missing");
    } else {
      assert.ok(tty.includes("\x1b[2m["), `no dim colour in ${JSON.stringify(tty)}`);
      assert.ok(tty.includes(`task ${ARGV_SHOWN}`), JSON.stringify(tty));
      const acting = ["\x1b]", CLEAR, "\x07", "\0", RLO, CSI8];
      assert.equal(rawIn(tty, acting), undefined, JSON.stringify(tty));
    }

    // --raw is the escape hatch: the log's bytes, unchanged.
    const log = await Deno.readTextFile(`${sb.dir}/.tt/logs/w1_round_1.log`);
    assert.ok(log.includes(`log ${FULL}\n`), "the agent wrote the payload raw");
    assert.equal((await sb.ok(["logs", "w1", "--raw"])).stdout, log);
    assert.match((await sb.ok(["logs", "--help"])).stdout, /--raw/);

    // events -f prints escaped too, both the recent events and new ones.
    follow = new BackgroundTt(sb, ["events", "-f", "-c", "100"]);
    await waitUntil(() => follow!.stdout.includes(`N${ARGV_SHOWN}`));
    await sb.ok(["send", "w1", `later ${ARGV}`]);
    await waitUntil(() =>
      follow!.stdout.includes("message_sent") && follow!.stdout.split("message_sent").length > 3
    );
    await follow.kill();
    noRaw("events -f", follow);

    // --json: exact text back, and still no raw byte a terminal would act on.
    const shown = await sb.ok(["task", "show", task.id, "--json"]);
    assert.equal(rawIn(shown.stdout), undefined);
    const back = JSON.parse(shown.stdout) as Task;
    assert.equal(back.description, `task ${ARGV}`);
    assert.equal(back.result, `res ${ARGV}`);
    assert.equal((await sb.json<Task>(["task", "show", queued.id])).description, `backlog ${FULL}`);
    const inbox = await sb.json<{ inbox: Message[] }>(["inbox", "w1"]);
    assert.deepEqual(
      inbox.inbox.map((m) => m.body).sort(),
      [`later ${ARGV}`, `msg ${ARGV}`, `nul ${FULL}`].sort(),
    );
    const agents = await sb.json<{ nickname: string; role: string }[]>(["list"]);
    assert.equal(agents[0].nickname, `N${ARGV}`);
    assert.equal(agents[0].role, `R${ARGV}`);
    const events = await sb.ok(["events", "-c", "100", "--json"]);
    assert.equal(rawIn(events.stdout), undefined);
    assert.ok(
      (JSON.parse(events.stdout) as { message: string }[]).some((e) =>
        e.message.includes(`N${ARGV}`)
      ),
    );
  } finally {
    await follow?.kill();
    await at.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs -f escapes a round's output as it arrives, an unfinished line included", async () => {
  const at = await AgentTown.create();
  const dir = await Deno.makeTempDir();
  let follow: BackgroundTt | undefined;
  try {
    // Prints the payload with no line end, waits for the gate, then ends the line and completes.
    await Deno.writeTextFile(
      `${dir}/gate.sh`,
      `prompt=$(cat)
ids=$(printf '%s\\n' "$prompt" | sed -n 's/^ *- Task ID: \\([0-9a-f-]*\\)$/\\1/p')
printf 'before ${PRINTF_FULL}'
while [ ! -e '${dir}/open' ]; do sleep 0.05; done
printf ' after\\n'
for id in $ids; do tt task complete "$id" || exit 3; done
`,
    );
    await at.sb.ok(["spawn", "w1", "--cli", `sh '${dir}/gate.sh'`]);
    await at.sb.ok(["assign", "w1", "print and wait"]);
    const path = `${at.sb.dir}/.tt/logs/w1_round_1.log`;
    await waitUntil(async () => (await Deno.readTextFile(path).catch(() => "")).includes("F"));
    follow = new BackgroundTt(at.sb, ["logs", "w1", "-f"]);
    await waitUntil(() => follow!.stdout.includes(`before ${FULL_SHOWN}`));
    assert.equal(follow.exited, false, "the round is still running");
    noRaw("logs -f (unfinished line)", follow);
    await Deno.writeTextFile(`${dir}/open`, "");
    const r = await follow.finished();
    assert.equal(r.code, 0, r.stderr);
    const log = await Deno.readTextFile(path);
    assert.ok(log.startsWith(`before ${FULL} after\n`), JSON.stringify(log));
    assert.equal(r.stdout, escapeText(log), "everything the round wrote, once, escaped");
  } finally {
    await follow?.kill();
    await Deno.writeTextFile(`${dir}/open`, "").catch(() => {});
    await at.cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors that quote hostile input show it escaped on one line", async () => {
  const at = await AgentTown.create();
  try {
    for (
      const [args, code] of [
        [["task", "show", `abcd${ARGV}`], 1], // not found, quoting the reference
        [["spawn", `w${ARGV}`], 2], // invalid name
        [["send", `who${ARGV}`, "hi"], 1], // no such agent
        [["history", "-n", `x${ARGV}`], 2], // commander's own usage error
        [[`--x${ARGV}`], 2], // unknown option
      ] as const
    ) {
      const r = await at.sb.tt([...args]);
      assert.equal(r.code, code, `${JSON.stringify(args)}: ${JSON.stringify(r.stderr)}`);
      noRaw(JSON.stringify(args), r);
      assert.ok(
        r.stderr.includes(ARGV_SHOWN),
        `${JSON.stringify(args)}: ${JSON.stringify(r.stderr)}`,
      );
    }
  } finally {
    await at.cleanup();
  }
});

// --- the escaper ---------------------------------------------------------------------------

Deno.test("escapeText: controls, C1, bidi and invisible format characters are escaped", () => {
  assert.equal(escapeText(FULL), FULL_SHOWN);
  assert.equal(escapeText("a\x7fb\x08c\x0bd\x1fe"), "a\\x7fb\\x08c\\x0bd\\x1fe");
  assert.equal(escapeText("\u0080\u0085\u009f"), "\\u0080\\u0085\\u009f");
  for (
    const c of ["\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"]
  ) {
    assert.equal(escapeText(`x${c}y`), `x\\u${c.charCodeAt(0).toString(16)}y`);
  }
  for (
    const c of [
      "\u200b",
      "\u200e",
      "\u200f",
      "\u061c",
      "\u00ad",
      "\ufeff",
      "\u2060",
      "\u2028",
      "\u2029",
      "\u3164",
      "\u115f",
    ]
  ) {
    assert.equal(escapeText(c), `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  assert.equal(escapeText("tag\u{e0041}"), "tag\\u{e0041}");
  assert.equal(escapeText("lone \ud800"), "lone \\ud800");
  // A bare CR could overwrite what came before it on the line; CRLF is a line break.
  assert.equal(escapeText("rm -rf ~\rok"), "rm -rf ~\\rok");
  assert.equal(escapeText("a\r\nb"), "a\r\nb");
});

Deno.test("escapeText: printable text, line breaks, tabs and emoji sequences are unchanged", () => {
  const text = 'héllo 日本語 🚀 👩‍💻 ❤️‍🔥 👍🏽 می‌خواهم "q" \\x1b C:\\dir\n\tindented';
  assert.equal(escapeText(text), text);
  assert.equal(escapeText("a\nb\tc", { multiline: false }), "a\\nb\\tc");
  // A one-line row (an event) cannot forge a second row.
  assert.equal(
    inline("x\n12:00:00 [task_completed]\r\t\u2028"),
    "x\\n12:00:00 [task_completed]\\r\\t\\u2028",
  );
  // A joiner outside an emoji sequence, or a non-joiner in Latin text, disguises a word.
  assert.equal(escapeText("ad\u200dmin"), "ad\\u200dmin");
  assert.equal(escapeText("ad\u200cmin"), "ad\\u200cmin");
});

Deno.test("jsonText: parses back to the same data and holds no raw terminal control", () => {
  const data = { s: FULL, t: "x\u2028\u{e0041}\u200d👩‍💻", n: 1, k: { [`key${RLO}`]: [CSI8] } };
  const text = jsonText(data, 2);
  assert.deepEqual(JSON.parse(text), data);
  const controls = Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i))
    .filter((c) => c !== "\n" && (c < " " || c >= "\x7f"));
  assert.equal(rawIn(text, [...controls, RLO, "\u2028", "\u200d", "\u{e0041}"]), undefined);
  assert.equal(jsonText("plain"), JSON.stringify("plain"));
});

Deno.test("colours: the CLI's own become SGR codes; marker look-alikes from data are escaped", () => {
  const c = palette(true);
  assert.equal(render(`${c.red("red")} ${c.bold("b")}`), "\x1b[31mred\x1b[0m \x1b[1mb\x1b[0m");
  assert.equal(render(c.dim(`x${OSC52}`)), "\x1b[2mx\\x1b]52;c;aGFja2Vk\\x07\x1b[0m");
  // Data cannot forge a marker: it does not know the process's nonce, and the block is escaped.
  const forged = `\uf8ff${"\uf8e0".repeat(16)}\uf8f2evil`;
  assert.equal(render(forged), "\\uf8ff" + "\\uf8e0".repeat(16) + "\\uf8f2evil");
  assert.ok(!render(`${forged}${c.red("x")}`).includes("\x1b[31mevil"));
  assert.equal(palette(false).red("x"), "x");
});

Deno.test("TerminalEscaper: a log split at any byte escapes like the whole text", () => {
  const text = `one ${FULL}\r\ntwo €👩‍💻\rthree\n\u202efour`;
  const bytes = new TextEncoder().encode(text);
  const whole = escapeText(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const e = new TerminalEscaper();
    const out = e.push(bytes.subarray(0, cut)) + e.flush() + e.push(bytes.subarray(cut)) + e.end();
    assert.equal(out, whole, `cut at ${cut}`);
  }
  const e = new TerminalEscaper();
  assert.equal(e.push(new Uint8Array([0x41, 0x9b, 0x42])) + e.end(), "A\ufffdB", "invalid UTF-8");
});
