/**
 * Turns the output of `deno bundle --code-splitting` into the shipped layout: the entry `tt.js`
 * (with the shebang) and its chunks in `tt-chunks/`, each loaded only when a dynamic import
 * needs it, as from source (src/cli/lean.ts loads each command's modules on demand).
 *
 * Why chunks: one file puts every module's `import … from "node:…"` at its top, so each run
 * loaded the Node-compatibility modules of ioredis, hono, the MCP SDK and the sandbox runtime
 * (~75 ms here) and read 2.2 MB (~25 ms), whatever the command. The chunks' dynamic imports
 * stay literal: `deno run` then loads a chunk only when it is imported if given
 * --unstable-lazy-dynamic-imports (the shebang has it), and otherwise reads them all up front
 * (processes tt starts itself, with narrowed permissions: a chunk loaded lazily needs
 * --allow-read of it, one in the graph from the start does not). Pure string work on esbuild's
 * output, checked by tests/cli/bundle_link_test.ts; scripts/bundle.ts does the files.
 */

/** The entry's URL, set by the entry before anything imports a chunk: `import.meta.url` of
 * every chunk means it (tt finds its shebang, its install path and its URL through it). */
export const MAIN_URL = 'globalThis[Symbol.for("tt.main")]';
/** Set by an entry run through a symlink to the real entry it imports, which then runs main. */
export const VIA_SYMLINK = 'globalThis[Symbol.for("tt.via")]';
/**
 * The `require` of the chunks' npm CommonJS code (for the node: built-ins; everything else is
 * inlined), made on its first call: importing node:module costs ~30 ms, which deno bundle's
 * shim paid at the top of every run. createRequire refuses http(s) URLs (a run from a URL);
 * any file URL does as its base.
 */
export const REQUIRE_FN = 'globalThis[Symbol.for("tt.require")]';
const MAKE_REQUIRE = `(${REQUIRE_FN}??=process.getBuiltinModule("node:module").createRequire(` +
  `(u=>u.startsWith("file:")?u:"file:///tt.js")(import.meta.url)))`;

/** Where the chunks of bundle file `name` go, beside it: tt.js → tt-chunks. */
export function chunkDirName(name: string): string {
  return `${name.replace(/\.js$/, "")}-chunks`;
}

/** deno bundle's require shim: `createRequire` imported from node:module, called at the top. */
const DENO_SHIM =
  /import\s*\{\s*createRequire as __deno_internal_createRequire\s*\}\s*from\s*"node:module";\s*var ([\w$]+)=__deno_internal_createRequire\(import\.meta\.url\);/;
/**
 * esbuild's own `__require`, which throws "Dynamic require … is not supported": deno bundle
 * swaps it for its shim only when the minifier named it without `$` (a `$t` one was left, and
 * every `require("node:events")` of ioredis threw).
 */
const ESBUILD_HELPER =
  /var ([\w$]+)=\(\w+=>typeof require<"u"\?require:[\s\S]{0,400}?throw Error\('Dynamic require of "'\+\w+\+'" is not supported'\)\}\);/;

/**
 * Replaces a chunk's require helper (either form) by one that makes REQUIRE_FN when first
 * called; returns the helper's name, or undefined when the chunk defines none.
 */
export function lazyRequire(js: string): { js: string; name?: string } {
  for (const re of [DENO_SHIM, ESBUILD_HELPER]) {
    const m = re.exec(js);
    if (m) {
      const name = m[1];
      const fn = `var ${name}=function(id){return ${MAKE_REQUIRE}(id)};`;
      return { js: js.slice(0, m.index) + fn + js.slice(m.index + m[0].length), name };
    }
  }
  return { js };
}

/** A chunk that is one npm CommonJS module, which a dynamic import names (ioredis): esbuild
 * gives it only a default export, `export default require_x();`. */
const CJS_DEFAULT = /export\s*default\s*[\w$]+\(\)\s*;?\s*(?:\/\*[\s\S]*?\*\/\s*)*$/;
/**
 * What `import()` of npm CommonJS code gives from source (Deno's interop, as Node's): the
 * properties of module.exports as named exports, and module.exports as the default. Without it,
 * `(await import("ioredis")).Redis` was undefined in the chunks.
 */
export const CJS_NAMESPACE = "(m=>{const d=m.default,o={default:d};if(d!==null&&" +
  '(typeof d=="object"||typeof d=="function"))for(const k of Object.getOwnPropertyNames(d))' +
  'k!=="default"&&!(typeof d=="function"&&["length","name","prototype","arguments","caller"]' +
  ".includes(k))&&Object.defineProperty(o,k,{enumerable:!0,get:()=>d[k]});return o})";

/** Makes every dynamic import of a CommonJS chunk give its named exports. */
export function cjsInterop(js: string, cjs: Set<string>): string {
  return js.replace(
    /\bimport\s*\(\s*"\.\/([\w.$-]+\.js)"\s*\)/g,
    (m, file: string) => cjs.has(file) ? `${m}.then(${CJS_NAMESPACE})` : m,
  );
}

/** Relative module specifiers of a module: static imports, re-exports and dynamic imports. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)"\.\/([\w.$-]+\.js)"/g;
/** A static import or re-export of a chunk (group 2: its file). */
const STATIC_IMPORT = /(\bfrom\s*|\bimport\s*)"\.\/([\w.$-]+\.js)"/g;

export function relativeImports(js: string): string[] {
  return [...js.matchAll(SPECIFIER)].map((m) => m[2]);
}

export interface Linked {
  /** The entry, without a shebang line. */
  entry: string;
  /** File name in the chunk directory → text. */
  chunks: Map<string, string>;
}

