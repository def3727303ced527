/** The systemd unit of `tt service install`: quoting that systemd cannot misread. */
import assert from "node:assert/strict";
import { unitName, unitText } from "../../src/supervisor/service.ts";

Deno.test("unit text quotes the town root and environment for systemd ($, %, quotes, spaces)", () => {
  const root = `/srv/a "b" $HOME %h\\x`;
  const text = unitText({ name: "my town", root }, {
    PATH: "/bin:/usr/bin",
    REDIS_URL: "redis://u:p%40@h/0",
  });
  const exec = text.split("\n").find((l) => l.startsWith("ExecStart="))!;
  assert.ok(exec.endsWith(`"--town" "/srv/a \\"b\\" $$HOME %%h\\\\x" "supervise"`), exec);
  assert.match(text, /^WorkingDirectory="\/srv\/a \\"b\\" \$\$HOME %%h\\\\x"$/m);
  assert.match(text, /^Environment="REDIS_URL=redis:\/\/u:p%%40@h\/0"$/m);
  assert.match(text, /^Restart=on-failure$/m);
  assert.match(text, /^WantedBy=default.target$/m);
  // No line break can be smuggled in through the root: it stays one ExecStart line.
  const evil = unitText({ name: "t", root: "/x\nExecStartPre=/bin/rm -rf /" }, {});
  assert.doesNotMatch(evil, /^ExecStartPre=/m);
});

Deno.test("unit names are file-safe", () => {
  assert.equal(unitName("my-town"), "tt-my-town.service");
  assert.doesNotMatch(unitName("../../etc/x y"), /\/| /);
});
