/** What a sandboxed round can and cannot see or write (the attacker's view of the filesystem). */
import { equal as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { git, makeTown, noSandbox, SSH_KEY, type Town } from "./fixture.ts";

async function withTown(fn: (t: Town) => Promise<void>) {
  const t = await makeTown();
  try {
    await fn(t);
  } finally {
    await t.close();
  }
}

const opts = { ignore: noSandbox, sanitizeResources: false, sanitizeOps: false };

Deno.test(
  "sandbox: the operator's ~/.ssh key, ~/.tt and other towns are invisible",
  opts,
  () =>
    withTown(async (t) => {
      const r = await t.run(
        `cat ${t.opHome}/.ssh/id_ed25519; ls -a ${t.opHome}; cat ${t.opHome}/.tt/config.toml; ` +
          `cat ~/.ssh/id_ed25519; cat ${t.other}/notes.txt; echo end`,
      );
      assertMatch(r.out, /end/);
      assert(!r.out.includes(SSH_KEY), r.out);
      assert(!r.out.includes("redis_url"), r.out);
      assert(!r.out.includes("other town's notes"), r.out);
      assert(!/\bid_ed25519\b[^:]/.test(r.out.replace(/cat: [^\n]*\n/g, "")), r.out);
    }),
);

Deno.test(
  "sandbox: the town's .tt/ (redis.sock, logs) and other worktrees are invisible",
  opts,
  () =>
    withTown(async (t) => {
      const r = await t.run(
        `for p in ${t.root}/.tt/redis.sock ${t.root}/.tt/logs/b.log ${t.wtB}/secret.txt; do ` +
          `test -e "$p" && echo "SEEN $p"; done; ls -a ${t.root}/.tt ${t.root}/.tt/worktrees; ` +
          `socat -u UNIX-CONNECT:${t.root}/.tt/redis.sock - </dev/null && echo REDIS-REACHED; echo end`,
      );
      assertMatch(r.out, /end/);
      assert(!r.out.includes("SEEN"), r.out);
      assert(!r.out.includes("REDIS-REACHED"), r.out);
      assert(!/\blogs\b|redis\.sock\n|\bb\n/.test(r.out.split("socat")[0]), r.out);
    }),
);

Deno.test(
  "sandbox: writes outside the worktree, home and temp fail and leave nothing",
  opts,
  () =>
    withTown(async (t) => {
      // Visible read-only: every write fails.
      const readOnly = [
        `${t.root}/planted`,
        `${t.root}/.git/hooks/pre-commit`,
        `${t.root}/.git/config`,
        `/etc/planted-by-agent`,
      ];
      // Hidden (an empty tmpfs inside): a write may succeed there but must not reach the host.
      const hidden = [`${t.opHome}/planted`, `${t.wtB}/planted`, `/tmp/planted-by-agent`];
      const r = await t.run(
        readOnly.map((p) => `echo x >> ${p} && echo "WROTE ${p}"`).join("; ") + "; " +
          hidden.map((p) => `mkdir -p $(dirname ${p}); echo x > ${p}`).join("; ") +
          `; git config core.hooksPath /tmp && echo WROTE-CONFIG; ` +
          `git update-ref refs/heads/main HEAD && echo MOVED-MAIN; echo end`,
      );
      assertMatch(r.out, /end/);
      for (const w of ["WROTE", "MOVED-MAIN"]) assert(!r.out.includes(w), r.out);
      for (const p of [readOnly[0], readOnly[1], readOnly[3], ...hidden]) {
        assert(!(await Deno.stat(p).then(() => true, () => false)), `${p} exists on the host`);
      }
      assertEquals(await git(t.root, "config", "--get", "core.hooksPath").catch(() => ""), "");
    }),
);

Deno.test(
  "sandbox: the round writes its worktree, private HOME (0700) and temp, commits",
  opts,
  () =>
    withTown(async (t) => {
      const before = await git(t.root, "rev-parse", "main");
      const r = await t.run(
        `echo hi > file.txt && git add file.txt && ` +
          `git -c user.email=a@a -c user.name=a commit -q -m "by agent" && echo COMMITTED; ` +
          `echo h > "$HOME/h" && echo HOME-OK; echo t > "$TMPDIR/t" && echo TMP-OK; ` +
          `echo "home=$HOME tmp=$TMPDIR sandbox=$IS_SANDBOX"; ` +
          `touch "$HOME/.claude/from-agent" && echo CLAUDE-OK`,
      );
      for (const w of ["COMMITTED", "HOME-OK", "TMP-OK", "CLAUDE-OK"]) {
        assertMatch(r.out, new RegExp(w));
      }
      assertEquals(await git(t.root, "log", "-1", "--format=%s", "tt/a"), "by agent");
      assertEquals(await git(t.root, "rev-parse", "main"), before);
      const p = await t.policy();
      assertMatch(r.out, new RegExp(`home=${p.home} tmp=${p.tmp} sandbox=1`));
      assertEquals((await Deno.stat(p.home)).mode! & 0o777, 0o700);
      assertEquals((await Deno.stat(p.tmp)).mode! & 0o777, 0o700);
      // The CLI's own login dir is the operator's, bound read-write (a login outlives the round).
      assert((await Deno.stat(`${t.opHome}/.claude/from-agent`)).isFile);
    }),
);

Deno.test(
  "sandbox: the round's channel socket is reachable, nothing else of .tt/",
  opts,
  () =>
    withTown(async (t) => {
      const r = await t.run(`socat -u UNIX-CONNECT:${t.channel} -; ls ${t.root}/.tt/channels`);
      assertMatch(r.out, /pong/);
      assertEquals(r.out.match(/a\.sock/g)?.length, 1, r.out);
    }),
);

Deno.test(
  "sandbox: a town inside the operator's home: the rest of home hidden, commits work",
  opts,
  () =>
    withTown(async (t) => {
      // The common layout (~/src/app): the operator's home is the town's parent here.
      const extra = { operatorHome: t.dir, ttHome: `${t.opHome}/.tt` };
      const r = await t.run(
        `cat ${t.opHome}/.ssh/id_ed25519; cat ${t.other}/notes.txt; ls ${t.dir}; ` +
          `echo x > f && git add f && git -c user.email=a@a -c user.name=a commit -q -m home ` +
          `&& echo COMMITTED; echo end`,
        extra,
      );
      assertMatch(r.out, /COMMITTED/);
      assert(!r.out.includes(SSH_KEY) && !r.out.includes("other town's notes"), r.out);
      assertEquals(await git(t.root, "log", "-1", "--format=%s", "tt/a"), "home");
      const p = await t.policy(extra);
      assert(!p.hide.includes(t.dir) && !p.hide.includes(t.root), p.hide.join(" "));
    }),
);
