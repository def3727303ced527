/**
 * The one place that talks to `@anthropic-ai/sandbox-runtime` (bubblewrap + an in-process
 * HTTP/SOCKS proxy filtering hosts, reached over unix sockets bound into the sandbox). It is a
 * process-wide singleton: initialized once with "nothing allowed", then every round brings its
 * own filesystem lists (`customConfig`) and its own host list (registered under an unguessable
 * per-round id that only that round's proxy credentials carry).
 */
import { SandboxManager } from "@anthropic-ai/sandbox-runtime";

let ready: Promise<void> | undefined;
/** Wraps whose process has not been released yet. */
let active = 0;

function init(): Promise<void> {
  ready ??= SandboxManager.initialize({
    filesystem: { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [] },
    // The channel socket is a unix socket: the seccomp filter that forbids creating any would cut
    // the agent off from it. What it may reach is decided by what the mounts leave visible.
    network: { allowedDomains: [], deniedDomains: [], allowAllUnixSockets: true },
  }).catch((e) => {
    ready = undefined;
    throw e;
  });
  return ready;
}

export interface RuntimeFs {
  /** Invisible (an empty tmpfs over each). */
  denyRead: string[];
  /** Visible again inside a denied region, read-only. */
  allowRead: string[];
  /** The only writable paths. */
  allowWrite: string[];
  /** Read-only even inside a writable path. */
  denyWrite: string[];
}

/** A random id of 128+ bits, as the runtime requires for per-command host lists. */
function commandId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * Wraps `command` (run by `sh`) so it runs in a sandbox with these mounts and may reach only
 * `hosts` through the proxy. Returns the command for `sh -c` and `release`, which must be called
 * when the process has exited (it drops the round's host list).
 */
export async function wrapInRuntime(
  command: string,
  fs: RuntimeFs,
  hosts: string[],
): Promise<{ command: string; release: () => void }> {
  await init();
  active++;
  const id = commandId();
  SandboxManager.registerCommandNetworkLists(id, { allowedDomains: hosts });
  try {
    // The proxies' unix sockets live in the host's /tmp, which a round does not see.
    const sockets = [
      SandboxManager.getLinuxHttpSocketPath(),
      SandboxManager.getLinuxSocksSocketPath(),
    ].filter((p): p is string => !!p);
    const wrapped = await SandboxManager.wrapWithSandbox(
      command,
      "sh",
      { filesystem: { ...fs, allowRead: [...fs.allowRead, ...sockets] } },
      undefined,
      { commandId: id },
    );
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      active--;
      SandboxManager.unregisterCommandNetworkLists(id);
    };
    return { command: wrapped, release };
  } catch (e) {
    active--;
    SandboxManager.unregisterCommandNetworkLists(id);
    throw e;
  }
}

/**
 * Stops the runtime's proxies when no wrapped command is running, so a short-lived process that
 * probed (or a supervisor shutting down) can exit; the next wrap starts them again.
 */
export async function stopRuntimeIfIdle(): Promise<void> {
  if (!ready || active > 0) return;
  const was = ready;
  ready = undefined;
  await was.catch(() => {});
  await SandboxManager.reset();
}

/** A wrap with no write access and no hosts, for the probe. */
export async function wrapProbeCommand(command: string): Promise<string> {
  const r = await wrapInRuntime(
    command,
    { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [] },
    [],
  );
  r.release();
  return r.command;
}
