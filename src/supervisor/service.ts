/**
 * `tt service install|uninstall`: keeps the town's supervisor running across crashes and reboots.
 * On Linux a systemd user unit that starts it at login (or boot, with lingering) and restarts it
 * when it dies (Restart=on-failure: a supervisor that exits because its agents are done stays down
 * until a tt command needs it); on macOS a launchd LaunchAgent with the same behaviour
 * (service_launchd.ts). Every command the install runs (or would run, with `enable` false) is in
 * the result, so the operator sees exactly what was done.
 */
import type { TownContext } from "../core/town.ts";
import { TtError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/config.ts";
import { selfCommand } from "./self.ts";
import { shellQuote } from "./shell.ts";
import { launchctlCommands, plistText } from "./service_launchd.ts";
import {
  plistDir,
  realHost,
  type ServiceHost,
  type ServiceStatus,
  serviceStatus,
  uidOf,
  unitDir,
} from "./service_paths.ts";

export {
  realHost,
  type ServiceHost,
  type ServiceManager,
  servicePath,
  type ServiceStatus,
  serviceStatus,
  unitName,
} from "./service_paths.ts";

/** One argv as a shell command line (quoted only where needed), for showing what runs. */
export function commandLine(argv: string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : shellQuote(a)).join(" ");
}

/** systemd quoting of one ExecStart/Environment word. */
function sdQuote(s: string): string {
  const escaped = s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")
    .replaceAll("\r", "\\r").replaceAll("%", "%%").replaceAll("$", "$$$$");
  return `"${escaped}"`;
}

/** Text for an unquoted unit line: no control characters, no specifiers. */
const plain = (s: string) =>
  [...s].map((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127 ? " " : c).join("")
    .replaceAll("%", "%%");

/** `permissions`: the supervisor's narrowed flags (permissions.ts), fixed when the unit is written. */
export function unitText(
  t: Pick<TownContext, "name" | "root">,
  env: Record<string, string>,
  program = [...selfCommand(), "--town", t.root, "supervise"],
): string {
  const exec = program.map(sdQuote).join(" ");
  return [
    "# Written by `tt service install`; `tt service uninstall` removes it.",
    "[Unit]",
    `Description=${plain(`Tinytown supervisor of town ${t.name} (${t.root})`)}`,
    "",
    "[Service]",
    "Type=simple",
    `WorkingDirectory=${sdQuote(t.root)}`,
    ...Object.entries(env).map(([k, v]) => `Environment=${sdQuote(`${k}=${v}`)}`),
    `ExecStart=${exec}`,
    "Restart=on-failure",
    "RestartSec=2",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

export interface InstallResult extends ServiceStatus {
  /** Whether the service was loaded and started (systemctl enable --now / launchctl bootstrap). */
  enabled: boolean;
  /** The commands run (or, when not enabled, to run by hand), as shell command lines. */
  commands: string[];
}

/** Runs each command in order; the first failure throws, naming it and the file written. */
async function runAll(host: ServiceHost, path: string, commands: string[][]) {
  for (const argv of commands) {
    const r = await host.run(argv);
    if (!r.ok) {
      throw new TtError(
        `wrote ${path}, but '${commandLine(argv)}' failed (${r.detail}): run it by hand where ${
          argv[0] === "launchctl" ? "you are logged in to the Mac's desktop" : "a user systemd runs"
        }`,
      );
    }
  }
}

/**
 * Writes the unit or plist (PATH and, when set, REDIS_URL and the TLS CA variables DENO_CERT and
 * NODE_EXTRA_CA_CERTS of this shell go in, so agents find their CLIs and Redis is trusted; the
 * file is mode 600) and loads it, unless `enable` is false. A failed load throws after the file
 * is written, saying which command to run by hand.
 */
export async function installService(
  t: Pick<TownContext, "name" | "root"> | TownContext,
  enable = true,
  host: ServiceHost = realHost,
): Promise<InstallResult> {
  const status = await serviceStatus(t, host);
  // The supervisor's narrowed permissions, as of now: after changing [agent] sandbox or the Redis
  // URL, install the service again.
  const permissions = "redis" in t
    ? await (await import("./permissions.ts")).supervisorFlags(t)
    : undefined;
  const env: Record<string, string> = {
    PATH: host.env("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
  };
  const redisUrl = host.env("REDIS_URL");
  if (redisUrl) env.REDIS_URL = redisUrl;
  // The private CA of a TLS Redis (Deno reads these at start-up, whatever the permissions).
  for (const k of ["DENO_CERT", "NODE_EXTRA_CA_CERTS"]) {
    const v = host.env(k);
    if (v) env[k] = v;
  }
  const program = [...selfCommand(permissions), "--town", t.root, "supervise"];
  let commands: string[][];
  if (status.manager === "launchd") {
    const lc = launchctlCommands(uidOf(host), status.unit, status.path);
    // A job loaded before (reinstall) must be booted out first, or bootstrap fails.
    if (enable && status.installed) await host.run(lc.unload);
    await Deno.mkdir(plistDir(host), { recursive: true });
    await Deno.mkdir(`${t.root}/.tt/logs`, { recursive: true });
    const text = plistText({ label: status.unit, program, root: t.root, env });
    await writeFileAtomic(status.path, text, 0o600);
    commands = [lc.load];
  } else {
    await Deno.mkdir(unitDir(host), { recursive: true });
    await writeFileAtomic(status.path, unitText(t, env, program), 0o600);
    commands = [
      ["systemctl", "--user", "daemon-reload"],
      ["systemctl", "--user", "enable", "--now", status.unit],
    ];
  }
  const shown = commands.map(commandLine);
  if (!enable) return { ...status, installed: true, enabled: false, commands: shown };
  await runAll(host, status.path, commands);
  return { ...status, installed: true, enabled: true, commands: shown };
}

export async function uninstallService(
  t: Pick<TownContext, "name">,
  host: ServiceHost = realHost,
): Promise<ServiceStatus & { commands: string[] }> {
  const status = await serviceStatus(t, host);
  if (!status.installed) {
    throw new TtError(`no service installed for town ${t.name} (${status.path || status.unit})`);
  }
  // Best effort: the service may never have been loaded.
  const commands: string[][] = [];
  if (status.manager === "launchd") {
    const unload = launchctlCommands(uidOf(host), status.unit, status.path).unload;
    commands.push(unload);
    await host.run(unload);
    await Deno.remove(status.path);
  } else {
    const disable = ["systemctl", "--user", "disable", "--now", status.unit];
    const reload = ["systemctl", "--user", "daemon-reload"];
    commands.push(disable, reload);
    await host.run(disable);
    await Deno.remove(status.path);
    await host.run(reload);
  }
  return { ...status, installed: false, commands: commands.map(commandLine) };
}
