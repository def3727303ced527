/**
 * Townhall throughput and latency: requests/s and p99 of `GET /v1/status` and
 * `POST /v1/tasks/assign` on a real `tt townhall` (API key auth on, rate limits off), against a
 * hono hello-world served the same way (Deno.serve, separate process) in the same run, with the
 * same load generator (this process: `concurrency` keep-alive clients, loopback only).
 *
 * Hook into scripts/bench: `import { townhall } from "../townhall.ts"` in bench/main.ts and add
 * `townhall` to SECTIONS. Standalone: `deno run -P --no-prompt bench/townhall.ts [--quick]`
 * (starts its own private redis-server).
 */
import { summarize } from "./lib/stats.ts";
import type { BenchContext, Row, Section, SectionResult } from "./lib/types.ts";

const HELLO = `
import { Hono } from "hono";
const app = new Hono();
app.get("/", (c) => c.json({ hello: "world" }));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log(JSON.stringify({ url: \`http://127.0.0.1:\${a.port}\` })) }, app.fetch);
`;

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** Starts a server process that prints one JSON line `{url}` when listening. */
async function startServer(
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
  return { url: JSON.parse(out.split("\n")[0]).url, stop };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  n: number;
  errors: number;
}

/** `total` requests from `concurrency` clients; latencies of each, overall requests/s. */
async function load(
  total: number,
  concurrency: number,
  request: (i: number) => Promise<Response>,
  expect: number,
): Promise<Load> {
  const samples: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const s = performance.now();
      const res = await request(i);
      await res.arrayBuffer();
      samples.push(performance.now() - s);
      if (res.status !== expect) errors++;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  const sum = summarize(samples);
  return { rps: total / secs, p50: sum.median, p99: sum.p99, n: total, errors };
}

export async function runTownhallBench(ctx: BenchContext): Promise<SectionResult> {
  const total = ctx.quick ? 500 : 4000;
  const warmup = ctx.quick ? 100 : 500;
  const concurrency = 16;
  const town = `${ctx.tmp}/townhall-town`;
  await Deno.mkdir(town, { recursive: true });
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? ctx.tmp,
    TT_HOME: `${ctx.tmp}/tt-home-townhall`,
    REDIS_URL: ctx.redis.url,
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  const deno = Deno.execPath();
  const tt = [
    deno,
    "run",
    "-q",
    "-P",
    "--no-prompt",
    "--config",
    `${ctx.root}/deno.json`,
    `${ctx.root}/main.ts`,
  ];
  const run = async (args: string[]) => {
    const out = await new Deno.Command(tt[0], {
      args: [...tt.slice(1), ...args],
      cwd: town,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`tt ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout).trim();
  };
  await run(["init", "--name", "bench-townhall"]);
  const toml = `${town}/tinytown.toml`;
  await Deno.writeTextFile(
    toml,
    (await Deno.readTextFile(toml)) +
      "\n[townhall.rate_limit]\nread_per_min = 0\nwrite_per_min = 0\n",
  );
  const key = await run(["auth", "gen-key", "--name", "bench"]);

  // An agent record with no process behind it: assigned tasks just queue in its inbox.
  const { connectRedis } = await import("../src/redis/connection.ts");
  const { townKeys } = await import("../src/core/keys.ts");
  const { createAgent } = await import("../src/core/agents.ts");
  const redis = await connectRedis(ctx.redis.url, { name: "tt-bench" });
  const keys = townKeys("bench-townhall");
  await createAgent({ redis, keys }, { name: "sink", cli: "true" });
  for (let i = 0; i < 5; i++) await createAgent({ redis, keys }, { name: `idle${i}`, cli: "true" });

  const helloFile = `${ctx.tmp}/hono_hello.ts`;
  await Deno.writeTextFile(helloFile, HELLO);
  const hall = await startServer([...tt, "townhall", "--port", "0", "--json"], town, env);
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
  const auth = { authorization: `Bearer ${key}` };
  try {
    const targets = {
      hello: (_: number) => fetch(`${hello.url}/`),
      status: (_: number) => fetch(`${hall.url}/v1/status`, { headers: auth }),
      assign: (i: number) =>
        fetch(`${hall.url}/v1/tasks/assign`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ agent: "sink", description: `bench task ${i}` }),
        }),
    };
    const expect = { hello: 200, status: 200, assign: 201 };
    const results: Record<string, Load> = {};
    for (const name of ["hello", "status", "assign"] as const) {
      await load(warmup, concurrency, targets[name], expect[name]);
      results[name] = await load(total, concurrency, targets[name], expect[name]);
      if (results[name].errors) {
        throw new Error(`${name}: ${results[name].errors} unexpected statuses`);
      }
    }
    const rows: Row[] = [
      {
        id: "th-hello",
        label: "hono hello-world GET / (p99)",
        short: "hello",
        value: results.hello.p99,
        stat: "p99",
      },
      {
        id: "th-status",
        label: "townhall GET /v1/status (p99)",
        value: results.status.p99,
        stat: "p99",
        vs: ["th-hello"],
      },
      {
        id: "th-assign",
        label: "townhall POST /v1/tasks/assign (p99)",
        value: results.assign.p99,
        stat: "p99",
        vs: ["th-hello"],
      },
    ];
    const rps = (n: keyof typeof results) => Math.round(results[n].rps);
    const notes = [
      `requests/s with ${concurrency} keep-alive clients, ${total} requests each: hello ${
        rps("hello")
      }, ` +
      `status ${rps("status")} (${(results.status.rps / results.hello.rps).toFixed(2)}× hello), ` +
      `assign ${rps("assign")} (${(results.assign.rps / results.hello.rps).toFixed(2)}× hello)`,
      `p50 ms: hello ${results.hello.p50.toFixed(2)}, status ${
        results.status.p50.toFixed(2)
      }, assign ${results.assign.p50.toFixed(2)}`,
      "townhall runs with API-key auth (one HGETALL per request) and the audit event on writes; " +
      "status reads 6 agents; the load generator shares the machine",
    ];
    return { rows, notes, raw: { concurrency, total, warmup, results } };
  } finally {
    await hall.stop();
    await hello.stop();
    await redis.quit();
  }
}

export const townhall: Section = {
  id: "townhall",
  title: "townhall requests (same load generator, vs a hono hello-world)",
  run: runTownhallBench,
};

if (import.meta.main) {
  const { startPrivateRedis } = await import("./lib/redis.ts");
  const { withRatios } = await import("./lib/types.ts");
  const tmp = await Deno.makeTempDir({ prefix: "tt-bench-townhall-" });
  const redis = await startPrivateRedis(tmp);
  try {
    const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
    const r = await runTownhallBench({
      root,
      tmp,
      redis,
      hyperfine: null,
      quick: Deno.args.includes("--quick"),
    });
    for (const row of withRatios(r.rows)) {
      const ratios = row.ratios?.map((x) => `${x.ratio.toFixed(2)}× ${x.vs}`).join(", ") ?? "";
      console.log(`${row.label.padEnd(42)} ${row.value.toFixed(2).padStart(8)} ms  ${ratios}`);
    }
    for (const n of r.notes) console.log(`  ${n}`);
  } finally {
    await redis.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
