/** The policy's contents, the environment a wrapped round gets, and kills reaching inside. */
import {
  deepEqual,
  equal as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { presetNeeds, unsandboxed, wrapRound } from "../../src/supervisor/sandbox/mod.ts";
import { runRoundProcess } from "../../src/supervisor/process.ts";
import { makeTown, noSandbox } from "./fixture.ts";

const opts = { ignore: noSandbox, sanitizeResources: false, sanitizeOps: false };

Deno.test("presetNeeds: by preset name, by a custom command's binary, none for others", () => {
  assert(presetNeeds("claude")!.hosts.includes("api.anthropic.com"));
  assert(presetNeeds("codex-mini")!.homePaths.includes(".codex"));
  assert(presetNeeds("mine", "/usr/local/bin/gemini --yolo")!.hosts.includes(
    "generativelanguage.googleapis.com",
  ));
  assertEquals(presetNeeds("mine", "./my-agent.sh"), undefined);
});

Deno.test(
  "policy: hosts = preset + allow_hosts; writable = worktree, home, tmp, git, CLI config",
  opts,
  async () => {
    const t = await makeTown();
    try {
      const p = await t.policy({ allowHosts: ["registry.npmjs.org"] });
      assert(p.hosts.includes("api.anthropic.com") && p.hosts.includes("registry.npmjs.org"));
      deepEqual((await t.policy({ cli: "./x.sh" })).hosts, []);
      for (
        const w of [t.wtA, p.home, p.tmp, `${t.root}/.git/worktrees/a`, `${t.root}/.git/objects`]
      ) {
        assert(p.write.includes(w), `${w} not writable in ${p.write}`);
      }
      // Only the agent branches' directory of refs, never all of refs/ (main stays read-only).
      assert(p.write.includes(`${t.root}/.git/refs/heads/tt`));
      assert(!p.write.includes(`${t.root}/.git/refs`));
      assert(p.write.includes(`${t.opHome}/.claude`));
      assert(!p.write.some((w) => w.includes(".ssh")));
      assert(
        p.readOnly.includes(`${t.root}/.git/config`) && p.readOnly.includes(`${t.root}/.git/hooks`),
      );
      assert(p.hide.includes(`${t.root}/.tt`));
    } finally {
      await t.close();
    }
  },
);

Deno.test(
  "wrapRound env: private HOME, IS_SANDBOX=1, no XDG/SSH agent; unsandboxed never claims it",
  opts,
  async () => {
    const t = await makeTown();
    try {
      const p = await t.policy();
      const env = {
        PATH: "/usr/bin:/bin",
        HOME: t.opHome,
        XDG_CONFIG_HOME: `${t.opHome}/.config`,
        SSH_AUTH_SOCK: "/x",
        IS_SANDBOX: "1",
      };
      const w = await wrapRound(p, "true", env);
      w.release();
      assertEquals(w.sandboxed, true);
      assertEquals(w.env.HOME, p.home);
      assertEquals(w.env.IS_SANDBOX, "1");
      assertEquals(w.env.XDG_CONFIG_HOME, undefined);
      assertEquals(w.env.SSH_AUTH_SOCK, undefined);
      const off = unsandboxed("true", env);
      assertEquals(off.sandboxed, false);
      assertEquals(off.env.IS_SANDBOX, undefined);
      assertEquals(off.command, "true");
    } finally {
      await t.close();
    }
  },
);

Deno.test(
  "runRoundProcess: a timed-out sandboxed round is killed with everything it started",
  opts,
  async () => {
    const t = await makeTown();
    const marker = `tt-sbx-marker-${crypto.randomUUID()}`;
    try {
      const p = await t.policy();
      const w = await wrapRound(p, `sh -c 'sleep 300; echo ${marker}' & echo started; wait`, {
        PATH: "/usr/bin:/bin",
      });
      const log = `${t.dir}/round.log`;
      const r = await runRoundProcess({
        command: w.command,
        cwd: t.wtA,
        env: w.env,
        logFile: log,
        timeoutMs: 1500,
        graceMs: 500,
      });
      w.release();
      assertEquals(r.kind, "timeout");
      assertMatch(await Deno.readTextFile(log), /started/);
      const ps = await new Deno.Command("pgrep", { args: ["-f", marker], stdout: "piped" })
        .output();
      assertEquals(
        new TextDecoder().decode(ps.stdout).trim(),
        "",
        "a process of the round survived",
      );
    } finally {
      await t.close();
    }
  },
);
