/**
 * Short commands through this host's supervisor: when it runs, `tt assign`, `tt status`, `tt task
 * list`… are sent to its operator channel (src/supervisor/channel/operator.ts) and run there, in
 * a process that has the town open and its code loaded, instead of loading zod, the config and a
 * Redis client for one command. The command, its output and its exit code are the lean path's
 * own (the supervisor runs the lean parse and the same action). Anything it will not run (no
 * supervisor, another tt version, another Redis in REDIS_URL, tinytown.toml changed since the
 * supervisor read it, help, a usage error…) comes back as "fallback" before anything ran, and
 * this process runs the command itself. Few imports: this runs before every short command.
 * `TT_OPERATOR_CHANNEL=0` turns it off.
 */
import { findTownRoot, TOWN_FILE } from "../core/town_root.ts";
import { thisHost } from "../core/host_name.ts";
import { VERSION } from "../version.ts";
import { startTimer } from "../core/timer.ts";
import {
  configStamp,
  OPERATOR_COMMANDS,
  operatorPaths,
  TARGET_ENV,
} from "../supervisor/channel/operator_wire.ts";

/** How long a request may run in the supervisor before this client gives up on it. */
const REPLY_TIMEOUT_MS = 120_000;

/** Runs `argv` through the supervisor; undefined when this process must run it (nothing ran). */
export async function viaSupervisor(argv: string[]): Promise<number | undefined> {
  const env = (k: string) => {
    try {
      return Deno.env.get(k);
    } catch {
      return undefined; // env access scoped without it (deno run --allow-env=…)
    }
  };
  if (env("TT_OPERATOR_CHANNEL") === "0" || env("TT_DEBUG")) return undefined;
  const { town, command } = leadingArgs(argv);
  if (command === undefined || !OPERATOR_COMMANDS.has(command)) return undefined;
  let root: string;
  let paths: ReturnType<typeof operatorPaths>;
  let token: string;
  let config: string;
  let conn: Deno.UnixConn;
  try {
    root = await findTownRoot(town);
    paths = operatorPaths(root, thisHost());
    token = (await Deno.readTextFile(paths.token)).trim();
    config = configStamp(await Deno.stat(`${root}/${TOWN_FILE}`));
    conn = await Deno.connect({ transport: "unix", path: paths.socket });
  } catch {
    return undefined; // no town, no supervisor here, or not reachable: the command runs here
  }
  const request = {
    v: 1,
    version: VERSION,
    token,
    argv,
    root,
    config,
    env: Object.fromEntries(TARGET_ENV.map((k) => [k, env(k) ?? ""])),
    caller: { agentId: env("TINYTOWN_AGENT_ID"), agentName: env("TINYTOWN_AGENT_NAME") },
    color: Deno.stdout.isTerminal() && !Deno.noColor,
  };
  let text: string;
  const timer = startTimer(REPLY_TIMEOUT_MS, () => {
    try {
      conn.close();
    } catch { /* closed already */ }
  }, { oneShot: true });
  try {
    await writeAll(conn, JSON.stringify(request) + "\n");
    await conn.closeWrite();
    text = await new Response(conn.readable).text();
  } catch (e) {
    return failed(`the request failed (${(e as Error).message})`);
  } finally {
    timer.cancel();
  }
  let reply: { fallback?: unknown; code?: unknown; stdout?: unknown; stderr?: unknown };
  try {
    reply = JSON.parse(text);
  } catch {
    // The supervisor went away while running it, or never answered: it may have run.
    return failed(text ? "its reply was unreadable" : "it gave no reply");
  }
  if (typeof reply.fallback === "string") return undefined;
  if (typeof reply.stdout === "string" && reply.stdout) await writeAll(Deno.stdout, reply.stdout);
  if (typeof reply.stderr === "string" && reply.stderr) await writeAll(Deno.stderr, reply.stderr);
  return typeof reply.code === "number" && Number.isInteger(reply.code) ? reply.code : 1;
}

/** The root options before the command (`-t/--town <dir>`, `--json`) and the command's name. */
function leadingArgs(argv: string[]): { town?: string; command?: string } {
  let town: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-t" || a === "--town") town = argv[++i];
    else if (a.startsWith("--town=")) town = a.slice("--town=".length);
    else if (a !== "--json") return { town, command: a };
  }
  return { town };
}

function failed(why: string): number {
  console.error(
    `tt: this host's supervisor did not finish the command: ${why}. It may have run: check ` +
      `(tt task list, tt status) before running it again, or set TT_OPERATOR_CHANNEL=0`,
  );
  return 1;
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, text: string) {
  let buf = new TextEncoder().encode(text);
  while (buf.length) buf = buf.subarray(await w.write(buf));
}
