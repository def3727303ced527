/**
 * The operator channel: the supervisor runs the operator's short commands (`tt assign`, `tt
 * status`, `tt task list`…, OPERATOR_PATHS) for their `tt` (src/cli/operator_client.ts), in
 * this process, where the town is open and the code loaded. The command is parsed by the lean
 * path's parser and runs the same action with the same output; whatever the lean path would not
 * take, a command outside the list, another town or another Redis target (REDIS_URL, TT_HOME,
 * HOME differ), or a tinytown.toml changed since this supervisor read it, is answered `fallback`
 * before anything runs, and the client runs it itself.
 *
 * Who may ask: whoever can open `.tt/operator/<id>.sock` (mode 600 in a directory of mode 700,
 * beside the managed Redis socket, which the agent sandbox hides the same way) and read the
 * secret written beside it at each start. That is the operator, who has the town's Redis too: the
 * channel gives nothing a process without that access could not get. A wrong secret runs nothing
 * (it is answered `fallback`: the caller can only do what it could do without the channel) and is
 * logged.
 */
import { z } from "zod";
import type { TownContext } from "../../core/town.ts";
import type { LeanCommand } from "../../cli/lean.ts";
import { connectRedis, type Redis } from "../../redis/connection.ts";
import { managedPaths } from "../../redis/server.ts";
import { inScopeOf } from "./run.ts";
import { VERSION } from "../../version.ts";
import { randomHex, sameSecret, serveLines } from "./server.ts";
import { configStamp, OPERATOR_PATHS, operatorPaths, TARGET_ENV } from "./operator_wire.ts";
import { TOWN_FILE } from "../../core/town_root.ts";

const OperatorRequest = z.object({
  v: z.literal(1),
  version: z.string().max(64),
  token: z.string().max(256),
  argv: z.array(z.string()).max(256),
  root: z.string().max(4096),
  config: z.string().max(64),
  env: z.record(z.string(), z.string().max(8192)),
  caller: z.object({
    agentId: z.string().max(256).optional(),
    agentName: z.string().max(256).optional(),
  }).strict(),
  color: z.boolean(),
}).strict();

/** Requests run at once; more fall back (the client runs them itself). */
const MAX_IN_FLIGHT = 16;

const fallback = (why: string) => ({ fallback: why });

export interface OperatorChannel {
  close(): Promise<void>;
}

/**
 * Listens for the operator of `host` on this town. Undefined (logged) when the socket cannot be
 * made: the operator's commands then run in their own process, as without a supervisor.
 */
export async function openOperatorChannel(
  town: TownContext,
  host: string,
  log: (line: string) => void,
): Promise<OperatorChannel | undefined> {
  const paths = operatorPaths(town.root, host);
  const token = randomHex(32);
  let listener: Deno.Listener<Deno.UnixConn>;
  let config: string;
  try {
    config = configStamp(await Deno.stat(`${town.root}/${TOWN_FILE}`));
    await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(paths.dir, 0o700);
    // This host's supervisor is the only one of the town here (its lock): what is left is stale.
    await Deno.remove(paths.socket).catch(() => {});
    const tmp = `${paths.token}.${Deno.pid}`;
    await Deno.writeTextFile(tmp, token + "\n", { mode: 0o600 });
    await Deno.rename(tmp, paths.token);
    listener = Deno.listen({ transport: "unix", path: paths.socket });
    await Deno.chmod(paths.socket, 0o600);
  } catch (e) {
    log(`operator channel not opened (${(e as Error).message}): short commands run on their own`);
    return undefined;
  }
  const conn = new OneShotConnection(town);
  const server = serveLines(
    listener,
    MAX_IN_FLIGHT,
    (raw) => answer(town, conn, { token, config }, raw, log),
    fallback("busy"),
  );
  return {
    close: async () => {
      await server.close();
      conn.close();
      await Deno.remove(paths.socket).catch(() => {});
      await Deno.remove(paths.token).catch(() => {});
    },
  };
}

async function answer(
  town: TownContext,
  conn: OneShotConnection,
  own: { token: string; config: string },
  raw: string | undefined,
  log: (line: string) => void,
): Promise<unknown> {
  let data: unknown;
  try {
    data = raw === undefined ? undefined : JSON.parse(raw);
  } catch { /* below */ }
  const req = OperatorRequest.safeParse(data);
  if (!req.success) return fallback("malformed request");
  const r = req.data;
  if (!sameSecret(r.token, own.token)) {
    log("operator channel: refused a request with a wrong secret");
    return fallback("wrong secret");
  }
  if (r.version !== VERSION) return fallback(`tt ${r.version}, this supervisor is ${VERSION}`);
  if (r.root !== town.root) return fallback("another town");
  if (r.config !== own.config) {
    return fallback("tinytown.toml changed since the supervisor read it");
  }
  for (const k of TARGET_ENV) {
    if ((r.env[k] ?? "") !== (Deno.env.get(k) ?? "")) return fallback(`${k} differs`);
  }
  const { leanParse, runParsed } = await import("../../cli/lean.ts");
  const parsed = await leanParse(r.argv);
  if (!parsed || !OPERATOR_PATHS.has(pathOf(parsed.command))) {
    return fallback("not a command the supervisor runs");
  }
  const redis = await conn.get();
  if (!redis) return fallback("Redis not reachable from the supervisor");
  const scoped = { ...town, redis };
  return await inScopeOf(
    scoped,
    { caller: r.caller, color: r.color, operator: true },
    () => runParsed(parsed),
  );
}

/** The command's path below the program (`task list`). */
function pathOf(cmd: LeanCommand): string {
  const names: string[] = [];
  for (let c: LeanCommand | undefined = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * The connection operator requests run on: it fails at once when Redis goes away, as a one-shot
 * tt's does (the supervisor's own waits for Redis for ever, and a request held on it would hang
 * the operator's command while nobody restarts a managed Redis). Made again once it has broken;
 * when Redis cannot be reached the client runs the command itself (and restarts a managed one).
 */
class OneShotConnection {
  #conn?: Redis;
  #connecting?: Promise<Redis | undefined>;

  constructor(readonly town: TownContext) {}

  async get(): Promise<Redis | undefined> {
    if (this.#conn?.status === "ready") return this.#conn;
    // Requests arriving together share one new connection.
    return await (this.#connecting ??= this.#connect().finally(() => this.#connecting = undefined));
  }

  async #connect(): Promise<Redis | undefined> {
    this.close();
    const t = this.town;
    try {
      this.#conn = await connectRedis(
        t.managed ? `unix://${managedPaths(t.root).socket}` : t.connectUrl!,
        {
          name: "tt-operator",
          waitReplicas: t.config.redis.wait_replicas,
          waitTimeoutMs: t.config.redis.wait_timeout_ms,
        },
      );
      return this.#conn;
    } catch {
      return undefined;
    }
  }

  close() {
    this.#conn?.disconnect();
    this.#conn = undefined;
  }
}
