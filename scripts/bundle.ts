/**
 * `deno task bundle`: builds dist/tt.js, the entry, with a shebang that runs it with exactly the
 * permissions of `permissions.default` in deno.json (never -A), and dist/tt-chunks/, the modules
 * it loads on demand (scripts/bundle_link.ts says why).
 * `deno task compile`: the same, then `deno compile` of that bundle into dist/tt.
 *
 *   deno run -P scripts/bundle.ts [--out <file.js>] [--compile [--exe <file>]] [--print-flags]
 */
import { parseArgs } from "node:util";
import { chunkDirName, linkChunks } from "./bundle_link.ts";

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

/**
 * Without it, `deno run` reads and analyses every chunk that a literal `import("…")` names before
 * running anything (each run, ~170 files); with it, a chunk is read when imported (as deno.json's
 * `"unstable": ["lazy-dynamic-imports"]` does for source runs). Not a permission.
 */
export const LAZY_IMPORTS = "--unstable-lazy-dynamic-imports";

export function shebang(flags: string[]): string {
  return `#!/usr/bin/env -S deno run -q --no-prompt ${LAZY_IMPORTS} ${flags.join(" ")}`;
}

/** The flags to run a bundle with (permissions, --no-prompt, lazy imports), from its first line. */
export function shebangFlags(bundleText: string): string[] {
  const first = bundleText.slice(0, bundleText.indexOf("\n"));
  if (!first.startsWith("#!")) throw new Error("the bundle has no shebang line");
  return first.split(" ").filter((a) =>
    /^--(allow|deny|ignore)-/.test(a) || a === "--no-prompt" || a === LAZY_IMPORTS
  );
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

/** What buildBundle wrote: the entry and its chunk directory, and their sizes. */
export interface BuiltBundle {
  entry: string;
  chunkDir: string;
  chunks: number;
  /** Bytes of the entry and every chunk. */
  bytes: number;
}

/**
 * Bundles main.ts into `out` (mode 755, with the shebang) and its chunks into `<out>-chunks/`
 * beside it (scripts/bundle_link.ts). Built in a temp directory beside `out`, then moved in
 * place: the entry last, so an entry never names chunks that are not there.
 */
export async function buildBundle(outIn: string, flags: string[]): Promise<BuiltBundle> {
  // deno bundle runs in the repo: paths relative to where this was started become absolute.
  const out = outIn.startsWith("/") ? outIn : `${Deno.cwd()}/${outIn}`;
  const line = shebang(flags);
  // Linux reads at most 255 bytes of a shebang line; beyond that the flags are silently cut.
  if (new TextEncoder().encode(line).length > 255) {
    throw new Error(`the shebang line is over 255 bytes; shorten permissions.default`);
  }
  const dir = out.slice(0, out.lastIndexOf("/")) || "/";
  const name = out.slice(out.lastIndexOf("/") + 1);
  if (!name) throw new Error(`--out ${outIn}: give a file name, e.g. dist/tt.js`);
  const chunkDir = `${dir}/${chunkDirName(name)}`;
  await Deno.mkdir(dir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir, prefix: `.${name}.build-` });
  try {
    const r = await deno([
      "bundle",
      "--quiet",
      "--frozen",
      "--platform",
      "deno",
      "--minify",
      "--code-splitting",
      "--outdir",
      `${tmp}/esbuild`,
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
    const outputs = new Map<string, string>();
    for await (const e of Deno.readDir(`${tmp}/esbuild`)) {
      if (!e.isFile || !e.name.endsWith(".js")) {
        throw new Error(`deno bundle wrote ${e.name}, which the linker does not expect`);
      }
      outputs.set(e.name, await Deno.readTextFile(`${tmp}/esbuild/${e.name}`));
    }
    const main = outputs.get("main.js");
    if (main === undefined) throw new Error("deno bundle wrote no main.js");
    outputs.delete("main.js");
    const linked = linkChunks(main, outputs, chunkDirName(name));
    let bytes = 0;
    const enc = new TextEncoder();
    await Deno.mkdir(`${tmp}/chunks`);
    for (const [file, js] of linked.chunks) {
      const data = enc.encode(js);
      bytes += data.length;
      await Deno.writeFile(`${tmp}/chunks/${file}`, data, { mode: 0o644 });
    }
    const entry = enc.encode(`${line}\n${linked.entry}`);
    bytes += entry.length;
    await Deno.writeFile(`${tmp}/entry.js`, entry);
    await Deno.chmod(`${tmp}/entry.js`, 0o755);
    // The chunks' names carry a hash of their content: the old ones go with the old entry.
    const old = `${tmp}/old-chunks`;
    const hadOld = await Deno.rename(chunkDir, old).then(() => true, (e) => {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    });
    await Deno.rename(`${tmp}/chunks`, chunkDir);
    await Deno.rename(`${tmp}/entry.js`, out);
    if (hadOld) await Deno.remove(old, { recursive: true });
    return { entry: out, chunkDir, chunks: linked.chunks.size, bytes };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Did `deno compile` fail only because it could not download its runtime (denort)? */
export function isDenortDownloadFailure(stderr: string): boolean {
  return /denort|base binary/i.test(stderr) &&
    /error sending request|dns error|Connect|timed out|certificate|404|403/i.test(stderr);
}

/**
 * The `deno compile` arguments for a built bundle, with its own flags: `--include` embeds the
 * chunks (the entry's literal imports would pull them in anyway; the flag keeps that from
 * depending on it).
 */
export function compileArgs(bundle: BuiltBundle, exe: string, flags: string[]): string[] {
  return [
    "compile",
    "--quiet",
    "--no-config",
    "--no-prompt",
    LAZY_IMPORTS,
    ...flags,
    "--include",
    bundle.chunkDir,
    "-o",
    exe,
    bundle.entry,
  ];
}

/** `deno compile` of the bundle (not of src/: smaller, and no unused npm packages embedded). */
export async function compileBundle(bundle: BuiltBundle, exe: string, flags: string[]) {
  const r = await deno(compileArgs(bundle, exe, flags));
  if (r.ok) return;
  if (isDenortDownloadFailure(r.output)) {
    fail(
      "deno compile must download Deno's runtime (denort) from dl.deno.land, which this machine " +
        `cannot reach: build ${show(exe)} on a machine that can, or run ${
          show(bundle.entry)
        } with deno`,
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
    const built = await buildBundle(values.out, flags);
    console.error(
      `bundle: ${show(built.entry)} and ${built.chunks} modules in ${show(built.chunkDir)}/ (${
        (built.bytes / 1024).toFixed(0)
      } KB, ${Math.round(performance.now() - t0)} ms)\n  ${shebang(flags)}`,
    );
    if (values.compile) {
      await compileBundle(built, values.exe, flags);
      console.error(`bundle: compiled ${show(values.exe)}`);
    }
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  }
}
