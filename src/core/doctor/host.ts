/** Checks of this machine: Deno, redis-server, free disk space in the town's `.tt/`. */
import { type Check, fail, ok, warn } from "./types.ts";

/** The Deno version tt is pinned to and tested on (scripts/env.sh installs the same). */
export const TESTED_DENO = "2.9.6";

/** Runs a program to its end; undefined when it is not installed. */
export async function run(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ ok: boolean; out: string; err: string } | undefined> {
  try {
    const r = await new Deno.Command(cmd, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout).trim(), err: dec.decode(r.stderr).trim() };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export const denoCheck: Check = {
  name: "deno",
  run() {
    const v = Deno.version.deno;
    return Promise.resolve(
      v === TESTED_DENO ? ok("deno", `Deno ${v}`) : warn(
        "deno",
        `Deno ${v}; tt is tested on ${TESTED_DENO}`,
        `run tt through scripts/tt (it installs Deno ${TESTED_DENO} into .tools/), or npm install -g deno@${TESTED_DENO}`,
      ),
    );
  },
};

export const redisServerCheck: Check = {
  name: "redis-server",
  async run(ctx) {
    const name = "redis-server";
    const r = await run("redis-server", ["--version"]);
    const managed = ctx.town ? !(Deno.env.get("REDIS_URL") || ctx.town.config.redis.url) : true;
    if (!r) {
      const msg = "redis-server is not installed";
      const fix =
        "apt-get install redis-server (7.0 or newer), or set REDIS_URL to an existing Redis";
      return managed
        ? fail(name, msg, fix)
        : ok(name, `${msg} (not needed: the town uses an external Redis)`);
    }
    const v = /v=(\d+)\.(\d+)\.(\d+)/.exec(r.out);
    if (!v) {
      return warn(
        name,
        `redis-server --version said '${r.out.slice(0, 80)}'`,
        "install redis-server 7.0 or newer",
      );
    }
    const version = `${v[1]}.${v[2]}.${v[3]}`;
    if (Number(v[1]) < 7) {
      return fail(
        name,
        `redis-server ${version} is too old: tt needs 7.0 or newer`,
        "install redis-server 7.0 or newer (Debian 12's 7.0.15 is fine)",
      );
    }
    return ok(name, `redis-server ${version}`);
  },
};

/** Below these, writes (AOF, logs) may soon fail. */
const DISK_FAIL_BYTES = 100 * 2 ** 20;
const DISK_WARN_BYTES = 2 ** 30;

export const diskCheck: Check = {
  name: "disk",
  async run(ctx) {
    const name = "disk";
    if (!ctx.town) return { name, status: "skip", message: "not checked: no town", fix: null };
    const dir = `${ctx.town.root}/.tt`;
    const target = await Deno.stat(dir).then(() => dir, () => ctx.town!.root);
    const r = await run("df", ["-Pk", target]);
    const cols = r?.ok ? r.out.split("\n").pop()!.trim().split(/\s+/) : [];
    const kb = Number(cols[3]);
    if (!Number.isFinite(kb) || cols.length < 4) {
      return warn(
        name,
        `could not read the free space of ${target} (df failed)`,
        `check with: df -h ${target}`,
      );
    }
    const free = kb * 1024;
    const text = `${formatBytes(free)} free in ${target}`;
    if (free < DISK_FAIL_BYTES) {
      return fail(
        name,
        text,
        "free some space: Redis's AOF and the agents' logs are written there (.tt/logs can be deleted)",
      );
    }
    if (free < DISK_WARN_BYTES) {
      return warn(name, text, "free some space soon: Redis's AOF and the agents' logs grow there");
    }
    return ok(name, text);
  },
};

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** The agent sandbox, really created here (not `bwrap --version`), against `[agent] sandbox`. */
export const sandboxCheck: Check = {
  name: "sandbox",
  timeoutMs: 15_000,
  async run(ctx) {
    const name = "sandbox";
    const setting = ctx.town?.config.agent.sandbox ?? "auto";
    if (setting === "off") {
      return warn(
        name,
        `[agent] sandbox = "off": agents' CLIs run as you, with your files and network`,
        'remove sandbox = "off" from tinytown.toml to run them in the agent sandbox',
      );
    }
    const { probeSandbox } = await import("../../supervisor/sandbox/mod.ts");
    const p = await probeSandbox();
    if (p.ok) {
      return ok(name, `a sandbox can be created here: agents' rounds run in it (${setting})`);
    }
    const why = `no sandbox can be created here: ${p.reason}`;
    return setting === "on"
      ? fail(name, `${why}; with sandbox = "on" every round fails`, p.fix)
      : warn(name, `${why}; agents run unsandboxed`, p.fix);
  },
};
