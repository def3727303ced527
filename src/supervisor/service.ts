/**
 * `tt service install|uninstall`: a systemd user unit that starts the town's supervisor at login
 * (or boot, with lingering) and restarts it when it dies (Restart=on-failure: a supervisor that
 * exits because its agents are done stays down until a tt command needs it). launchd on macOS is
 * not implemented and says so.
 */
import type { TownContext } from "../core/town.ts";
import { TtError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/config.ts";
import { selfCommand } from "./self.ts";

export interface ServiceStatus {
  installed: boolean;
  unit: string;
  path: string;
}

function unitDir(): string {
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  const home = Deno.env.get("HOME");
  if (!xdg && !home) {
    throw new TtError("neither XDG_CONFIG_HOME nor HOME is set: cannot place the unit");
  }
  return `${xdg || `${home}/.config`}/systemd/user`;
}

export function unitName(town: string): string {
  return `tt-${town.replace(/[^A-Za-z0-9_.-]/g, "_")}.service`;
}

function notOnMac() {
  if (Deno.build.os === "darwin") {
    throw new TtError(
      "tt service is not implemented on macOS yet (it would be a launchd plist): the next tt command restarts a dead supervisor meanwhile",
    );
  }
}

export async function serviceStatus(t: Pick<TownContext, "name">): Promise<ServiceStatus> {
  const unit = unitName(t.name);
  let path = "";
  try {
    path = `${unitDir()}/${unit}`;
    return { installed: (await Deno.stat(path)).isFile, unit, path };
  } catch {
    return { installed: false, unit, path };
  }
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
  permissions?: string[],
): string {
  const exec = [...selfCommand(permissions), "--town", t.root, "supervise"].map(sdQuote).join(
    " ",
  );
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

async function systemctl(args: string[]): Promise<{ ok: boolean; detail: string }> {
  try {
    const r = await new Deno.Command("systemctl", {
      args: ["--user", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const detail = new TextDecoder().decode(r.stderr).trim().split("\n")[0] ?? "";
    return { ok: r.success, detail: detail || `exit code ${r.code}` };
  } catch (e) {
    return { ok: false, detail: `systemctl: ${(e as Error).message}` };
  }
}

export interface InstallResult extends ServiceStatus {
  /** Whether `systemctl --user enable --now` ran and succeeded. */
  enabled: boolean;
}

/**
 * Writes the unit (PATH and, when set, REDIS_URL of this shell go in, so agents find their CLIs;
 * the file is mode 600) and enables it, unless `enable` is false. A failed enable throws after the
 * unit is written, saying how to enable it by hand.
 */
export async function installService(
  t: Pick<TownContext, "name" | "root"> | TownContext,
  enable = true,
): Promise<InstallResult> {
  notOnMac();
  const status = await serviceStatus(t);
  // The supervisor's narrowed permissions, as of now: after changing [agent] sandbox or the Redis
  // URL, install the unit again.
  const permissions = "redis" in t
    ? await (await import("./permissions.ts")).supervisorFlags(t)
    : undefined;
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
  };
  const redisUrl = Deno.env.get("REDIS_URL");
  if (redisUrl) env.REDIS_URL = redisUrl;
  await Deno.mkdir(unitDir(), { recursive: true });
  await writeFileAtomic(status.path, unitText(t, env, permissions), 0o600);
  if (!enable) return { ...status, installed: true, enabled: false };
  for (const args of [["daemon-reload"], ["enable", "--now", status.unit]]) {
    const r = await systemctl(args);
    if (!r.ok) {
      throw new TtError(
        `wrote ${status.path}, but 'systemctl --user ${
          args.join(" ")
        }' failed (${r.detail}): enable it with 'systemctl --user enable --now ${status.unit}' where a user systemd runs`,
      );
    }
  }
  return { ...status, installed: true, enabled: true };
}

export async function uninstallService(t: Pick<TownContext, "name">): Promise<ServiceStatus> {
  notOnMac();
  const status = await serviceStatus(t);
  if (!status.installed) {
    throw new TtError(`no service installed for town ${t.name} (${status.path || status.unit})`);
  }
  await systemctl(["disable", "--now", status.unit]); // best effort: the unit may never have run
  await Deno.remove(status.path);
  await systemctl(["daemon-reload"]);
  return { ...status, installed: false };
}
