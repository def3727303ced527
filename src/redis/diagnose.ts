/**
 * Naming what went wrong with Redis in one line: a disk that cannot take the AOF, a managed
 * socket that was deleted, a server that exited or that cannot be reached. The connection and
 * server modules record which Redis this process uses; main.ts asks here when a command fails.
 * Imports no Redis client (it runs on the error path of every command, `--help` included).
 */
import { redactUrl } from "./url.ts";

interface Target {
  /** The URL connected to, password masked. */
  url?: string;
  /** The managed server's files, when tt runs it. */
  managed?: { runtimeDir: string; socket: string; logFile: string; pidFile: string };
  /** Asks the server (on a fresh connection) where and how it persists. */
  probe?: () => Promise<PersistenceInfo>;
}

/** From INFO persistence and CONFIG GET dir (which a server may refuse). */
export interface PersistenceInfo {
  dir?: string;
  aofFailing: boolean;
  rdbFailing: boolean;
}

const target: Target = {};

/** Called by connectRedis: the Redis this process talks to. */
export function noteRedisUrl(url: string) {
  target.url = redactUrl(url);
}

/** Called by connectRedis: how to ask that server about its persistence after a failure. */
export function noteRedisProbe(probe: () => Promise<PersistenceInfo>) {
  target.probe = probe;
}

/** Called by ensureManagedRedis: this process uses the town's own redis-server. */
export function noteManagedServer(paths: Required<Target>["managed"]) {
  target.managed = paths;
}

/** A path as the user knows it: relative to the town root when inside it. */
export function shownPath(path: string, runtimeDir = target.managed?.runtimeDir): string {
  if (!runtimeDir) return path;
  const root = runtimeDir.replace(/\/\.tt$/, "");
  return path.startsWith(root + "/") ? path.slice(root.length + 1) : path;
}

const DISK_RE = /No space left on device|disk is full|ENOSPC|Disk quota exceeded|EDQUOT/i;
const LOST_RE = /Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable|socket hang up/i;

