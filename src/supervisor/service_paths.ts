/**
 * Where a town's service unit (systemd) or LaunchAgent (launchd) is, and whether it is there:
 * what `tt status` reads, without the install code (service.ts) and what it loads.
 */
import type { TownContext } from "../core/town.ts";
import { TtError } from "../core/errors.ts";
import { launchAgentsDir, launchdLabel } from "./service_launchd.ts";

/** What the service code needs from the machine (the real one, or a test's). */
export interface ServiceHost {
  os: string;
  env(name: string): string | undefined;
  uid(): number | null;
  run(argv: string[]): Promise<{ ok: boolean; detail: string }>;
}

export const realHost: ServiceHost = {
  os: Deno.build.os,
  env: (name) => Deno.env.get(name),
  uid: () => Deno.uid(),
  run: runCommand,
};

export type ServiceManager = "systemd" | "launchd";

export interface ServiceStatus {
  installed: boolean;
  /** The systemd unit name, or the launchd job label. */
  unit: string;
  path: string;
  manager: ServiceManager;
}

function managerOf(host: ServiceHost): ServiceManager {
  if (host.os === "darwin") return "launchd";
  if (host.os === "windows") {
    throw new TtError(
      "tt service is for Linux (systemd) and macOS (launchd), not Windows: the next tt command restarts a dead supervisor meanwhile",
    );
  }
  return "systemd";
}

export function unitDir(host: ServiceHost): string {
  const xdg = host.env("XDG_CONFIG_HOME");
  const home = host.env("HOME");
  if (!xdg && !home) {
    throw new TtError("neither XDG_CONFIG_HOME nor HOME is set: cannot place the unit");
  }
  return `${xdg || `${home}/.config`}/systemd/user`;
}

export function plistDir(host: ServiceHost): string {
  const home = host.env("HOME");
  if (!home) throw new TtError("HOME is not set: cannot place the LaunchAgent");
  return launchAgentsDir(home);
}

export function uidOf(host: ServiceHost): number {
  const uid = host.uid();
  if (uid === null) throw new TtError("no user id on this system: cannot name the launchd domain");
  return uid;
}

export function unitName(town: string): string {
  return `tt-${town.replace(/[^A-Za-z0-9_.-]/g, "_")}.service`;
}

/** Where town `name`'s unit (or LaunchAgent plist) is, on this machine; undefined if nowhere. */
export function servicePath(name: string, host: ServiceHost = realHost): string | undefined {
  try {
    return managerOf(host) === "launchd"
      ? `${plistDir(host)}/${launchdLabel(name)}.plist`
      : `${unitDir(host)}/${unitName(name)}`;
  } catch {
    return undefined;
  }
}

export async function serviceStatus(
  t: Pick<TownContext, "name">,
  host: ServiceHost = realHost,
): Promise<ServiceStatus> {
  let manager: ServiceManager = "systemd";
  let unit = unitName(t.name);
  let path = "";
  try {
    manager = managerOf(host);
    if (manager === "launchd") unit = launchdLabel(t.name);
    path = servicePath(t.name, host) ?? "";
    return { installed: (await Deno.stat(path)).isFile, unit, path, manager };
  } catch {
    return { installed: false, unit, path, manager };
  }
}

async function runCommand(argv: string[]): Promise<{ ok: boolean; detail: string }> {
  try {
    const r = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const detail = new TextDecoder().decode(r.stderr).trim().split("\n")[0] ?? "";
    return { ok: r.success, detail: detail || `exit code ${r.code}` };
  } catch (e) {
    return { ok: false, detail: `${argv[0]}: ${(e as Error).message}` };
  }
}
