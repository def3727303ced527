/**
 * scripts/bundle_link.ts: esbuild's code-split output becomes an entry and lazily loaded chunks
 * that share the entry's URL and a `require` made only when npm CommonJS code first needs one.
 */
import assert from "node:assert/strict";
import {
  chunkDirName,
  CJS_NAMESPACE,
  lazyRequire,
  linkChunks,
  MAIN_URL,
  REQUIRE_FN,
} from "../../scripts/bundle_link.ts";
import { LAZY_IMPORTS } from "../../scripts/bundle.ts";

/** esbuild's throwing `__require`, as the minifier writes it. */
const esbuildHelper = (name: string) =>
  `var ${name}=(t=>typeof require<"u"?require:typeof Proxy<"u"?new Proxy(t,{get:(e,r)=>(typeof ` +
  `require<"u"?require:e)[r]}):t)(function(t){if(typeof require<"u")return require.apply(this,` +
  `arguments);throw Error('Dynamic require of "'+t+'" is not supported')});`;
/** deno bundle's replacement for it. */
const denoShim = (name: string) =>
  `import{createRequire as __deno_internal_createRequire} from "node:module";var ${name}=` +
  `__deno_internal_createRequire(import.meta.url);`;

const dataUrl = (js: string) => `data:text/javascript,${encodeURIComponent(js)}`;
const REQUIRE = Symbol.for("tt.require");
const globals = globalThis as unknown as Record<symbol, unknown>;

Deno.test("bundle link: either require helper becomes a call of the lazily made require, whatever its name", async () => {
  for (const name of ["$t", "kt", "_$", "m"]) {
    for (const helper of [esbuildHelper(name), denoShim(name)]) {
      delete globals[REQUIRE];
      const r = lazyRequire(`var a=1;${helper}var ev=${name}("node:events");export{ev};`);
      assert.equal(r.name, name);
      assert.ok(!r.js.includes("Dynamic require of"), name);
      assert.doesNotMatch(r.js, /from\s*"node:module"/, `${name}: node:module is imported lazily`);
      const mod = await import(dataUrl(r.js));
      assert.equal(typeof mod.ev.EventEmitter, "function", name);
    }
  }
  assert.equal(lazyRequire("var a=require;export{a};").name, undefined);
});

Deno.test("bundle link: the entry imports its chunks from their directory; a missing one is refused", () => {
  const entry = '#!/usr/bin/env -S deno run -P\nimport"./rt-A.js";async function o(){' +
    'return (await import("./lean-B.js")).run()}export{o as main};';
  const chunks = new Map([
    ["rt-A.js", "var x=1;export{x as a};"],
    [
      "lean-B.js",
      'import{a as q}from"./rt-A.js";function run(){return import("./rt-A.js")}export{run};',
    ],
  ]);
  const linked = linkChunks(entry, chunks, chunkDirName("tt.js"));
  assert.equal(chunkDirName("tt.js"), "tt-chunks");
  assert.ok(!linked.entry.startsWith("#!"), "main.ts's shebang is dropped");
  assert.ok(linked.entry.includes(`${MAIN_URL}??=import.meta.url;`));
  // What esbuild imported statically comes first, from the chunk directory.
  assert.match(
    linked.entry,
    /__ttReal\|\|await import\("\.\/tt-chunks\/rt-A\.js"\);async function o/,
  );
  assert.match(linked.entry, /import\("\.\/tt-chunks\/lean-B\.js"\)/);
  // Chunks name each other as esbuild wrote them.
  const lean = linked.chunks.get("lean-B.js")!;
  assert.match(lean, /from"\.\/rt-A\.js"/);
  assert.match(lean, /import\("\.\/rt-A\.js"\)/);
  assert.throws(
    () => linkChunks('import("./gone-C.js");', chunks, "tt-chunks"),
    /imports \.\/gone-C\.js, which esbuild did not write/,
  );
  assert.throws(
    () => linkChunks("", new Map([["a.js", 'import"./gone.js";']]), "tt-chunks"),
    /a\.js imports \.\/gone\.js/,
  );
  assert.throws(
    () => linkChunks('var a=1;import"./rt-A.js";', chunks, "tt-chunks"),
    /in a form or place this linker does not know/,
  );
  assert.throws(() => linkChunks("", chunks, "../x"), /bad chunk directory/);
});