/** The reason in the managed server's log why it last could not write its AOF, if that is why. */
export async function aofWriteFailure(logFile: string): Promise<string | undefined> {
  let text: string;
  try {
    const f = await Deno.open(logFile, { read: true });
    try {
      const size = (await f.stat()).size;
      const start = Math.max(0, size - 16 * 1024);
      await f.seek(start, Deno.SeekMode.Start);
      const buf = new Uint8Array(size - start);
      let off = 0;
      while (off < buf.length) {
        const n = await f.read(buf.subarray(off));
        if (n === null) break;
        off += n;
      }
      text = new TextDecoder().decode(buf.subarray(0, off));
    } finally {
      f.close();
    }
  } catch {
    return undefined;
  }
  // Only the server's last run counts: a disk that filled up before and was freed since is fine.
  const lastRun = text.split(/Redis is starting/).pop() ?? "";
  const m =
    /(?:Error writing to the AOF file|Can't (?:open|persist|rename)[^:\n]*|Background AOF[^:\n]*|fsync[^:\n]*): ([^\n]+)/i
      .exec(lastRun);
  return m ? m[1].trim() : undefined;
}

/** Free space below which a disk counts as full for Redis (KiB): an AOF append needs a page. */
export const MIN_FREE_KIB = 1024;

/** Free space of the file system holding `dir` in KiB (undefined if df cannot tell). */
export async function freeKiB(dir: string): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("df", {
      args: ["-Pk", dir],
      stdout: "piped",
      stderr: "null",
    }).output();
    const last = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
    const avail = Number(last.split(/\s+/)[3]);
    return out.success && Number.isFinite(avail) ? avail : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one-line disk message for the managed server, from its log (the reason it last failed to
 * write its AOF) or, since a full disk often cannot take that log line either, from the free
 * space left where its AOF lives. Undefined when neither points at the disk.
 */
export async function managedDiskMessage(): Promise<string | undefined> {
  const m = target.managed;
  if (!m) return undefined;
  const why = await aofWriteFailure(m.logFile);
  const free = await freeKiB(m.runtimeDir);
  const full = free !== undefined && free < MIN_FREE_KIB;
  if (!why && !full) return undefined;
  const reason = why ?? "No space left on device";
  return diskLine(m.runtimeDir, full ? `${reason}; ${free} KiB free` : reason, m.logFile);
}

export function diskLine(dir: string, why: string, logFile?: string): string {
  const full = DISK_RE.test(why) ? "disk full" : "write error";
  return `Redis cannot write its AOF in ${dir}: ${full} (${why}); free space there, then run tt again${
    logFile ? ` (see ${logFile})` : ""
  }`;
}

/**
 * One line for an error from Redis or the connection to it, or undefined if `e` is something
 * else. Reply errors come from the server (MISCONF: it cannot persist); lost connections are
 * explained from the managed server's state when tt runs it.
 */
export async function describeRedisFailure(e: unknown): Promise<string | undefined> {
  // A MULTI whose queued commands were refused (MISCONF…): EXECABORT, the cause inside.
  const inner = (e as { previousErrors?: unknown[] })?.previousErrors?.[0];
  if (inner && /^EXECABORT/.test((e as Error).message)) return await describeRedisFailure(inner);
  const msg = e instanceof Error ? e.message : String(e);
  const name = (e as { name?: string })?.name;
  if (/^MISCONF\b/.test(msg) || (name === "ReplyError" && DISK_RE.test(msg))) {
    const managed = await managedDiskMessage();
    if (managed) return managed;
    // A script's error carries its sha and line: not the user's business.
    const why = msg.replace(/^MISCONF\s*/, "").replace(/\s*script: [0-9a-f]{40}.*$/, "");
    const dir = target.managed?.runtimeDir;
    if (dir) return diskLine(dir, why, target.managed?.logFile);
    const p = target.probe
      ? await Promise.race([
        target.probe().catch(() => undefined),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 2500)),
      ])
      : undefined;
    const what = p?.aofFailing || /AOF/.test(msg) ? "AOF" : p?.rdbFailing ? "RDB snapshot" : "data";
    const where = p?.dir ? ` in ${p.dir}` : "";
    const full = DISK_RE.test(msg) ? "disk full" : "it cannot persist";
    return `Redis at ${
      target.url ?? "its URL"
    } cannot write its ${what}${where}: ${full} (${why}); writes are refused until it can`;
  }
  if (/^MOVED \d+ /.test(msg)) {
    // A plain redis:// URL at one node of a cluster: the node redirects every key elsewhere.
    return `Redis at ${
      target.url ?? "its URL"
    } is a node of a Redis Cluster (${msg}): use redis+cluster://host:port,… (rediss+cluster:// for TLS)`;
  }
  if (!LOST_RE.test(msg)) return undefined;
  const m = target.managed;
  if (m) {
    const disk = await managedDiskMessage();
    if (disk) return disk;
    if (!(await exists(m.socket))) {
      return `socket ${
        shownPath(m.socket)
      } is gone: the town's redis-server stopped or its socket was deleted; run tt again to start it (see ${m.logFile})`;
    }
    if (!(await serverRuns(m.pidFile))) {
      return `the town's redis-server on ${
        shownPath(m.socket)
      } exited during the command (${msg}): see ${m.logFile}; run tt again to start it`;
    }
    return `lost the connection to the town's redis-server on ${
      shownPath(m.socket)
    } (${msg}): see ${m.logFile}`;
  }
  return `lost the connection to Redis at ${target.url ?? "its URL"} (${msg}): is it running?`;
}

/** Does the pid in the managed server's pid file name a live process? */
async function serverRuns(pidFile: string): Promise<boolean> {
  try {
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    const out = await new Deno.Command("ps", {
      args: ["-o", "stat=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const stat = new TextDecoder().decode(out.stdout).trim();
    return stat !== "" && !/^[ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
