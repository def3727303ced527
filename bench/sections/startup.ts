/**
 * Start-up: every `tt` call is a fresh process, so its wall time is what users feel.
 * `tt --help`, `tt status` (a town of 10 agents and 1,000 tasks), `tt assign`, `tt task list` and
 * `tt send` from source (the lean path, src/cli/lean.ts; `tt assign` also with it off;
 * `tt assign` and `tt status` also with this host's supervisor running, which runs them through
 * its operator channel, src/cli/operator_client.ts)
 * (as scripts/tt runs it) and from the bundle (built from the current source with
 * scripts/bundle.ts, as `deno task bundle` builds dist/tt.js and the chunks it loads on demand,
 * run with the flags of its shebang), against: `deno run` of a hello
 * world; a script that only loads ioredis, connects and PINGs; a raw `Deno.connect` PING.
 * All on this run's private Redis.
 */
import { type Cmd, runOnce, timeGroup } from "../lib/commands.ts";
import { benchTown, cliEnv, populate, stopSupervisor } from "../lib/town.ts";
import { createAgent } from "../../src/core/agents.ts";
import { thisHost } from "../../src/core/control.ts";
import {
  type BenchContext,
  denoArgs,
  ioredisPingArgv,
  type Row,
  type Section,
  type SectionResult,
} from "../lib/types.ts";
import { buildBundle, defaultPermissionFlags, shebangFlags } from "../../scripts/bundle.ts";

const STATUS_AGENTS = 10;
const STATUS_TASKS = 1000;

