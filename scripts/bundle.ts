/**
 * `deno task bundle`: builds dist/tt.js, one self-contained file with a shebang that runs it with
 * exactly the permissions of `permissions.default` in deno.json (never -A).
 * `deno task compile`: the same, then `deno compile` of that bundle into dist/tt.
 *
 *   deno run -P scripts/bundle.ts [--out <file.js>] [--compile [--exe <file>]] [--print-flags]
 */
import { parseArgs } from "node:util";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Values a permission takes in deno.json: on/off, a list of scopes, or allow/deny/ignore. */
type Scope = boolean | string[];
type PermissionValue = Scope | { allow?: Scope; deny?: Scope; ignore?: Scope };

const KINDS = ["read", "write", "net", "env", "run", "sys", "ffi", "import"];

/**
 * The `deno run` flags that grant a deno.json permission set, e.g. `"read": true` ⇒
 * `--allow-read`, `"sys": ["hostname"]` ⇒ `--allow-sys=hostname`. Refuses `all` (that is -A).
 */
export function permissionFlags(set: Record<string, unknown>): string[] {
  const flags: string[] = [];
  for (const [kind, raw] of Object.entries(set)) {
    if (kind === "all") {
      if (raw) throw new Error(`permissions: "all" would ship -A; list each permission instead`);
      continue;
    }
    if (!KINDS.includes(kind)) throw new Error(`permissions: unknown permission '${kind}'`);
    const v = raw as PermissionValue;
    const parts = typeof v === "object" && !Array.isArray(v) ? v : { allow: v };
    for (const [verb, scope] of Object.entries(parts) as [string, Scope | undefined][]) {
      if (!["allow", "deny", "ignore"].includes(verb)) {
        throw new Error(`permissions.${kind}: unknown key '${verb}'`);
      }
      if (scope === undefined || scope === false) continue;
      if (scope === true) flags.push(`--${verb}-${kind}`);
      else if (Array.isArray(scope) && scope.every((s) => typeof s === "string")) {
        if (scope.some((s) => s.includes(",") || /\s/.test(s))) {
          throw new Error(`permissions.${kind}: scopes may not contain ',' or spaces`);
        }
        if (scope.length) flags.push(`--${verb}-${kind}=${scope.join(",")}`);
      } else throw new Error(`permissions.${kind}: expected true, false or a list of strings`);
    }
  }
  return flags;
}

/** The flags for `permissions.default` of this repo's deno.json: the single source of truth. */
export async function defaultPermissionFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const set = config?.permissions?.default;
  if (!set || typeof set !== "object") throw new Error("deno.json has no permissions.default");
  return permissionFlags(set);
}

export function shebang(flags: string[]): string {
  return `#!/usr/bin/env -S deno run -q --no-prompt ${flags.join(" ")}`;
}

/** The permission flags (and --no-prompt) of a bundle, read back from its first line. */
export function shebangFlags(bundleText: string): string[] {
  const first = bundleText.slice(0, bundleText.indexOf("\n"));
  if (!first.startsWith("#!")) throw new Error("the bundle has no shebang line");
  return first.split(" ").filter((a) => /^--(allow|deny|ignore)-/.test(a) || a === "--no-prompt");
}

/** Runs a deno subcommand in the repo; `output` is its stderr then stdout. */
async function deno(args: string[], cwd = ROOT): Promise<{ ok: boolean; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  return { ok: out.success, output: text };
}

/** A path as the user would type it: relative to the current directory when inside it. */
const show = (p: string) => p.startsWith(`${Deno.cwd()}/`) ? p.slice(Deno.cwd().length + 1) : p;

function fail(msg: string): never {
  console.error(`bundle: ${msg}`);
  Deno.exit(1);
}

