/** Town commands: init, start, stop, towns, config. */
import type { Command } from "@commander-js/extra-typings";
import { globals, withTown } from "./context.ts";
import { color, note, output } from "./output.ts";
import { UsageError } from "../core/errors.ts";
import { redactUrl as redact } from "../redis/url.ts";

export function register(program: Command) {
  program.command("init")
    .description("make the current directory (or --town) a town: tinytown.toml, .tt/, its Redis")
    .option(
      "-n, --name <name>",
      "town name (default: <git repo>-<branch>, else the directory name)",
    )
    .option(
      "-f, --force",
      "overwrite an existing tinytown.toml (keeping its id); take over a name whose town was deleted from this host",
    )
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const { initTown } = await import("../core/town.ts");
      const r = await initTown({ dir: g.town ?? Deno.cwd(), name: opts.name, force: opts.force });
      output(g.json, r, () => [
        `Initialized town ${color.bold(r.name)} in ${r.root} (id ${r.id})`,
        r.managed ? `Redis: managed by tt on ${r.redisUrl}` : `Redis: external ${r.redisUrl}`,
        `Next: tt spawn <name> --cli claude, then tt assign <name> "<task>"`,
      ]);
    });

  program.command("start")
    .description("make sure the town's Redis is running, and its supervisor if agents should run")
    .action(async (_opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { supervisorInfo } = await import("../core/control.ts");
        const sup = await supervisorInfo(t);
        output(
          g.json,
          { town: t.name, redis: t.redisUrl, managed: t.managed, supervisor: sup ?? null },
          () => [
            `Town ${color.bold(t.name)} is up: Redis ${
              t.managed ? "(managed)" : "(external)"
            } at ${t.redisUrl}`,
            sup
              ? `Supervisor: pid ${sup.pid} on ${sup.host}`
              : "Supervisor: not needed (no active agents)",
          ],
        );
      }, { supervisor: true });
    });

  program.command("stop")
    .description(
      "stop the town: agents finish their rounds (or --now), then the supervisor and managed Redis",
    )
    .option("--now", "kill running rounds instead of letting them finish (their work is requeued)")
    .option("--all", "stop the supervisors of every host of the town, not only this host's")
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      const { findTownRoot, loadTownConfig } = await import("../core/config.ts");
      const { redisTarget, openTown, stopManagedServer } = await import("../core/town.ts");
      const { pingSocket, managedPaths } = await import("../redis/server.ts");
      const root = await findTownRoot(g.town);
      const config = await loadTownConfig(root);
      const target = redisTarget(root, config);
      if (target.managed && !(await pingSocket(managedPaths(root).socket))) {
        output(
          g.json,
          { town: config.name, redis: "not running" },
          () => `${config.name} is not running`,
        );
        return;
      }
      const t = await openTown({ town: root });
      const { stopSupervisor, supervisorInfo } = await import("../core/control.ts");
      const sup = await supervisorInfo(t);
      let stopped: "stopped" | "was dead" | undefined;
      if (sup) {
        if (!opts.now) {
          const { listAgents } = await import("../core/agents.ts");
          const busy = (await listAgents(t)).filter((a) =>
            (a.host ?? sup.host) === sup.host && a.round_started_at
          );
          if (busy.length) {
            note(
              `tt: waiting for running rounds to finish (${
                busy.map((a) => a.name).join(", ")
              }; --now kills them)`,
            );
          }
        }
        stopped = await stopSupervisor(t, sup, !!opts.now);
      }
      // Other hosts' supervisors (TT_HOST): stopped with --all, else they keep the Redis up.
      const { liveSupervisors, stopOtherHost } = await import("../core/hosts.ts");
      const here = sup?.host ?? (await import("../core/control.ts")).thisHost();
      const others = (await liveSupervisors(t)).filter((x) => x.host !== here);
      const otherStops: { host: string; pid: number; result: string }[] = [];
      if (opts.all) {
        for (const o of others) {
          otherStops.push({ ...o, result: await stopOtherHost(t, o, !!opts.now) });
        }
      }
      const stillUp = opts.all
        ? otherStops.filter((o) => o.result !== "stopped").map((o) => o.host)
        : others.map((o) => o.host);
      const r = stillUp.length && t.managed ? "kept" : await stopManagedServer(t);
      if (r !== "stopped") await t.close();
      output(
        g.json,
        {
          town: t.name,
          supervisor: stopped === "stopped" ? "stopped" : "not running",
          redis: r,
          ...(opts.all ? { hosts: otherStops.map(({ host, result }) => ({ host, result })) } : {}),
          ...(stillUp.length ? { hosts_up: stillUp } : {}),
        },
        () => [
          ...(stopped === "stopped" ? [`Stopped the supervisor (pid ${sup!.pid})`] : []),
          ...(stopped === "was dead"
            ? [`The supervisor (pid ${sup!.pid}) was not running; removed its stale heartbeat`]
            : []),
          ...otherStops.map((o) =>
            o.result === "stopped"
              ? `Stopped the supervisor of host ${o.host}`
              : `The supervisor of host ${o.host} did not answer: stop it there ('tt stop' with TT_HOST=${o.host})`
          ),
          r === "kept"
            ? `Kept the Redis of ${t.name} running: supervisors of host(s) ${
              stillUp.join(", ")
            } use it ('tt stop --all' stops them too)`
            : r === "stopped"
            ? `Stopped the Redis of ${t.name} (data saved in ${t.root}/.tt)`
            : `Redis of ${t.name} is external (${t.redisUrl}); tt does not stop it`,
        ],
      );
    });

  program.command("towns")
    .description("list the towns registered on this machine (~/.tt/towns.toml)")
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const { loadTownRegistry, exists, TOWN_FILE } = await import("../core/config.ts");
      const towns = await loadTownRegistry();
      const rows = await Promise.all(towns.map(async (t) => ({
        ...t,
        status: await exists(`${t.path}/${TOWN_FILE}`) ? "ok" : "missing",
      })));
      output(
        g.json,
        rows,
        () =>
          rows.length
            ? rows.map((r) =>
              `${r.name}  ${r.path}${
                r.status === "ok" ? "" : color.red("  (tinytown.toml missing)")
              }`
            )
            : "No towns registered yet. Run 'tt init' in a project.",
      );
    });

  program.command("config")
    .description("show or set user settings in ~/.tt/config.toml (used by towns created later)")
    .argument("[key]", "default_cli | conductor_cli | redis_url | agent_clis.<name>")
    .argument("[value]", "new value ('' unsets)")
    .action(async (key, value, _opts, cmd) => {
      const g = globals(cmd);
      const cfgMod = await import("../core/config.ts");
      const { CLI_PRESETS } = await import("../core/presets.ts");
      const cfg = await cfgMod.loadGlobalConfig();
      if (key === undefined) {
        output(
          g.json,
          {
            path: `${cfgMod.ttHome()}/config.toml`,
            ...cfg,
            ...(cfg.redis_url ? { redis_url: redact(cfg.redis_url) } : {}),
            presets: CLI_PRESETS,
          },
          () => [
            `${color.bold("config")} ${cfgMod.ttHome()}/config.toml`,
            `default_cli = ${cfg.default_cli}`,
            `conductor_cli = ${cfg.conductor_cli ?? "(default_cli)"}`,
            `redis_url = ${cfg.redis_url ? redact(cfg.redis_url) : "(managed per town)"}`,
            ...Object.entries(cfg.agent_clis).map(([k, v]) => `agent_clis.${k} = ${v}`),
            "",
            color.bold("built-in CLI presets"),
            ...Object.entries(CLI_PRESETS).map(([k, v]) => `  ${k.padEnd(11)} ${v}`),
          ],
        );
        return;
      }
      const clis = key.startsWith("agent_clis.") ? key.slice("agent_clis.".length) : undefined;
      if (!["default_cli", "conductor_cli", "redis_url"].includes(key) && !clis) {
        throw new UsageError(
          `unknown config key '${key}': use default_cli, conductor_cli, redis_url or agent_clis.<name>`,
        );
      }
      if (value === undefined) {
        const raw = clis ? cfg.agent_clis[clis] : (cfg as Record<string, unknown>)[key];
        // The password stays in the file (0600): it is never printed, --json included.
        const v = raw !== undefined && key === "redis_url" ? redact(String(raw)) : raw;
        output(g.json, { key, value: v ?? null }, () => v === undefined ? "" : String(v));
        return;
      }
      const next = structuredClone(cfg) as Record<string, unknown> & typeof cfg;
      if (clis) {
        if (value === "") delete next.agent_clis[clis];
        else next.agent_clis[clis] = value;
      } else if (value === "") {
        if (key === "default_cli") throw new UsageError("default_cli cannot be empty");
        delete next[key];
      } else next[key] = value;
      const { GlobalConfig, validate } = await import("../core/config_schema.ts");
      const valid = validate(GlobalConfig, next, "config");
      const path = await cfgMod.saveGlobalConfig(valid);
      const shown = key === "redis_url" ? redact(value) : value;
      output(g.json, { key, value: shown, path }, () => `Set ${key} in ${path}`);
    });
}
