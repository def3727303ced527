/**
 * How to run this same `tt` again, however it was installed (source with deno.json, the bundle,
 * or a compiled binary): for the detached supervisor and for the `tt` on agents' PATH.
 */
import { writeFileAtomic } from "../core/config.ts";
import { shellQuote } from "./cli.ts";

export function selfCommand(): string[] {
  const exe = Deno.execPath();
  if (!/\/deno$/.test(exe)) return [exe]; // compiled: the executable is tt itself
  // Not Deno.mainModule: under the library API that is the user's own script.
  const here = import.meta.url;
  if (!here.startsWith("file:")) {
    // deno run https://…/tt.js: run the same URL with the same permissions.
    return [exe, "run", "-q", "--no-prompt", ...grantedFlags(), here];
  }
  if (here.endsWith("/src/supervisor/self.ts")) {
    const root = decodeURIComponent(new URL("../..", here).pathname).replace(/\/$/, "");
    return [
      exe,
      "run",
      "-q",
      "-P",
      "--no-prompt",
      "--config",
      `${root}/deno.json`,
      `${root}/main.ts`,
    ];
  }
  // The bundle: this module is inlined in it, and its shebang line holds the permission flags.
  const path = decodeURIComponent(new URL(here).pathname);
  const first = Deno.readTextFileSync(path).split("\n", 1)[0];
  const flags = first.split(/\s+/).filter((a) => a.startsWith("--allow-"));
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
 * Writes `<dir>/tt`, a shim that runs this tt with the town's Redis URL baked in (so agents
 * need no Redis secrets in their environment). The directory is inside `.tt/` (mode 700).
 */
export async function writeShim(dir: string, redisUrl?: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/tt`;
  const env = redisUrl ? `REDIS_URL=${shellQuote(redisUrl)} ` : "";
  const text = `#!/bin/sh\n# Written by tt for agent rounds.\n${env}exec ${
    selfCommand().map(shellQuote).join(" ")
  } "$@"\n`;
  await writeFileAtomic(path, text, 0o700);
  return path;
}
