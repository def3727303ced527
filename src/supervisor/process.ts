/**
 * Running one agent CLI round as its own process group: output appended to a log file, a hard
 * timeout, and kill = SIGTERM to the whole group, a grace period, then SIGKILL.
 */

export type ExitKind = "exited" | "timeout" | "stalled" | "killed" | "spawn_failed";

export interface RoundProcessResult {
  kind: ExitKind;
  code: number | null;
  signal: string | null;
  /** Human-readable cause for events and logs. */
  detail: string;
}

export interface RunOptions {
  /** Shell command (`sh -c`). */
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** Written to the process's stdin (then closed); undefined ⇒ stdin is /dev/null. */
  stdin?: Uint8Array;
  logFile: string;
  timeoutMs: number;
  graceMs?: number;
  /** Called once the process group exists (to record its pgid). */
  onStart?: (pgid: number) => void | Promise<void>;
  /** Aborting kills the process group (kill/shutdown). */
  signal?: AbortSignal;
  /**
   * Each chunk of output as it arrives; false when it shows no progress (a retry notice), "end"
   * when the CLI reported an error it would only retry in vain: the group is ended at once.
   */
  onOutput?: (data: Uint8Array, stream: "stdout" | "stderr") => boolean | "end";
  /** No progress for this long ⇒ the group is killed and the round ends `stalled` (0 = never). */
  stallMs?: number;
}

/**
 * Sends `sig` to the whole process group; ignores a group that is already gone. Under a scoped
 * --allow-run (the narrowed supervisor: permissions.ts) Deno.kill is refused, so `kill(1)` sends it.
 */
export function killGroup(pgid: number, sig: Deno.Signal): boolean {
  try {
    Deno.kill(-pgid, sig);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable)) return false;
  }
  try {
    const r = new Deno.Command("kill", {
      args: ["-s", sig.replace(/^SIG/, ""), "--", `-${pgid}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return r.success;
  } catch {
    return false;
  }
}

/** SIGTERM the group, wait up to `graceMs` for `exited`, then SIGKILL. */
export async function terminateGroup(pgid: number, exited: Promise<unknown>, graceMs: number) {
  killGroup(pgid, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise((r) => timer = setTimeout(r, graceMs));
  const done = await Promise.race([exited.then(() => true), grace.then(() => false)]);
  clearTimeout(timer);
  if (!done) killGroup(pgid, "SIGKILL");
  await exited;
}

export async function runRoundProcess(opts: RunOptions): Promise<RoundProcessResult> {
  const log = await Deno.open(opts.logFile, { create: true, append: true, mode: 0o600 });
  // Straight to the file, not through log.writable: Deno buffers that stream's writes until it is
  // closed, so `tt logs -f` would see nothing while the round runs.
  const write = async (data: Uint8Array) => {
    for (let off = 0; off < data.length;) off += await log.write(data.subarray(off));
  };
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("sh", {
      args: ["-c", opts.command],
      cwd: opts.cwd,
      env: opts.env,
      clearEnv: true,
      detached: true,
      stdin: opts.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    await write(new TextEncoder().encode(`tt: could not start the agent CLI: ${e}\n`));
    log.close();
    return {
      kind: "spawn_failed",
      code: null,
      signal: null,
      detail: String((e as Error).message ?? e),
    };
  }
  const pgid = child.pid;
  await opts.onStart?.(pgid);
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    // A CLI that exits without reading its stdin must not fail the round.
    await w.write(opts.stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  // Interleave stdout and stderr into the log as they arrive.
  let chain = Promise.resolve();
  let ended: "timeout" | "stalled" | "killed" | "fatal" | undefined;
  const status = child.status;
  let stall: ReturnType<typeof setTimeout> | undefined;
  const armStall = () => {
    if (!opts.stallMs) return;
    clearTimeout(stall);
    stall = setTimeout(() => {
      ended ??= "stalled";
      terminateGroup(pgid, status, opts.graceMs ?? 5000);
    }, opts.stallMs);
  };
  armStall();
  const pump = async (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") => {
    for await (const chunk of stream) {
      chain = chain.then(() => write(chunk));
      const seen = opts.onOutput?.(chunk, name) ?? true;
      if (seen === "end" && !ended) {
        ended = "fatal";
        terminateGroup(pgid, status, opts.graceMs ?? 5000);
      } else if (seen === true) armStall();
    }
  };
  const pumps = Promise.all([pump(child.stdout, "stdout"), pump(child.stderr, "stderr")]);
  const timer = setTimeout(() => {
    ended = "timeout";
    terminateGroup(pgid, status, opts.graceMs ?? 5000);
  }, opts.timeoutMs);
  const onAbort = () => {
    ended ??= "killed";
    terminateGroup(pgid, status, opts.graceMs ?? 5000);
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const st = await status;
  clearTimeout(timer);
  clearTimeout(stall);
  opts.signal?.removeEventListener("abort", onAbort);
  // The CLI may have left children holding its pipes: end them too before draining.
  killGroup(pgid, "SIGKILL");
  await pumps.catch(() => {});
  clearTimeout(stall);
  await chain;
  log.close();
  if (ended === "stalled") {
    return {
      kind: "stalled",
      code: st.code,
      signal: st.signal,
      detail: `no progress for ${Math.round((opts.stallMs ?? 0) / 1000)} s`,
    };
  }
  if (ended === "timeout") {
    return {
      kind: "timeout",
      code: st.code,
      signal: st.signal,
      detail: `timed out after ${Math.round(opts.timeoutMs / 1000)} s`,
    };
  }
  if (ended === "killed") {
    return { kind: "killed", code: st.code, signal: st.signal, detail: "killed" };
  }
  return {
    kind: "exited",
    code: st.code,
    signal: st.signal,
    detail: ended === "fatal"
      ? "ended by tt: the CLI reported an error it would only retry"
      : st.signal
      ? `killed by ${st.signal}`
      : `exit code ${st.code}`,
  };
}
