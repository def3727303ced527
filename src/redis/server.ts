/**
 * The town's own redis-server: unix socket only (no TCP port), AOF in `.tt/` (fsynced before each
 * reply, see startServer), started on first need under a file lock so that concurrent `tt`
 * processes start exactly one server.
 */
import { TtError } from "../core/errors.ts";
import {
  aofWriteFailure,
  diskLine,
  freeKiB,
  MIN_FREE_KIB,
  noteManagedServer,
  shownPath,
} from "./diagnose.ts";

/** sun_path is 108 bytes on Linux; leave room for the terminating NUL. */
const MAX_SOCKET_PATH = 100;

export interface ManagedPaths {
  runtimeDir: string;
  socket: string;
  pidFile: string;
  lockFile: string;
  logFile: string;
  /** True when `.tt/redis.sock` was too long and a short path under /tmp is used instead. */
  shortened: boolean;
}

export function managedPaths(root: string): ManagedPaths {
  const runtimeDir = `${root}/.tt`;
  let socket = `${runtimeDir}/redis.sock`;
  let shortened = false;
  if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
    socket = `/tmp/tt-${shortHash(root)}/redis.sock`;
    shortened = true;
  }
  return {
    runtimeDir,
    socket,
    pidFile: `${runtimeDir}/redis.pid`,
    lockFile: `${runtimeDir}/redis.lock`,
    logFile: `${runtimeDir}/redis.log`,
    shortened,
  };
}

/** FNV-1a, hex: a stable short name for a directory. */
function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** PING over a raw socket: cheap enough for readiness polling, needs no Redis client. */
export async function pingSocket(path: string, timeoutMs = 500): Promise<boolean> {
  let conn: Deno.UnixConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed by the timer */ }
  }
}

async function removeIfExists(path: string) {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Runs `fn` while holding an exclusive lock on `path` (released even if this process dies). */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(path, { create: true, write: true, mode: 0o600 });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}

/**
 * Makes sure the town's redis-server is running; returns its socket path. Safe to call from many
 * processes at once: the first takes the lock and starts it, the others find it running.
 */
