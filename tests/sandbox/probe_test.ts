/** probeSandbox really creates a sandbox; decideSandbox turns the answer into on/off/refusal. */
import {
  deepEqual,
  equal as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { decideSandbox, probeSandbox } from "../../src/supervisor/sandbox/mod.ts";
import { denoRunArgs } from "../helpers.ts";
import { noSandbox } from "./fixture.ts";

async function probeWithPath(path: string) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: denoRunArgs("tests/sandbox/probe_main.ts"),
    env: { PATH: path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  assert(r.success, new TextDecoder().decode(r.stderr));
  return JSON.parse(out) as { ok: boolean; reason: string; fix: string };
}

Deno.test("probe: a bwrap whose --version works but cannot create a sandbox fails the probe", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tt-stub-bwrap-" });
  try {
    // What Ubuntu 24.04's AppArmor userns rule looks like: --version fine, creation refused.
    await Deno.writeTextFile(
      `${dir}/bwrap`,
      `#!/bin/sh\n[ "$1" = --version ] && { echo "bubblewrap 0.8.0"; exit 0; }\n` +
        `echo "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const p = await probeWithPath(`${dir}:${Deno.env.get("PATH")}`);
    assertEquals(p.ok, false);
    assertMatch(
      p.reason,
      /cannot create a sandbox here: bwrap: setting up uid map: Permission denied/,
    );
    assertMatch(p.fix, /user namespaces/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probe: no bwrap on PATH says what to install", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tt-no-bwrap-" });
  try {
    await Deno.symlink("/bin/sh", `${dir}/sh`);
    const p = await probeWithPath(dir);
    assertEquals(p.ok, false);
    assertMatch(p.reason, /bubblewrap \(bwrap\) is not installed/);
    assertMatch(p.fix, /apt-get install bubblewrap/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "probe: succeeds here, and is computed once per process",
  { ignore: noSandbox },
  async () => {
    const a = probeSandbox();
    assert(a === probeSandbox());
    deepEqual(await a, { ok: true, reason: "", fix: "" });
  },
);

Deno.test("decideSandbox: off, auto and on against a working and a failing probe", () => {
  const good = { ok: true, reason: "", fix: "" };
  const bad = {
    ok: false,
    reason: "bubblewrap (bwrap) is not installed",
    fix: "apt-get install bubblewrap",
  };
  assertEquals(decideSandbox("off", good).on, false);
  assertEquals(decideSandbox("auto", good).on, true);
  assertEquals(decideSandbox("on", good).on, true);
  assertEquals(decideSandbox("on", good).refusal, undefined);
  const auto = decideSandbox("auto", bad);
  assertEquals(auto.on, false);
  assertEquals(auto.refusal, undefined);
  assertMatch(auto.why!, /not installed/);
  const on = decideSandbox("on", bad);
  assertEquals(on.on, false);
  assertMatch(
    on.refusal!,
    /^\[agent\] sandbox = "on" but bubblewrap \(bwrap\) is not installed: apt-get install bubblewrap/,
  );
  assert(!on.refusal!.includes("\n"));
});
