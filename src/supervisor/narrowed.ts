/**
 * Running under the narrowed permissions of permissions.ts: whether this process already does,
 * re-running tt in the foreground with them (townhall), the child's watch on its parent, and the
 * supervisor's permission probes (what it may really do).
 */

/**
 * Whether this process runs with narrowed permissions already (or cannot change them: a
 * compiled tt has its flags built in). A process with unscoped write is the broad `-P` set.
 */
export function isNarrowed(): boolean {
  if (!/\/deno$/.test(Deno.execPath())) return true;
  return Deno.permissions.querySync({ name: "write" }).state !== "granted";
}

/**
 * Runs `cmd` (this tt again, with narrowed flags) in the foreground: same stdio, SIGINT/SIGTERM
 * passed on, its exit code returned. Its stdin is a pipe this process never writes: when this
 * process dies, even by SIGKILL, the pipe closes and the child stops (watchParent).
 */
export async function runNarrowed(cmd: string[]): Promise<number> {
  const [exe, ...args] = cmd;
  const child = new Deno.Command(exe, {
    args,
    stdin: "piped",
    stdout: "inherit",
    stderr: "inherit",
    env: { [CHILD_ENV]: "1" },
  }).spawn();
  const signals = ["SIGINT", "SIGTERM"] as const;
  const pass = signals.map((s) => () => {
    try {
      child.kill(s);
    } catch { /* gone */ }
  });
  signals.forEach((s, i) => Deno.addSignalListener(s, pass[i]));
  try {
    return (await child.status).code;
  } finally {
    signals.forEach((s, i) => Deno.removeSignalListener(s, pass[i]));
  }
}

const CHILD_ENV = "TT_NARROWED_CHILD";

/** In a process started by runNarrowed: exits when the parent has gone (its stdin closes). */
export function watchParent(): void {
  if (Deno.env.get(CHILD_ENV) !== "1") return;
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* nothing is ever written */ }
    } catch { /* closed */ }
    Deno.exit(0);
  })();
}

/**
 * `TT_PERMISSIONS_PROBE="read:/etc/shadow,write:/srv/x,run:curl,net:example.com:443"`: at start
 * the supervisor tries each (reads one byte, creates and removes the file, spawns it, connects)
 * and logs one line per probe, `permission probe read /etc/shadow: denied (…)` or `allowed`. A
 * diagnostic of the narrowed flags: what this process may really do, not what the flags say.
 */
export async function runPermissionProbes(log: (line: string) => void): Promise<void> {
  const spec = Deno.env.get("TT_PERMISSIONS_PROBE");
  if (!spec) return;
  for (const item of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [kind, ...rest] = item.split(":");
    const target = rest.join(":");
    try {
      if (kind === "read") {
        const f = await Deno.open(target);
        await f.read(new Uint8Array(1));
        f.close();
      } else if (kind === "write") {
        await Deno.writeTextFile(target, "");
        await Deno.remove(target);
      } else if (kind === "run") {
        await new Deno.Command(target, { stdin: "null", stdout: "null", stderr: "null" }).output();
      } else if (kind === "net") {
        const i = target.lastIndexOf(":");
        const c = await Deno.connect({
          hostname: target.slice(0, i),
          port: Number(target.slice(i + 1)),
        });
        c.close();
      } else {
        log(`permission probe ${item}: unknown kind (read, write, run, net)`);
        continue;
      }
      log(`permission probe ${kind} ${target}: allowed`);
    } catch (e) {
      const denied = e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied;
      log(
        `permission probe ${kind} ${target}: ${denied ? "denied" : "failed"} (${
          String((e as Error).message).split("\n")[0]
        })`,
      );
    }
  }
}