export async function ensureManagedRedis(
  root: string,
  opts: { init?: boolean } = {},
): Promise<string> {
  const paths = managedPaths(root);
  noteManagedServer(paths);
  if (await pingSocket(paths.socket)) return paths.socket;
  await Deno.mkdir(paths.runtimeDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(paths.runtimeDir, 0o700);
  return await withFileLock(paths.lockFile, async () => {
    if (await pingSocket(paths.socket)) return paths.socket; // another process started it
    // Alive but not answering (stalled on a busy disk, loading its AOF, stopped): starting a
    // second server would unlink its socket and split the town in two, the supervisor's
    // connections on the old server and every new tt on the new one, both writing one AOF.
    if (await waitForLiveServer(paths, SLOW_SERVER_WAIT_MS)) return paths.socket;
    // A town being deleted (its directory removed while a tt of it still ran) does not get its
    // Redis back: that server would run on with nothing left to stop it.
    if (!opts.init && !(await pathExists(`${root}/tinytown.toml`))) {
      throw new TtError(`the town at ${root} is gone (no tinytown.toml): its Redis is not started`);
    }
    await startServer(paths);
    return paths.socket;
  });
}

/** How long a live but unresponsive managed server is waited for before tt gives up. */
const SLOW_SERVER_WAIT_MS = 30_000;

/**
 * The pid of the town's redis-server if one runs, answering or not: the pid file's process, if
 * its command line names our socket (after a crash the pid file stays, and its pid may be reused).
 */
async function serverPid(paths: ManagedPaths): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(paths.pidFile)).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const out = await new Deno.Command("ps", {
    args: ["-ww", "-o", "stat=,args=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim();
  return line && !/^[ZX]/.test(line) && line.includes(paths.socket) ? pid : undefined;
}

/**
 * True once a running server answers; false if none runs (or it died meanwhile), so that one may
 * be started. A server that runs but does not answer within `limitMs` is an error.
 */
async function waitForLiveServer(paths: ManagedPaths, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const pid = await serverPid(paths);
    if (pid === undefined) return false;
    if (await pingSocket(paths.socket, 1000)) return true;
    if (!(await pathExists(paths.socket))) {
      // Deleted under a running server (a cleanup script, rm -rf .tt/*): nobody can reach it.
      throw new TtError(
        `socket ${
          shownPath(paths.socket, paths.runtimeDir)
        } is gone but the town's redis-server (pid ${pid}) still runs: stop it (kill ${pid}; it saves its AOF first) and run tt again to start a new one`,
      );
    }
    if (Date.now() > deadline) {
      throw new TtError(
        `the town's redis-server (pid ${pid}) runs but has not answered on ${paths.socket} for ${
          limitMs / 1000
        } s: see ${paths.logFile}; stop it (kill ${pid}) to have tt start a new one`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A restart after a crash this soon after the previous start continues a crash loop. */
const QUICK_CRASH_MS = 10_000;
/** Quick crash restarts in a row before tt stops restarting and says why. */
const MAX_QUICK_CRASHES = 5;
/**
 * Before starting a server whose predecessor died (its socket or pid file is left over): if it
 * died because its AOF could not be written and the disk is still full, say so instead of
 * starting one that dies on its first write; and back off when it keeps dying (the caller holds
 * the start lock, so concurrent tt commands wait here instead of each starting a server).
 */
async function guardCrashRestart(paths: ManagedPaths): Promise<void> {
  const crashed = await pathExists(paths.pidFile) || await pathExists(paths.socket);
  const historyFile = `${paths.runtimeDir}/redis.restarts`;
  let history: number[] = [];
  try {
    const parsed = JSON.parse(await Deno.readTextFile(historyFile));
    if (Array.isArray(parsed)) history = parsed.filter((x) => typeof x === "number");
  } catch { /* none yet */ }
  const now = Date.now();
  history = history.filter((t) => now - t < QUICK_CRASH_MS * (MAX_QUICK_CRASHES + 1));
  // Its last words may be missing from the log: the full disk could not take them either.
  const aof = await aofWriteFailure(paths.logFile);
  const free = await freeKiB(paths.runtimeDir);
  if (free !== undefined && free < MIN_FREE_KIB) {
    throw new TtError(
      diskLine(
        paths.runtimeDir,
        `${aof ?? "No space left on device"}; ${free} KiB free`,
        paths.logFile,
      ),
    );
  }
  if (!crashed) return;
  // How many restarts in a row came each within QUICK_CRASH_MS of the one before (up to now).
  let streak = 0;
  for (let i = history.length - 1, next = now; i >= 0 && next - history[i] < QUICK_CRASH_MS; i--) {
    streak++;
    next = history[i];
  }
  if (streak >= MAX_QUICK_CRASHES) {
    throw new TtError(
      `the town's redis-server exited soon after each of its last ${streak} starts: not starting it again for ${
        QUICK_CRASH_MS / 1000
      } s; see ${paths.logFile}${aof ? ` (it cannot write its AOF: ${aof})` : ""}`,
    );
  }
  // 0.25 s before the second quick restart, 0.5 s before the third…
  if (streak) await new Promise((r) => setTimeout(r, 250 * 2 ** (streak - 1)));
  history.push(Date.now());
  await Deno.writeTextFile(historyFile, JSON.stringify(history), { mode: 0o600 }).catch(() => {});
}

async function startServer(paths: ManagedPaths): Promise<void> {
  await guardCrashRestart(paths);
  if (paths.shortened) {
    const dir = paths.socket.replace(/\/[^/]*$/, "");
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    console.error(
      `tt: note: ${paths.runtimeDir}/redis.sock would exceed the OS socket path limit; using ${paths.socket}`,
    );
  }
  // Left over from a crash: nothing answered on the socket, so neither file is live.
  await removeIfExists(paths.socket);
  await removeIfExists(paths.pidFile);
  const args = [
    "--port",
    "0",
    "--unixsocket",
    paths.socket,
    "--unixsocketperm",
    "700",
    "--dir",
    paths.runtimeDir,
    "--daemonize",
    "yes",
    "--pidfile",
    paths.pidFile,
    "--logfile",
    paths.logFile,
    "--appendonly",
    "yes",
    // Every write reaches the disk before Redis replies to it. With everysec, a redis-server
    // killed while an fsync is slow (a busy disk: agents building and testing) loses writes it had
    // already acknowledged: chaos runs (tests/chaos/) lost `tt assign`ed tasks and redid completed
    // work. tt writes a few times per command or round: ~0.2 ms more per write on an idle disk, a
    // few ms on a busy one, next to the ~200 ms start of every tt process.
    "--appendfsync",
    "always",
    "--save",
    "",
    "--loglevel",
    "warning",
  ];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("redis-server", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new TtError(
        "redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL",
      );
    }
    throw e;
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim() ||
      new TextDecoder().decode(out.stdout).trim();
    throw new TtError(`redis-server failed to start: ${why.split("\n").pop()}`);
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await pingSocket(paths.socket)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new TtError(`redis-server did not become ready within 10 s: see ${paths.logFile}`);
}

/** Reads the pid of the managed server, if its pid file names a live process. */
export async function managedPid(root: string): Promise<number | undefined> {
  const { pidFile } = managedPaths(root);
  let text: string;
  try {
    text = await Deno.readTextFile(pidFile);
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return await processAlive(pid) ? pid : undefined;
}

/**
 * True if a process with this pid exists and is not a zombie. Deno refuses /proc/<pid> without
 * --allow-all, so this asks ps.
 */
export async function processAlive(pid: number): Promise<boolean> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "stat=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  const stat = new TextDecoder().decode(out.stdout).trim();
  return stat !== "" && !stat.startsWith("Z") && !stat.startsWith("X");
}

/** Waits until a process is gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await processAlive(pid))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !(await processAlive(pid));
}
