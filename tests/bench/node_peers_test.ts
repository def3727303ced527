/**
 * scripts/bench installs its Node peers (BullMQ, autocannon) with `npm ci` in bench/node/. npm ci
 * refuses a lockfile that is out of sync with package.json, which a machine that already has
 * node_modules there never notices: check it the way a fresh clone would, in an empty directory.
 */
import assert from "node:assert/strict";
import { ROOT } from "../helpers.ts";

const npm = (() => {
  try {
    return new Deno.Command("npm", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "bench/node: npm ci accepts the lockfile from a fresh clone",
  ignore: !npm,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tt-bench-node-" });
    try {
      for (const f of ["package.json", "package-lock.json"]) {
        await Deno.copyFile(`${ROOT}/bench/node/${f}`, `${dir}/${f}`);
      }
      const out = await new Deno.Command("npm", {
        args: ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, `npm ci refused bench/node's lockfile: ${err.slice(0, 600)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
