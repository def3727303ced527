/**
 * How to run this same `tt` again, however it was installed (source with deno.json, the bundle,
 * or a compiled binary): for the detached supervisor and for the `tt` on agents' PATH.
 */
import { writeFileAtomic } from "../core/config.ts";
import { shellQuote } from "./shell.ts";
import { clientSource } from "../agent/client.ts";

/**
 * `permissions`: the flags to run with instead of this tt's own (deno.json's set, the bundle's
 * shebang, or what a URL run was granted): the narrowed set of permissions.ts for the supervisor
 * and townhall. A compiled tt ignores them: its permissions were fixed by `deno compile`.
 */
export function selfCommand(permissions?: string[]): string[] {
  const exe = Deno.execPath();
  if (!/\/deno$/.test(exe)) return [exe]; // compiled: the executable is tt itself
  // Not Deno.mainModule: under the library API that is the user's own script.
  const here = import.meta.url;
  if (!here.startsWith("file:")) {
    // deno run https://…/tt.js: run the same URL with the same permissions.
    const flags = permissions
      ? [...permissions, `--allow-import=${new URL(here).host}`]
      : grantedFlags();
    return [exe, "run", "-q", "--no-prompt", ...flags, here];
  }
  if (here.endsWith("/src/supervisor/self.ts")) {
    const root = decodeURIComponent(new URL("../..", here).pathname).replace(/\/$/, "");
    return [
      exe,
      "run",
      "-q",
      ...(permissions ?? ["-P"]),
      "--no-prompt",
      "--config",
      `${root}/deno.json`,
      `${root}/main.ts`,
    ];
  }
  // The bundle: this module is inlined in it, and its shebang line holds the permission flags.
  const path = decodeURIComponent(new URL(here).pathname);
  const flags = permissions ??
    Deno.readTextFileSync(path).split("\n", 1)[0].split(/\s+/).filter((a) =>
      a.startsWith("--allow-")
    );
  return [exe, "run", "-q", "--no-prompt", ...flags, path];
}

/** Permission flags equivalent to what this process was granted (for URL runs). */
function grantedFlags(): string[] {
  const names = ["read", "write", "net", "env", "run", "sys"] as const;
  return names
    .filter((n) =>
      Deno.permissions.querySync({ name: n } as Deno.PermissionDescriptor).state === "granted"
    )
    .map((n) => `--allow-${n}`);
}

/**
 * Writes `<dir>/tt`, the operator's shim (for the conductor's PATH): this same tt. No Redis URL is
 * baked in: the conductor inherits the operator's environment and
 * finds the town's config through TT_TOWN. Agents get `writeAgentShim` instead.
 */
export async function writeShim(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/tt`;
  const text = `#!/bin/sh\n# Written by tt for the conductor.\nexec ${
    selfCommand().map(shellQuote).join(" ")
  } "$@"\n`;
  await writeFileAtomic(path, text, 0o700);
  return path;
}

/**
 * Writes `<dir>/tt`, an agent round's `tt`: it only talks to the round's channel socket `socket`
 * (src/agent/client.ts, allowed to touch that socket and read its two variables, nothing else).
 * It holds no secret: the token is in the round's environment. `tt demo-agent` is an agent CLI
 * itself (it reads the prompt and reports through this shim), so it runs as the full tt.
 */
export async function writeAgentShim(dir: string, socket: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/tt`;
  const self = selfCommand().map(shellQuote).join(" ");
  const here = import.meta.url;
  // From source: client.ts itself. A bundle or URL: the client's source, written beside the
  // shim. A compiled tt (no deno to run a script): itself, whose main() hands the request to
  // the client when TT_CHANNEL is set.
  let client: string | undefined;
  if (here.startsWith("file:") && here.endsWith("/src/supervisor/self.ts")) {
    client = decodeURIComponent(new URL("../agent/client.ts", here).pathname);
  } else if (/\/deno$/.test(Deno.execPath())) {
    client = `${dir}/client.js`;
    await writeFileAtomic(client, clientSource(), 0o600);
  }
  const run = client
    ? [
      Deno.execPath(),
      "run",
      "-q",
      "--no-prompt",
      "--no-config",
      `--allow-read=${socket}`,
      `--allow-write=${socket}`,
      `--allow-net=unix:${socket}`,
      "--allow-env=TT_CHANNEL,TT_CHANNEL_TOKEN",
      client,
    ].map(shellQuote).join(" ")
    : self;
  const text = `#!/bin/sh
# Written by tt for one agent round: this tt reaches the town only through the round's channel.
if [ "$1" = demo-agent ]; then exec ${self} "$@"; fi
exec ${run} "$@"
`;
  await writeFileAtomic(path, text, 0o700);
  return path;
}
