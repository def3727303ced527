/**
 * Start-up: every `tt` call is a fresh process, so its wall time is what users feel.
 * `tt --help` and `tt status` from source (as scripts/tt runs it) and from the bundle (when
 * dist/tt.js exists), against: `deno run` of a hello world; a script that only loads ioredis,
 * connects and PINGs; a raw `Deno.connect` PING. All on this run's private Redis.
 */
import { type Cmd, runOnce, timeGroup } from "../lib/commands.ts";
import type { BenchContext, Row, Section, SectionResult } from "../lib/types.ts";
import { shebangFlags } from "../../scripts/bundle.ts";

export const startup: Section = {
  id: "startup",
  title: "start-up (median wall time of a whole process)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const deno = Deno.execPath();
    const notes: string[] = [];
    const town = `${ctx.tmp}/town`;
    await Deno.mkdir(town, { recursive: true });
    const env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: ctx.tmp,
      TT_HOME: `${ctx.tmp}/tt-home`,
      REDIS_URL: ctx.redis.url,
      BENCH_REDIS_SOCK: ctx.redis.socket,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
    };
    const src = [
      deno,
      "run",
      "-q",
      "-P",
      "--no-prompt",
      "--config",
      `${ctx.root}/deno.json`,
      `${ctx.root}/main.ts`,
    ];
    await runOnce({ cwd: town, env }, { name: "init", argv: [...src, "init", "--name", "bench"] });

    // `tt status` is the everyday read command; until it exists, `tt start` (open the town,
    // connect, check the server) stands in for it.
    let status = "status";
    try {
      await runOnce({ cwd: town, env }, { name: "status", argv: [...src, "status"] });
    } catch (e) {
      if (!/unknown command/i.test(String(e))) throw e;
      status = "start";
      notes.push("`tt status` does not exist yet: `tt start` (connect + version check) stands in");
    }

    const cmds: Cmd[] = [
      {
        name: "hello",
        argv: [deno, "run", "-q", "--no-config", `${ctx.root}/bench/fixtures/hello.ts`],
      },
      {
        name: "raw-ping",
        argv: [
          deno,
          "run",
          "-q",
          "--no-config",
          "--no-prompt",
          `--allow-read=${ctx.redis.socket}`,
          `--allow-write=${ctx.redis.socket}`,
          `--allow-net=unix:${ctx.redis.socket}`,
          "--allow-env=BENCH_REDIS_SOCK",
          `${ctx.root}/bench/fixtures/ping_raw.ts`,
        ],
      },
      {
        name: "ioredis-ping",
        argv: [
          deno,
          "run",
          "-q",
          "--no-prompt",
          "--config",
          `${ctx.root}/deno.json`,
          "--allow-read",
          "--allow-write",
          "--allow-net",
          "--allow-env",
          `${ctx.root}/bench/fixtures/ping_ioredis.ts`,
        ],
      },
      { name: "help-src", argv: [...src, "--help"] },
      { name: "status-src", argv: [...src, status] },
      { name: "help-wrapper", argv: [`${ctx.root}/scripts/tt`, "--help"] },
    ];

    const dist = `${ctx.root}/dist/tt.js`;
    let bundle: string | undefined = `${ctx.tmp}/tt.js`;
    try {
      // A copy at a fresh path gets a fresh V8 code-cache entry; its first run is a real command
      // (a first run with --help leaves a thin cache that keeps later runs ~40 ms slower).
      await Deno.copyFile(dist, bundle);
      if ((await Deno.stat(dist)).mtime! < await newestSource(ctx.root)) {
        notes.push("dist/tt.js is older than the source: `deno task bundle` refreshes it");
      }
      const run = [deno, "run", "-q", ...shebangFlags(await Deno.readTextFile(bundle)), bundle];
      await runOnce({ cwd: town, env }, { name: "warm", argv: [...run, status] });
      cmds.push({ name: "help-bundle", argv: [...run, "--help"] });
      cmds.push({ name: "status-bundle", argv: [...run, status] });
    } catch (e) {
      bundle = undefined;
      if (e instanceof Deno.errors.NotFound) {
        notes.push("no dist/tt.js: `deno task bundle` first to include the bundle");
      } else {
        notes.push(`bundle left out: ${String(e).split("\n")[0]}`);
      }
    }

    const runs = ctx.quick ? 6 : 20;
    const t = await timeGroup(
      { cwd: town, env, cmds, runs, warmup: ctx.quick ? 1 : 3 },
      ctx.hyperfine,
      ctx.tmp,
    );
    const med = (name: string) => t[name].summary.median;
    const vsHello = ["hello"];
    const rows: Row[] = [
      {
        id: "hello",
        label: "deno run hello.ts",
        short: "hello",
        value: med("hello"),
        stat: "median",
      },
      {
        id: "raw-ping",
        label: "raw Deno.connect + PING",
        short: "raw PING",
        value: med("raw-ping"),
        stat: "median",
        vs: vsHello,
      },
      {
        id: "ioredis-ping",
        label: "ioredis connect + PING",
        short: "ioredis PING",
        value: med("ioredis-ping"),
        stat: "median",
        vs: ["hello", "raw-ping"],
      },
      {
        id: "help-src",
        label: "tt --help (source)",
        short: "source",
        value: med("help-src"),
        stat: "median",
        vs: vsHello,
      },
      {
        id: "help-wrapper",
        label: "scripts/tt --help",
        value: med("help-wrapper"),
        stat: "median",
        vs: ["hello", "help-src"],
      },
      {
        id: "status-src",
        label: `tt ${status} (source)`,
        value: med("status-src"),
        stat: "median",
        vs: ["hello", "ioredis-ping", "raw-ping"],
      },
    ];
    if (bundle) {
      rows.push(
        {
          id: "help-bundle",
          label: "tt --help (bundle)",
          value: med("help-bundle"),
          stat: "median",
          vs: ["hello", "help-src"],
        },
        {
          id: "status-bundle",
          label: `tt ${status} (bundle)`,
          value: med("status-bundle"),
          stat: "median",
          vs: ["hello", "ioredis-ping", "status-src"],
        },
      );
    }
    return {
      rows,
      notes,
      raw: {
        tool: ctx.hyperfine ? "hyperfine -N" : "internal loop",
        runs,
        status_command: status,
        commands: Object.fromEntries(cmds.map((c) => [c.name, c.argv.join(" ")])),
        timings: t,
      },
    };
  },
};

/** Modification time of the newest file of main.ts and src/. */
async function newestSource(root: string): Promise<Date> {
  let newest = (await Deno.stat(`${root}/main.ts`)).mtime!;
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const m = (await Deno.stat(p)).mtime!;
        if (m > newest) newest = m;
      }
    }
  };
  await walk(`${root}/src`);
  return newest;
}