export const startup: Section = {
  id: "startup",
  title: "start-up (median wall time of a whole process)",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const deno = Deno.execPath();
    const notes: string[] = [];
    const env = cliEnv(ctx);
    // Agents of both towns live on a host no supervisor here serves: `tt assign` then finds
    // nothing to revive and starts no supervisor, and no agent picks the tasks up.
    const status = await benchTown(ctx, "bench-status");
    const assign = await benchTown(ctx, "bench-assign");
    // The same status town and assign target, with this host's supervisor running: an idle agent
    // here keeps it up (it has no work, so no rounds run during the timings).
    const sup = await benchTown(ctx, "bench-supervised");
    try {
      await populate(status.t, { agents: STATUS_AGENTS, tasks: STATUS_TASKS });
      await populate(assign.t, { agents: 1, tasks: 0, prefix: "sink" });
      await populate(sup.t, { agents: STATUS_AGENTS, tasks: STATUS_TASKS });
      await populate(sup.t, { agents: 1, tasks: 0, prefix: "sink" });
      await createAgent(sup.t, { name: "holder", cli: "sleep 1000", host: thisHost() });
    } finally {
      await status.t.close();
      await assign.t.close();
    }
    const town = status.dir;
    const src = [
      deno,
      ...denoArgs(ctx, "main.ts"),
    ];
    const assignArgs = [
      "--town",
      assign.dir,
      "assign",
      "sink0",
      "Add a --dry-run flag to the importer, with a test",
    ];

    await runOnce({ cwd: sup.dir, env }, { name: "start", argv: [...src, "start"] });
    const supAssign = assignArgs.slice(2); // `assign sink0 …`, in the supervised town

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
        argv: ioredisPingArgv(ctx),
      },
      { name: "help-src", argv: [...src, "--help"] },
      { name: "status-src", argv: [...src, "status"] },
      { name: "assign-src", argv: [...src, ...assignArgs] },
      {
        name: "task-list-src",
        argv: [...src, "--town", assign.dir, "task", "list", "-s", "failed"],
      },
      { name: "send-src", argv: [...src, "--town", assign.dir, "send", "sink0", "Status?"] },
      // Through this host's running supervisor (its operator channel).
      { name: "assign-sup", argv: [...src, "--town", sup.dir, ...supAssign] },
      { name: "status-sup", argv: [...src, "--town", sup.dir, "status"] },
      // The same assign with the lean path off (commander and ioredis), for comparison.
      { name: "assign-full", argv: ["env", "TT_LEAN=0", ...src, ...assignArgs] },
      { name: "help-wrapper", argv: [`${ctx.root}/scripts/tt`, "--help"] },
    ];

    // The bundle, built now from the current source (what `deno task bundle` writes to
    // dist/tt.js and dist/tt-chunks/). Fresh paths get fresh V8 code-cache entries; its first run
    // is a real command (a module first run by --help keeps a thin cache, later runs slower).
    const bundle = `${ctx.tmp}/tt.js`;
    let bundled = false;
    try {
      const built = await buildBundle(bundle, await defaultPermissionFlags());
      const run = [deno, "run", "-q", ...shebangFlags(await Deno.readTextFile(bundle)), bundle];
      await runOnce({ cwd: town, env }, { name: "warm", argv: [...run, "status"] });
      cmds.push({ name: "help-bundle", argv: [...run, "--help"] });
      cmds.push({ name: "status-bundle", argv: [...run, "status"] });
      cmds.push({ name: "assign-bundle", argv: [...run, ...assignArgs] });
      notes.push(
        `bundle: ${(built.bytes / 1024).toFixed(0)} KB (tt.js and ${built.chunks} modules it ` +
          "loads on demand), built from the current source",
      );
      bundled = true;
    } catch (e) {
      notes.push(`bundle left out: ${String(e).split("\n")[0]}`);
    }

    const runs = ctx.quick ? 6 : 20;
    let t: Awaited<ReturnType<typeof timeGroup>>;
    try {
      t = await timeGroup(
        { cwd: town, env, cmds, runs, warmup: ctx.quick ? 1 : 3 },
        ctx.hyperfine,
        ctx.tmp,
      );
    } finally {
      await stopSupervisor(sup.t);
      await sup.t.close();
    }
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
        label: `tt status, ${STATUS_AGENTS} agents, ${STATUS_TASKS} tasks (source)`,
        short: "status (source)",
        value: med("status-src"),
        stat: "median",
        vs: ["hello", "ioredis-ping"],
      },
      {
        id: "assign-src",
        label: "tt assign, no supervisor on this host (source)",
        short: "assign (source)",
        value: med("assign-src"),
        stat: "median",
        vs: ["hello", "ioredis-ping"],
      },
      {
        id: "task-list-src",
        label: "tt task list (source)",
        short: "task list (source)",
        value: med("task-list-src"),
        stat: "median",
        vs: vsHello,
      },
      {
        id: "send-src",
        label: "tt send (source)",
        short: "send (source)",
        value: med("send-src"),
        stat: "median",
        vs: vsHello,
      },
      {
        id: "assign-sup",
        label: "tt assign, this host's supervisor running (source)",
        short: "assign (supervisor)",
        value: med("assign-sup"),
        stat: "median",
        vs: ["hello", "assign-src"],
      },
      {
        id: "status-sup",
        label: `tt status, ${STATUS_AGENTS} agents, ${STATUS_TASKS} tasks, supervisor running`,
        value: med("status-sup"),
        stat: "median",
        vs: ["hello", "status-src"],
      },
      {
        id: "assign-full",
        label: "tt assign, lean path off (TT_LEAN=0: commander + ioredis)",
        short: "assign (full)",
        value: med("assign-full"),
        stat: "median",
        vs: ["hello", "assign-src"],
      },
    ];
    if (bundled) {
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
          label: `tt status, ${STATUS_AGENTS} agents, ${STATUS_TASKS} tasks (bundle)`,
          value: med("status-bundle"),
          stat: "median",
          vs: ["hello", "ioredis-ping", "status-src"],
        },
        {
          id: "assign-bundle",
          label: "tt assign (bundle)",
          value: med("assign-bundle"),
          stat: "median",
          vs: ["hello", "ioredis-ping", "assign-src"],
        },
      );
    }
    return {
      rows,
      notes,
      raw: {
        tool: ctx.hyperfine ? "hyperfine -N" : "internal loop",
        runs,
        status_town: { agents: STATUS_AGENTS, tasks: STATUS_TASKS },
        commands: Object.fromEntries(cmds.map((c) => [c.name, c.argv.join(" ")])),
        timings: t,
      },
    };
  },
};
