/** scripts/bundle.ts gives npm CJS code a working `require` whatever name the minifier picked. */
import assert from "node:assert/strict";
import { portableRequire } from "../../scripts/bundle.ts";

const helper = (name: string) =>
  `var ${name}=(t=>typeof require<"u"?require:typeof Proxy<"u"?new Proxy(t,{get:(e,r)=>(typeof ` +
  `require<"u"?require:e)[r]}):t)(function(t){if(typeof require<"u")return require.apply(this,` +
  `arguments);throw Error('Dynamic require of "'+t+'" is not supported')});`;

Deno.test("bundle: esbuild's throwing __require helper becomes createRequire, also when named with $", async () => {
  for (const name of ["$t", "kt", "_$"]) {
    const js = portableRequire(`var a=1;${helper(name)}var ev=${name}("node:events");export{ev};`);
    assert.ok(!js.includes("Dynamic require of"), name);
    assert.ok(js.includes(`var ${name}=__deno_internal_createRequire(`), name);
    // It runs: the module gets node:events through the swapped-in require.
    const url = `data:text/javascript,${encodeURIComponent(js)}`;
    const mod = await import(url);
    assert.equal(typeof mod.ev.EventEmitter, "function", name);
  }
});