/**
 * Links esbuild's code-split output: `entry` (main.js) and its chunks (file name → text, all in
 * one directory) become an entry that imports them from `<chunkDir>/` beside it and chunks that
 * read the entry's URL and a lazily made `require`. Throws on a shape it does not know.
 */
export function linkChunks(
  entryIn: string,
  chunksIn: Map<string, string>,
  chunkDir: string,
): Linked {
  if (!/^[\w.-]+$/.test(chunkDir)) throw new Error(`bad chunk directory name '${chunkDir}'`);
  let entry = entryIn.startsWith("#!") ? entryIn.slice(entryIn.indexOf("\n") + 1) : entryIn;
  if (/import\.meta\.url|__deno_internal_createRequire|Dynamic require of/.test(entry)) {
    throw new Error(
      "the entry (main.ts) uses import.meta.url or require: keep them in modules it imports",
    );
  }
  const chunks = new Map<string, string>();
  // 1. The require helper (the chunk esbuild puts its runtime in defines it for all), and 2.
  //    every chunk's import.meta.url is the entry's, as in one file (unresolved, a chunk would
  //    read its own first line for the shebang's permissions: src/supervisor/self.ts).
  for (const [file, text] of chunksIn) {
    const js = lazyRequire(text).js.replaceAll("import.meta.url", `(${MAIN_URL}??import.meta.url)`);
    if (/Dynamic require of|__deno_internal_createRequire/.test(js)) {
      throw new Error(`${file}: a require helper of a shape this linker does not know`);
    }
    chunks.set(file, js);
  }
  // 3. A dynamic import of npm CommonJS code gives its exports by name, as from source; esbuild
  //    imports such a chunk only dynamically (anything else is a shape this does not know).
  const cjs = new Set([...chunks].filter(([, js]) => CJS_DEFAULT.test(js)).map(([f]) => f));
  for (const [file, text] of [...chunks, ["the entry", entry] as [string, string]]) {
    for (const m of text.matchAll(STATIC_IMPORT)) {
      if (cjs.has(m[2])) throw new Error(`${file} imports the CommonJS chunk ${m[2]} statically`);
    }
    if (file === "the entry") entry = cjsInterop(text, cjs);
    else chunks.set(file, cjsInterop(text, cjs));
  }
  // 4. Every chunk another one names must exist.
  for (const [file, text] of chunks) {
    for (const dep of relativeImports(text)) {
      if (!chunks.has(dep)) {
        throw new Error(`${file} imports ./${dep}, which esbuild did not write`);
      }
    }
  }
  return { entry: linkEntry(entry, chunks, chunkDir), chunks };
}

/** A literal dynamic import of a chunk: `import("./x.js")`. */
const DYNAMIC = /\bimport\s*\(\s*"\.\/([\w.$-]+\.js)"\s*\)/g;
/** The entry's own names (esbuild's minified ones never start with __tt). */
const REAL = "__ttReal";
const IS_MAIN = "__ttMain";

/**
 * The entry. Run through a symlink (`ln -s …/dist/tt.js ~/bin/tt`; Deno does not resolve it, so
 * `./tt-chunks/` would be looked for beside the link) it imports the file the link names, which
 * runs main, and does nothing itself. Otherwise it sets MAIN_URL, imports from its chunk
 * directory what esbuild imported statically (in order, before the rest runs) and runs main.
 */
function linkEntry(entryIn: string, chunks: Map<string, string>, chunkDir: string): string {
  if (/__tt/.test(entryIn)) throw new Error("the entry already uses a name starting with __tt");
  const at = (file: string) => {
    if (!chunks.has(file)) {
      throw new Error(`the entry imports ./${file}, which esbuild did not write`);
    }
    return `"./${chunkDir}/${file}"`;
  };
  const head: string[] = [];
  let rest = entryIn;
  for (;;) {
    const side = /^\s*import\s*"\.\/([\w.$-]+\.js)";?/.exec(rest);
    const named = /^\s*import\s*\{([^}]*)\}\s*from\s*"\.\/([\w.$-]+\.js)";?/.exec(rest);
    if (side) head.push(`${REAL}||await import(${at(side[1])});`);
    else if (named) {
      const names = named[1].split(",").map((p) => p.trim()).filter(Boolean)
        .map((p) => p.replace(/\s+as\s+/, ":"));
      head.push(`const{${names.join(",")}}=${REAL}?{}:await import(${at(named[2])});`);
    } else break;
    rest = rest.slice((side ?? named)![0].length);
  }
  if (/(\bfrom\s*|\bimport\s*)"\.\//.test(rest)) {
    throw new Error("the entry imports a chunk in a form or place this linker does not know");
  }
  rest = rest.replace(DYNAMIC, (_m, file: string) => `import(${at(file)})`)
    .replaceAll("import.meta.main", IS_MAIN);
  const real = `const ${REAL}=(()=>{const u=import.meta.url;if(!u.startsWith("file:"))return;` +
    "try{const p=decodeURIComponent(new URL(u).pathname);if(!Deno.lstatSync(p).isSymlink)return;" +
    'const r=new URL("file:///");r.pathname=Deno.realPathSync(p);return r.href}catch{}})();';
  const trampoline = `if(${REAL}){${MAIN_URL}=${VIA_SYMLINK}=${REAL};await import(${REAL})}`;
  const isMain = `const ${IS_MAIN}=!${REAL}&&(import.meta.main||${VIA_SYMLINK}===import.meta.url);`;
  return `${real}${trampoline}${MAIN_URL}??=import.meta.url;${isMain}${head.join("")}${rest}`;
}
