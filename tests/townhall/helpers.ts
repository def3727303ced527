/** Runs a real `tt townhall` (port 0) in a sandbox town and talks to it over loopback HTTP. */
import assert from "node:assert/strict";
import { Sandbox, snapshotTown, townOf } from "../helpers.ts";
import { spawnTt, waitUntil } from "../agent_helpers.ts";
import { supervisorInfo } from "../../src/core/control.ts";
import type { TownContext } from "../../src/core/town.ts";

/**
 * A sandbox whose `tt` runs share this process's Deno cache: the sandbox's temporary HOME would
 * otherwise give every run a cold DENO_DIR (seconds per start instead of ~0.2 s).
 */
export class HallSandbox extends Sandbox {
  override env(extra: Record<string, string> = {}): Record<string, string> {
    const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
    return super.env({ DENO_DIR: denoDir, ...extra });
  }
}

export interface Hall {
  url: string;
  sb: Sandbox;
  name: string;
  t: TownContext;
  /** The key the server created at start (printed once on stderr); api() uses it by default. */
  createdKey?: string;
  /** Everything the server wrote to stderr so far (read after stop()). */
  stderr: () => string;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop: () => Promise<number>;
}

export interface HallOptions {
  /** Lines added to the [townhall] section of tinytown.toml. */
  townhall?: string;
  /** Extra tinytown.toml text appended at the end (e.g. a [townhall.rate_limit] table). */
  append?: string;
  /** API keys to create before the server starts: scopes per key. */
  keys?: string[][];
  args?: string[];
  sandbox?: Sandbox;
  name?: string;
}

export interface StartedHall extends Hall {
  /** The key texts created by `keys`, in order. */
  keys: string[];
}

const KEY_IN_TEXT = /\btt_[A-Za-z0-9_-]{43}\b/;

/** Starts `tt townhall --port 0 --json` and waits for its listening line. */
export async function startHall(opts: HallOptions = {}): Promise<StartedHall> {
  const sb = opts.sandbox ?? new HallSandbox();
  const name = opts.name ?? await sb.init();
  const file = `${sb.dir}/tinytown.toml`;
  let toml = await Deno.readTextFile(file);
  if (opts.townhall) toml = toml.replace(/^port = 8080$/m, `port = 8080\n${opts.townhall}`);
  if (opts.append) toml += `\n${opts.append}\n`;
  await Deno.writeTextFile(file, toml);
  const keys: string[] = [];
  for (const scopes of opts.keys ?? []) {
    const args = ["auth", "gen-key", ...scopes.flatMap((s) => ["--scope", s])];
    keys.push((await sb.ok(args)).stdout.trim());
  }
  const child = spawnTt(sb, ["townhall", "--port", "0", "--json", ...(opts.args ?? [])]);
  let err = "";
  const errDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  reader.releaseLock();
  let exited: Promise<Deno.CommandStatus> | undefined;
  const stop = async () => {
    exited ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const s = await child.status;
      await errDone;
      await child.stdout.cancel().catch(() => {});
      return s;
    })();
    return (await exited).code;
  };
  if (!out.includes("\n")) {
    await stop();
    throw new Error(`townhall did not start: ${out}${err}`);
  }
  const info = JSON.parse(out.split("\n")[0]) as { url: string; created_key_id?: string };
  let createdKey: string | undefined;
  if (info.created_key_id) {
    // The banner is written before the listening line; its pipe may lag behind: bounded wait.
    for (let i = 0; i < 500 && !KEY_IN_TEXT.test(err); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    createdKey = KEY_IN_TEXT.exec(err)?.[0];
    if (!createdKey) {
      await stop();
      throw new Error(`townhall created key ${info.created_key_id} but printed none: ${err}`);
    }
  }
  return {
    url: info.url,
    sb,
    name,
    t: await townOf(name),
    keys,
    createdKey,
    stderr: () => err,
    stop,
  };
}

/** Stops the server, closes the Redis context, removes the sandbox. */
/** Stops the town's supervisor (SIGTERM) and waits until it is gone; none running is fine. */
export async function stopSupervisor(h: Hall) {
  const info = await supervisorInfo(h.t);
  if (!info) return;
  try {
    Deno.kill(info.pid, "SIGTERM");
  } catch { /* gone */ }
  await waitUntil(async () => !(await supervisorInfo(h.t)));
}

/**
 * Asserts the town's keys and values are as in `before` (a snapshotTown) but for its event
 * stream, where refused requests are audited.
 */
export async function assertUnchangedButEvents(
  h: Hall,
  before: Record<string, unknown>,
  message?: string,
) {
  const { [h.t.keys.events]: _a, ...after } = await snapshotTown(h.t);
  const { [h.t.keys.events]: _b, ...was } = before;
  assert.deepEqual(after, was, message);
}

export async function closeHall(h: Hall): Promise<void> {
  try {
    await h.stop();
  } finally {
    await h.t.close();
    h.sb.cleanup();
  }
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * One JSON request as a well-behaved client sends it; `body` as a string is sent verbatim (for
 * malformed input). The key is `key`, else the one the server created (`key: null` sends none).
 * State-changing methods carry `Content-Type: application/json` unless `headers` sets another.
 */
export async function api<T = Record<string, unknown>>(
  h: Hall,
  method: string,
  path: string,
  opts: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === null ? undefined : opts.key ?? h.createdKey;
  if (key) headers.authorization ??= `Bearer ${key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  }
  if (opts.body !== undefined || !["GET", "HEAD", "OPTIONS"].includes(method)) {
    if (!Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) {
      headers["content-type"] = "application/json";
    }
  }
  const res = await fetch(`${h.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* not JSON (metrics) */ }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Field names used by the request bodies of the write routes (for fuzz and property tests). */
export const BODY_FIELDS = [
  "to",
  "message",
  "kind",
  "from",
  "urgent",
  "agent",
  "description",
  "tags",
  "result",
  "reason",
  "force",
  "verify",
  "skip_verify",
  "name",
  "cli",
  "rounds",
  "all",
  "to_backlog",
  "action",
  "parent",
];
