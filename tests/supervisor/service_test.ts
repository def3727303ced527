/**
 * The systemd unit of `tt service install`: quoting that systemd cannot misread, and the
 * environment it carries.
 */
import assert from "node:assert/strict";
import {
  installService,
  type ServiceHost,
  unitName,
  unitText,
} from "../../src/supervisor/service.ts";

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

Deno.test("the unit carries the shell's REDIS_URL and TLS CA variables, nothing else of it", async () => {
  const home = await Deno.makeTempDir({ prefix: "tt-svc-home-" });
  const root = await Deno.makeTempDir({ prefix: "tt-svc-town-" });
  try {
    const env: Record<string, string> = {
      HOME: home,
      PATH: "/usr/bin:/bin",
      REDIS_URL: "rediss+cluster://tt:pw@10.0.0.1:7000",
      DENO_CERT: "/etc/tt/ca.pem",
      NODE_EXTRA_CA_CERTS: "/etc/tt/extra.pem",
      GITHUB_TOKEN: "ghp_secret",
    };
    const ran: string[][] = [];
    const host: ServiceHost = {
      os: "linux",
      env: (n) => env[n],
      uid: () => 1000,
      run: (argv) => {
        ran.push(argv);
        return Promise.resolve({ ok: true, detail: "" });
      },
    };
    const r = await installService({ name: "tlsz", root }, false, host);
    assert.deepEqual(ran, []);
    const lines = (await Deno.readTextFile(r.path)).split("\n")
      .filter((l) => l.startsWith("Environment="));
    assert.deepEqual(lines.sort(), [
      'Environment="DENO_CERT=/etc/tt/ca.pem"',
      'Environment="NODE_EXTRA_CA_CERTS=/etc/tt/extra.pem"',
      'Environment="PATH=/usr/bin:/bin"',
      'Environment="REDIS_URL=rediss+cluster://tt:pw@10.0.0.1:7000"',
    ]);
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
