/**
 * Starting a long-lived `tt` (the supervisor, a townhall) that outlives this process: this same
 * tt re-executed in the town, detached (its own session), with no stdin and its output dropped
 * or appended to a log, not awaited; then waiting until it says it is ready.
 */
import { TtError } from "../core/errors.ts";

export interface DetachedTt {
  /** The town's root: the process's cwd and its `--town`. */
  root: string;
  /** The tt command and its arguments (after `--town <root>`). */
  args: string[];
  /** Deno permission flags instead of this tt's own (see selfCommand). */
  permissions?: string[];
  /** Appends its stdout and stderr to this file (created mode 600); else they are dropped. */
  log?: string;
  /** Resolves true once it is ready, false when it did not get ready in its own time limit. */
  ready: () => Promise<boolean>;
  /** The error when it did not get ready. */
  notReady: string;
}

/** Starts it (creating `<root>/.tt/logs` first) and waits until ready; returns its pid. */
export async function startDetachedTt(d: DetachedTt): Promise<number> {
  await Deno.mkdir(`${d.root}/.tt/logs`, { recursive: true, mode: 0o700 });
  // Loaded here: self.ts brings every CLI family, which `tt assign` with a live supervisor skips.
  const { selfCommand } = await import("./self.ts");
  const command = [...selfCommand(d.permissions), "--town", d.root, ...d.args];
  // sh only redirects, then execs tt: the pid is tt's.
  const [cmd, ...args] = d.log
    ? ["sh", "-c", 'umask 077; exec "$@" >>"$TT_DETACHED_LOG" 2>&1', "sh", ...command]
    : command;
  const child = new Deno.Command(cmd, {
    args,
    ...(d.log ? { env: { TT_DETACHED_LOG: d.log } } : {}),
    cwd: d.root,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  if (!(await d.ready())) throw new TtError(d.notReady);
  return child.pid;
}
