/**
 * The operator channel (src/supervisor/channel/operator.ts, src/cli/operator_client.ts): with this
 * host's supervisor running, short commands run in it. Black box: the real tt against a real
 * supervisor. Checked: the commands really run there (a tt that may not reach Redis still
 * assigns), their output and exit codes are the lean path's own, what it must not run falls back,
 * and the attacker's side: wrong secret, another town, malformed requests, file modes, a dead
 * supervisor's socket.
 */
import assert from "node:assert/strict";
import { AgentTown, waitUntil } from "../agent_helpers.ts";
import { ROOT, runProcess, type TtResult } from "../helpers.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import { operatorPaths } from "../../src/supervisor/channel/operator_wire.ts";
import { machineHost } from "../../src/core/host_name.ts";
import { exists } from "../../src/core/town_root.ts";
import { VERSION } from "../../src/version.ts";
import { unitName } from "../../src/supervisor/service.ts";
import { taskCounts } from "../../src/core/counters.ts";
import type { TownContext } from "../../src/core/town.ts";

/** A town whose supervisor runs here (agent `holder`, idle) and an agent `sink` on another host. */
async function town(): Promise<{ at: AgentTown; sock: string; tokenFile: string }> {
  const at = await AgentTown.create();
  await at.sb.ok(["spawn", "holder", "--cli", "sleep 1000"]);
  await at.sb.ok(["spawn", "sink", "--host", "far", "--cli", "true"]);
  const paths = operatorPaths(at.sb.dir, machineHost());
  await waitUntil(async () => !!(await supervisorInfo(at.t)) && await exists(paths.socket));
  return { at, sock: paths.socket, tokenFile: paths.token };
}

/**
 * The real tt allowed to reach the operator socket and nothing else on the network: it cannot
 * open the town's Redis, so only the supervisor can have run what it asked for.
 */
function channelOnly(
  at: AgentTown,
  sock: string,
  args: string[],
  env: Record<string, string> = {},
) {
  return runProcess(Deno.execPath(), [
    "run",
    "-q",
    "--no-prompt",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    `--allow-write=${sock}`,
    `--allow-net=unix:${sock}`,
    `${ROOT}/main.ts`,
    ...args,
  ], { cwd: at.sb.dir, env: at.sb.env(env) });
}

const same = (a: TtResult, b: TtResult, what: string) =>
  assert.deepEqual(a, b, `${what}: through the supervisor and on its own differ`);

