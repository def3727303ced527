/**
 * Can this machine sandbox agent rounds? Answered by really creating one (bubblewrap with new
 * user, pid and network namespaces, then the same wrap the rounds get), because on Ubuntu
 * 24.04+ AppArmor lets `bwrap --version` run while refusing to create the namespaces.
 * Cached per process: the answer does not change while the supervisor runs.
 */
export interface SandboxProbe {
  ok: boolean;
  /** Why not (empty when ok). */
  reason: string;
  /** What to install or change (empty when ok). */
  fix: string;
}

let cached: Promise<SandboxProbe> | undefined;

/** The probe's answer for this process (computed once). */
export function probeSandbox(): Promise<SandboxProbe> {
  cached ??= runProbe();
  return cached;
}

const APT = "install it (Debian/Ubuntu: apt-get install bubblewrap socat ripgrep)";

async function run(cmd: string, args: string[]): Promise<{ code: number; err: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .output();
    return { code: r.code, err: new TextDecoder().decode(r.stderr).trim() };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: -1, err: "not found" };
    return { code: -2, err: (e as Error).message };
  }
}

async function runProbe(): Promise<SandboxProbe> {
  if (Deno.build.os !== "linux") {
    return fail(
      `the agent sandbox needs Linux (bubblewrap); this is ${Deno.build.os}`,
      `set [agent] sandbox = "off" in tinytown.toml, or run the town on Linux`,
    );
  }
  const bwrap = await run("bwrap", [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    "--unshare-net",
    "--unshare-pid",
    "--die-with-parent",
    "--",
    "true",
  ]);
  if (bwrap.code === -1) return fail("bubblewrap (bwrap) is not installed", APT);
  if (bwrap.code !== 0) {
    const why = bwrap.err.split("\n")[0] || `exit code ${bwrap.code}`;
    return fail(
      `bubblewrap cannot create a sandbox here: ${why}`,
      /permission|namespace|uid map|operation not permitted/i.test(why)
        ? "allow unprivileged user namespaces (Ubuntu 24.04+: sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for bwrap; containers: run with --privileged or a seccomp profile allowing unshare)"
        : "check that bwrap runs: bwrap --ro-bind / / --unshare-net true",
    );
  }
  for (const tool of ["socat", "rg"]) {
    if ((await run(tool, ["--version"])).code === -1) {
      return fail(`${tool} is not installed (the sandbox's network filter needs it)`, APT);
    }
  }
  // The full path the rounds take: the runtime's own wrap (proxies, seccomp helper, mounts).
  try {
    const { stopRuntimeIfIdle, wrapProbeCommand } = await import("./runtime.ts");
    const wrapped = await wrapProbeCommand("true");
    const r = await run("sh", ["-c", wrapped]);
    await stopRuntimeIfIdle(); // its proxies would keep a short-lived process (tt status) alive
    if (r.code !== 0) {
      return fail(
        `the sandbox runtime could not run a command: ${r.err.split("\n")[0] || r.code}`,
        "run 'tt doctor' and check bwrap, socat and ripgrep",
      );
    }
  } catch (e) {
    return fail(
      `the sandbox runtime did not start: ${String((e as Error).message).split("\n")[0]}`,
      "check that bwrap, socat and ripgrep are installed and runnable",
    );
  }
  return { ok: true, reason: "", fix: "" };
}

function fail(reason: string, fix: string): SandboxProbe {
  return { ok: false, reason, fix };
}

/** Forgets the cached answer (tests that change PATH in-process). */
export function resetProbeCache(): void {
  cached = undefined;
}