Deno.test("bundle link: the linked entry runs from its directory and through a symlink elsewhere", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tt-link-" });
  try {
    const chunks = new Map([
      ["rt-A.js", "var n=41;export{n as a};"],
      ["self-S.js", "function here(){return import.meta.url}export{here};"],
    ]);
    const entry =
      'import{a as k}from"./rt-A.js";async function m(){const s=await import("./self-S.js");' +
      `console.log(k+1,s.here(),${MAIN_URL})}import.meta.main&&await m();`;
    const linked = linkChunks(entry, chunks, "tt-chunks");
    await Deno.mkdir(`${dir}/dist/tt-chunks`, { recursive: true });
    await Deno.mkdir(`${dir}/bin`);
    for (const [f, js] of linked.chunks) await Deno.writeTextFile(`${dir}/dist/tt-chunks/${f}`, js);
    const real = `${dir}/dist/tt.js`;
    await Deno.writeTextFile(real, linked.entry);
    await Deno.symlink(real, `${dir}/bin/tt`);
    // As the shebang runs it (lazy imports, all of read), and as tt runs itself (everything in
    // the graph up front, read of the entry only; never through the link: MAIN_URL is the file).
    const lazy = [LAZY_IMPORTS, "--allow-read"];
    const runs: [string, string[]][] = [
      [real, lazy],
      [real, [`--allow-read=${real}`]],
      [`${dir}/bin/tt`, lazy],
    ];
    for (const [path, flags] of runs) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-q", "--no-config", "--no-prompt", ...flags, path],
        cwd: "/",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, `${path} ${flags}: ${dec.decode(out.stderr)}`);
      // Main ran once; every chunk's import.meta.url is the real entry's (self.ts runs it).
      const url = new URL(`file://${real}`).href;
      assert.equal(dec.decode(out.stdout).trim(), `42 ${url} ${url}`, `${path} ${flags}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bundle link: require is made at its first call, not when a chunk loads", async () => {
  const rt = `${denoShim("m")}var n=(a,b)=>()=>(b||a((b={exports:{}}).exports,b),b.exports);` +
    "export{m as a,n as b};";
  const linked = linkChunks('import"./chunk-RT.js";', new Map([["chunk-RT.js", rt]]), "t-chunks");
  const js = linked.chunks.get("chunk-RT.js")!;
  assert.doesNotMatch(js, /from\s*"node:module"/, "no import of node:module");
  delete globals[REQUIRE];
  const mod = await import(dataUrl(js));
  assert.equal(globals[REQUIRE], undefined, "loading the chunk made no require");
  assert.equal(typeof mod.a("node:events").EventEmitter, "function");
  assert.equal(typeof globals[REQUIRE], "function", "the first call made it");
});

Deno.test("bundle link: import.meta.url of every chunk is the entry's", async () => {
  const chunks = new Map([["self-S.js", "function here(){return import.meta.url}export{here};"]]);
  const linked = linkChunks('import("./self-S.js");', chunks, "tt-chunks");
  const self = linked.chunks.get("self-S.js")!;
  assert.ok(!self.replaceAll(`(${MAIN_URL}??import.meta.url)`, "").includes("import.meta.url"));
  const sym = Symbol.for("tt.main");
  const g = globalThis as unknown as Record<symbol, unknown>;
  const before = g[sym];
  try {
    g[sym] = "file:///opt/tt/tt.js";
    assert.equal((await import(dataUrl(self))).here(), "file:///opt/tt/tt.js");
  } finally {
    g[sym] = before;
  }
  assert.throws(
    () => linkChunks("console.log(import.meta.url)", new Map(), "tt-chunks"),
    /the entry \(main\.ts\) uses import\.meta\.url/,
  );
  assert.ok(REQUIRE_FN.includes("tt.require"));
});

Deno.test("bundle link: a dynamic import of npm CommonJS code gives its exports by name, as from source", async () => {
  const chunks = new Map([
    ["built-I.js", 'var r=()=>({Redis:class{},Cluster:1,default:"x"});export default r();'],
    ["conn-C.js", 'async function c(){return new(await import("./built-I.js")).Redis}export{c};'],
  ]);
  const linked = linkChunks('import("./conn-C.js");import("./built-I.js");', chunks, "tt-chunks");
  assert.ok(
    linked.chunks.get("conn-C.js")!.includes(
      `import("./built-I.js").then(${CJS_NAMESPACE})`,
    ),
  );
  assert.ok(linked.entry.includes(`import("./tt-chunks/built-I.js").then(${CJS_NAMESPACE})`));
  assert.ok(
    linked.entry.includes('import("./tt-chunks/conn-C.js");'),
    "an ESM chunk is left alone",
  );
  // It runs: named exports from module.exports, which is also the default.
  const mod = await import(dataUrl(linked.chunks.get("built-I.js")!));
  const ns = (0, eval)(CJS_NAMESPACE)(mod);
  assert.equal(typeof ns.Redis, "function");
  assert.equal(ns.Cluster, 1);
  assert.equal(ns.default, mod.default);
  // A class as module.exports: its statics, not Function's own properties.
  const cls = (0, eval)(CJS_NAMESPACE)({
    default: class K {
      static x = 2;
    },
  });
  assert.deepEqual(Object.keys(cls).sort(), ["default", "x"]);
  assert.throws(
    () => linkChunks('import"./built-I.js";', chunks, "tt-chunks"),
    /imports the CommonJS chunk built-I\.js statically/,
  );
});