Deno.test("operator channel: short commands run in the supervisor, with the lean path's output", async () => {
  const { at, sock } = await town();
  try {
    // It ran there: this tt has no access to Redis at all.
    const r = await channelOnly(at, sock, ["assign", "sink", "Build the REST API"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Assigned task [0-9a-f]{8} to \S+ \[sink\]\n$/);
    assert.equal(await countTasks(at.t), 1);
    // Without the channel the same tt cannot do it (so the check above means something).
    const off = await channelOnly(at, sock, ["assign", "sink", "x"], { TT_OPERATOR_CHANNEL: "0" });
    assert.notEqual(off.code, 0);
    assert.equal(await countTasks(at.t), 1);

    // `tt status` reports an installed `tt service` unit either way (the supervisor may read it).
    const unitDir = `${at.sb.home}/.config/systemd/user`;
    await Deno.mkdir(unitDir, { recursive: true });
    await Deno.writeTextFile(`${unitDir}/${unitName(at.name)}`, "[Unit]\n");
    // Same stdout, stderr and exit code as the command run on its own, for reads and errors.
    const cases = [
      ["status"],
      ["status", "--json"],
      ["list"],
      ["task", "list"],
      ["task", "list", "--json", "--limit", "1"],
      ["inbox", "sink"],
      ["backlog", "list"],
      ["history", "-n", "5"],
      ["assign", "nobody", "x"], // unknown agent: exit 1, one line
      ["task", "show", "ffffffff"], // no such task
      ["send", "sink", ""], // an empty message
      ["task", "list", "-s", "bogus"], // a usage error raised by the action
    ];
    for (const args of cases) {
      const via = await channelOnly(at, sock, args);
      const own = await at.sb.tt(args, { env: { TT_OPERATOR_CHANNEL: "0" } });
      same(via, own, `tt ${args.join(" ")}`);
    }
    // --town naming this town, and the caller's identity from the environment.
    const byTown = await channelOnly(at, sock, ["--town", at.sb.dir, "status", "--json"]);
    assert.equal(byTown.code, 0, byTown.stderr);
    const sent = await channelOnly(at, sock, ["send", "sink", "hi"], {
      TINYTOWN_AGENT_NAME: "holder",
    });
    assert.equal(sent.code, 0, sent.stderr);
    const { inbox } = await at.sb.json<{ inbox: { from: string }[] }>(["inbox", "sink"]);
    const holder = (await at.sb.json<{ id: string; name: string }[]>(["list"]))
      .find((a) => a.name === "holder")!;
    assert.equal(inbox.at(-1)?.from, holder.id, "the message is from the agent the env names");
  } finally {
    await at.cleanup();
  }
});

Deno.test("operator channel: what it must not run falls back to the operator's own process", async () => {
  const { at, sock } = await town();
  try {
    // Help, a usage error commander reports, a command outside the list (a human's completion
    // runs the task's check locally): the channel-only tt then runs it itself, and cannot.
    for (
      const args of [
        ["assign", "--help"],
        ["task", "list", "--limit", "0"],
        ["task", "complete", "abcd"],
        ["events", "-c", "1"],
      ]
    ) {
      const via = await channelOnly(at, sock, args);
      const own = await at.sb.tt(args, { env: { TT_OPERATOR_CHANNEL: "0" } });
      if (args[1] === "--help" || args[3] === "0") same(via, own, `tt ${args.join(" ")}`);
      else assert.match(via.stderr, /permission|Requires/i, `tt ${args.join(" ")} ran here`);
    }
    // Another Redis target in the environment: the supervisor would act on the wrong one.
    const other = await channelOnly(at, sock, ["assign", "sink", "x"], {
      REDIS_URL: "redis://127.0.0.1:1",
    });
    assert.notEqual(other.code, 0);
    // tinytown.toml edited since the supervisor read it.
    const toml = `${at.sb.dir}/tinytown.toml`;
    await Deno.writeTextFile(toml, (await Deno.readTextFile(toml)) + "\n# edited\n");
    const edited = await channelOnly(at, sock, ["assign", "sink", "x"]);
    assert.notEqual(edited.code, 0);
    assert.equal(await countTasks(at.t), 0, "nothing ran in the supervisor");
  } finally {
    await at.cleanup();
  }
});

Deno.test("operator channel attack: modes, wrong secret, another town, bad requests run nothing", async () => {
  const { at, sock, tokenFile } = await town();
  try {
    assert.equal(Deno.statSync(sock).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(tokenFile).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(`${at.sb.dir}/.tt/operator`).mode! & 0o777, 0o700);
    const token = Deno.readTextFileSync(tokenFile).trim();
    const base = {
      v: 1,
      version: VERSION,
      token,
      argv: ["assign", "sink", "forged"],
      root: at.sb.dir,
      config: "",
      env: { REDIS_URL: at.sb.env().REDIS_URL, TT_HOME: at.sb.env().TT_HOME, HOME: at.sb.home },
      caller: {},
      color: false,
    };
    const st = Deno.statSync(`${at.sb.dir}/tinytown.toml`);
    base.config = `${st.mtime!.getTime()}:${st.size}`;
    // The well-formed request does run (so each refusal below is the check's doing).
    assert.match(await raw(sock, JSON.stringify(base)), /"code":0/);
    assert.equal(await countTasks(at.t), 1);
    const attempts = [
      JSON.stringify({ ...base, token: "0".repeat(64) }),
      JSON.stringify({ ...base, token: "" }),
      JSON.stringify({ ...base, root: "/tmp" }),
      JSON.stringify({ ...base, version: "0.0.0-other" }),
      JSON.stringify({ ...base, argv: ["task", "complete", "abcd", "--force"] }),
      JSON.stringify({ ...base, argv: ["reset", "--yes"] }),
      JSON.stringify({ ...base, extra: 1 }),
      "not json",
      "{}",
    ];
    for (const a of attempts) {
      assert.match(await raw(sock, a), /^\{"fallback":"[^"]+"\}\n$/, a.slice(0, 80));
    }
    // Too large: answered (or cut off while still sending), never run.
    assert.match(await raw(sock, "x".repeat(2 * 1024 * 1024)), /^$|^\{"fallback":"[^"]+"\}\n$/);
    assert.equal(await countTasks(at.t), 1, "no refused request ran");
    const log = await Deno.readTextFile(`${at.sb.dir}/.tt/logs/supervisor.log`);
    assert.match(log, /refused a request with a wrong secret/);
  } finally {
    await at.cleanup();
  }
});

Deno.test("operator channel: a killed supervisor's socket is left behind; commands still run", async () => {
  const { at, sock } = await town();
  try {
    await at.killSupervisorKeepingHeartbeat();
    assert.ok(await exists(sock), "SIGKILL leaves the socket file");
    const r = await at.sb.tt(["assign", "sink", "after the crash"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await countTasks(at.t), 1);
  } finally {
    await at.cleanup();
  }
});

async function countTasks(t: TownContext): Promise<number> {
  return (await taskCounts(t)).total;
}

/** Sends one raw request line to the socket; returns the raw reply. */
async function raw(sock: string, line: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: sock });
  const w = new TextEncoder().encode(line + "\n");
  for (let off = 0; off < w.length;) off += await conn.write(w.subarray(off)).catch(() => w.length);
  await conn.closeWrite().catch(() => {});
  return await new Response(conn.readable).text().catch(() => ""); // reset: nothing answered
}