/** Bundles main.ts into `out` (written atomically, mode 755) and returns its size in bytes. */
export async function buildBundle(out: string, flags: string[]): Promise<number> {
  const line = shebang(flags);
  // Linux reads at most 255 bytes of a shebang line; beyond that the flags are silently cut.
  if (new TextEncoder().encode(line).length > 255) {
    throw new Error(`the shebang line is over 255 bytes; shorten permissions.default`);
  }
  const dir = out.replace(/\/[^/]*$/, "") || ".";
  await Deno.mkdir(dir, { recursive: true });
  // The name must end in .js: only then does deno bundle add its `require` shim for npm CJS code.
  const tmp = `${out}.tmp-${Deno.pid}.js`;
  try {
    const r = await deno([
      "bundle",
      "--quiet",
      "--frozen",
      "--platform",
      "deno",
      "--minify",
      "-o",
      tmp,
      "main.ts",
    ]);
    if (
      !r.ok && /@esbuild|esbuild binary/.test(r.output) && /Failed loading|download/i.test(r.output)
    ) {
      throw new Error(
        "deno bundle needs esbuild, which it fetches from npm once, and npm is unreachable: run " +
          "scripts/test (or deno task bundle) once with network access; later builds work offline",
      );
    }
    if (!r.ok) throw new Error(`deno bundle failed:\n${r.output.trim()}`);
    let js = await Deno.readTextFile(tmp);
    // main.ts's own shebang (`-P`, i.e. "find deno.json") means nothing outside this repo.
    if (js.startsWith("#!")) js = js.slice(js.indexOf("\n") + 1);
    js = portableRequire(js);
    await Deno.writeTextFile(tmp, `${line}\n${js}`);
    await Deno.chmod(tmp, 0o755);
    await Deno.rename(tmp, out);
    return (await Deno.stat(out)).size;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * deno bundle gives the bundle a `require` (for the `node:` built-ins npm code asks for) made by
 * `createRequire(import.meta.url)`, which throws when the bundle is run from an http(s) URL.
 * Everything else is inlined, so the base only has to be some file URL.
 */
export function portableRequire(js: string): string {
  const base = 'import.meta.url.startsWith("file:")?import.meta.url:"file:///tt.js"';
  // deno bundle swaps esbuild's `__require` helper for one made with createRequire, but only when
  // the minifier gave the helper a name without `$` (a `$t` one was left in place and every
  // `require("node:events")` of ioredis threw "Dynamic require … is not supported"): do the swap
  // here whenever it was not done.
  const helper =
    /var ([\w$]+)=\(\w+=>typeof require<"u"\?require:[\s\S]{0,400}?throw Error\('Dynamic require of "'\+\w+\+'" is not supported'\)\}\);/;
  js = js.replace(
    helper,
    (_m, name: string) =>
      `import{createRequire as __deno_internal_createRequire}from"node:module";var ${name}=` +
      `__deno_internal_createRequire(${base});`,
  );
  return js.replaceAll(
    "__deno_internal_createRequire(import.meta.url)",
    `__deno_internal_createRequire(${base})`,
  );
}

/** Did `deno compile` fail only because it could not download its runtime (denort)? */
export function isDenortDownloadFailure(stderr: string): boolean {
  return /denort|base binary/i.test(stderr) &&
    /error sending request|dns error|Connect|timed out|certificate|404|403/i.test(stderr);
}

/** `deno compile` of the bundle (not of src/: smaller, and no unused npm packages embedded). */
export async function compileBundle(bundle: string, exe: string, flags: string[]): Promise<void> {
  const r = await deno([
    "compile",
    "--quiet",
    "--no-config",
    "--no-prompt",
    ...flags,
    "-o",
    exe,
    bundle,
  ]);
  if (r.ok) return;
  if (isDenortDownloadFailure(r.output)) {
    fail(
      "deno compile must download Deno's runtime (denort) from dl.deno.land, which this machine " +
        `cannot reach: build ${show(exe)} on a machine that can, or run ${show(bundle)} with deno`,
    );
  }
  throw new Error(`deno compile failed:\n${r.output.trim()}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string", short: "o", default: `${ROOT}/dist/tt.js` },
      compile: { type: "boolean", default: false },
      exe: { type: "string", default: `${ROOT}/dist/tt` },
      "print-flags": { type: "boolean", default: false },
    },
  });
  try {
    const flags = await defaultPermissionFlags();
    if (values["print-flags"]) {
      console.log(flags.join(" "));
      Deno.exit(0);
    }
    const t0 = performance.now();
    const size = await buildBundle(values.out, flags);
    console.error(
      `bundle: ${show(values.out)} (${(size / 1024).toFixed(0)} KB, ${
        Math.round(performance.now() - t0)
      } ms)\n  ${shebang(flags)}`,
    );
    if (values.compile) {
      await compileBundle(values.out, values.exe, flags);
      console.error(`bundle: compiled ${show(values.exe)}`);
    }
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}
