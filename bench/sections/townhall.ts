/**
 * Townhall: requests/s and latency of `GET /v1/status` and `POST /v1/tasks/assign` on a real
 * `tt townhall` (API-key auth on, rate limits off), against a hono hello-world served the same
 * way (Deno.serve, its own process), in the same run and with the same load: autocannon
 * (bench/node/http.mjs, under Node) with 10 keep-alive connections on loopback, for a bounded
 * time after a warm-up.
 */
import { runNode } from "../lib/node.ts";
import { benchTown, cliEnv, dropTown, inFlight, populate } from "../lib/town.ts";
import { deleteTask } from "../../src/core/task_index.ts";
import {
  type BenchContext,
  denoArgs,
  type Row,
  type Section,
  type SectionResult,
} from "../lib/types.ts";
import type { Ctx } from "../../src/core/agents.ts";
import { pageVsStatus } from "../lib/dashboard.ts";

const HELLO = `
import { Hono } from "hono";
const app = new Hono();
app.get("/", (c) => c.json({ hello: "world" }));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log(JSON.stringify({ url: \`http://127.0.0.1:\${a.port}\` })) }, app.fetch);
`;

const CONNECTIONS = 10;
const ROUNDS = (ctx: BenchContext) => ctx.quick ? 1 : 3;

/** Deletes the tasks not in `keep` (hash, indexes, counters) and empties the sink's inbox. */
async function removeNewTasks(t: Ctx, keep: Set<string>, sinkId: string) {
  const fresh = (await t.redis.zrange(t.keys.tasks, "0", "-1")).filter((id) => !keep.has(id));
  await inFlight(fresh.length, 100, async (i) => {
    await deleteTask(t, fresh[i]);
  });
  await t.redis.unlink(t.keys.inbox(sinkId), t.keys.wake(sinkId));
}

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a server process that prints one JSON line `{url}` when listening. */
export async function startServer(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<Server> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  reader.releaseLock();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  };
  if (!out.includes("\n")) {
    await stop();
    throw new Error(`server did not start: ${argv.join(" ")}`);
  }
  return { url: JSON.parse(out.split("\n")[0]).url, pid: child.pid, stop };
}

export interface Load {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export const townhall: Section = {
  id: "townhall",
  title: "townhall HTTP (autocannon, vs a hono hello-world; req/s: higher is better)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const seconds = ctx.quick ? 2 : 4;
    const warmup = ctx.quick ? 1 : 2;
    const env = cliEnv(ctx);
    const deno = Deno.execPath();
    const tt = [
      deno,
      ...denoArgs(ctx, "main.ts"),
    ];
    const { dir, t } = await benchTown(
      ctx,
      "bench-townhall",
      "[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0\n",
    );
    const run = async (args: string[]) => {
      const out = await new Deno.Command(tt[0], {
        args: [...tt.slice(1), ...args],
        cwd: dir,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(`tt ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
      }
      return new TextDecoder().decode(out.stdout).trim();
    };
    const servers: Server[] = [];
    try {
      const key = await run(["auth", "gen-key", "--name", "bench"]);
      // Agent records with no process behind them (another host): assigned tasks just queue.
      await populate(t, { agents: 1, tasks: 0, prefix: "sink" });
      await populate(t, { agents: 5, tasks: 20, prefix: "idle" });

      const helloFile = `${ctx.tmp}/hono_hello.ts`;
      await Deno.writeTextFile(helloFile, HELLO);
      const hall = await startServer([...tt, "townhall", "--port", "0", "--json"], dir, env);
      servers.push(hall);
      const hello = await startServer(
        [
          deno,
          "run",
          "-q",
          "--no-prompt",
          "--allow-net=127.0.0.1",
          "--config",
          `${ctx.root}/deno.json`,
          helloFile,
        ],
        ctx.tmp,
        env,
      );
      servers.push(hello);
      const auth = { authorization: `Bearer ${key}` };
      const targets = {
        hello: { url: `${hello.url}/` },
        status: { url: `${hall.url}/v1/status`, headers: auth },
        assign: {
          url: `${hall.url}/v1/tasks/assign`,
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ agent: "sink0", description: "Bench task from townhall" }),
        },
      };
      // Rounds in turn (hello, status, assign), so a slow patch of the machine does not land on
      // one target only; each figure is the median over the rounds. The tasks an assign round
      // creates are removed after it, so every status round reads the same town.
      const before = new Set(await t.redis.zrange(t.keys.tasks, "0", "-1"));
      const sink = (await t.redis.hget(t.keys.agentNames, "sink0"))!;
      const rounds: Record<string, Load[]> = { hello: [], status: [], assign: [] };
      for (let round = 0; round < ROUNDS(ctx); round++) {
        for (const name of ["hello", "status", "assign"] as const) {
          const r = await runNode<Load>(ctx.root, "http.mjs", [
            JSON.stringify({
              ...targets[name],
              connections: CONNECTIONS,
              seconds,
              warmup: round === 0 ? warmup : 0,
            }),
          ]);
          if (r.non2xx || r.errors || r.timeouts || !r.requests) {
            throw new Error(
              `${name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts of ${r.requests}`,
            );
          }
          rounds[name].push(r);
          if (name === "assign") await removeNewTasks(t, before, sink);
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const results = Object.fromEntries(
        Object.entries(rounds).map(([name, rs]) => [name, {
          rps: median(rs.map((r) => r.rps)),
          p50: median(rs.map((r) => r.p50)),
          p99: median(rs.map((r) => r.p99)),
        }]),
      ) as Record<"hello" | "status" | "assign", { rps: number; p50: number; p99: number }>;
      const label = {
        hello: "hono hello-world GET /",
        status: "townhall GET /v1/status",
        assign: "townhall POST /v1/tasks/assign",
      };
      const rows: Row[] = [];
      for (const [stat, unit] of [["rps", "req/s"], ["p50", ""], ["p99", ""]] as const) {
        for (const name of ["hello", "status", "assign"] as const) {
          rows.push({
            id: `${name}-${stat}`,
            label: label[name],
            short: name === "hello" ? `hello ${stat === "rps" ? "req/s" : stat}` : undefined,
            value: results[name][stat],
            unit: unit || undefined,
            stat: stat === "rps" ? "req/s" : stat,
            vs: name === "hello" ? undefined : [`hello-${stat}`],
          });
        }
      }
      const big = await pageVsStatus(ctx);
      rows.push(...big.rows);
      return {
        rows,
        notes: [
          big.note,
          `${CONNECTIONS} connections, ${
            ROUNDS(ctx)
          } round(s) of ${seconds} s per target in turn ` +
          `after ${warmup} s of warm-up, median over rounds; ` +
          "autocannon, both servers and Redis share the machine's cores",
          "townhall checks the API key (one Redis read) per request; status reads 6 agents and " +
          "20 tasks; each assign is one Lua script plus the audit event",
        ],
        raw: { connections: CONNECTIONS, seconds, warmup, rounds, results, dashboard: big.raw },
      };
    } finally {
      for (const s of servers) await s.stop();
      await dropTown(t);
      await t.close();
    }
  },
};
