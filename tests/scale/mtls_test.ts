/**
 * Sentinels with their own password and client certificates (mutual TLS), on real topologies
 * from bench/lib/topology.ts, every server with `tls-auth-clients yes` and the data nodes'
 * `default` user off:
 * - a Sentinel set whose sentinels have `requirepass` and an ACL user of their own, reached as
 *   that user (`sentinel_user`/`sentinel_password`) with a client certificate
 *   (`rediss+sentinel://…?tls_cert=…&tls_key=…`); the attacker's test: the sentinel password
 *   appears in no output, event, log, file or `ps` line of tt where the data nodes' password does
 *   not too (only the service unit holds REDIS_URL, mode 600);
 * - a 3-master TLS cluster and a single TLS node, reached with a client certificate and the CA
 *   given as `tls_ca` (no DENO_CERT);
 * On each: init, spawn, assign, the agent completes, status; the narrowed supervisor may read
 * exactly the certificate files. Refused with one line, exit 1 and nothing written: no or a
 * wrong sentinel password, no client certificate, one from another CA, a missing key file, a key
 * readable by others. About 40–60 s on 2 cores; part of every scripts/test. With TT_TEST_SCALE=1
 * also the failover run (scenario.ts) through those sentinels, over mutual TLS, with
 * `wait_replicas = 1`: the supervisors find the new master through the sentinels' password.
 */
import assert from "node:assert/strict";
import { report, uniqueName } from "../helpers.ts";
import {
  type AclUser,
  cannotRun,
  makeCertificates,
  startCluster,
  startSentinel,
  startSingle,
  type Topology,
} from "../../bench/lib/topology.ts";
import { failoverRun, sentinelFailover } from "./scenario.ts";
import {
  noOpenssl,
  refused as refusedWith,
  supervisorLine,
  supervisorReads,
  TrustingSandbox,
} from "./tls_helpers.ts";

const skip = cannotRun() ?? noOpenssl();
if (skip) report(`skipped the mutual TLS / sentinel password tests: ${skip}`);
const skipFailover = skip ?? (Deno.env.get("TT_TEST_SCALE") ? undefined : "TT_TEST_SCALE unset");

const PASSWORD = "Data-node-pw-4c1e";
const ACL: AclUser = { user: "tt", password: PASSWORD, rules: "~tt:* &* +@all -@admin" };
const SENTINEL_PW = "Sentinel-own-pw-93ab";
const SENTINEL_DEFAULT_PW = "Sentinel-requirepass-77d0";
const SENTINEL_USER: AclUser = {
  user: "tt-sentinel",
  password: SENTINEL_PW,
  // What tt asks a sentinel: where the master is, and the other sentinels.
  rules: "-@all +auth +hello +ping +client|setname +sentinel|get-master-addr-by-name " +
    "+sentinel|sentinels",
};
const SECRETS = /Data-node-pw|Sentinel-own-pw|Sentinel-requirepass|Wr0ng/;

/** Every regular file under `dir` (its text), skipping git objects. */
function filesUnder(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== ".git") filesUnder(p, out);
    else if (e.isFile) out.set(p, new TextDecoder().decode(Deno.readFileSync(p)));
  }
  return out;
}

/**
 * init, spawn, assign, completion by the agent, status, doctor, history, save, service install
 * (not enabled); then the supervisor's reads, and where the secrets went.
 */
async function roundTrip(url: string, trust: Record<string, string>, files: string[]) {
  const sb = new TrustingSandbox(url, trust);
  try {
    const status = await sb.oneTaskDone("mtls", "work over mutual TLS");
    assert.match(status, /rediss\+?\w*:\/\/tt:\*\*\*\*@/);
    await sb.json(["status"]);
    await sb.tt(["doctor"]); // may warn about this machine; what it prints is checked below
    await sb.ok(["history", "-n", "100"]);
    await sb.ok(["save"]);
    await sb.ok(["service", "install", "--no-enable"]);
    // The narrowed supervisor may read exactly the TLS files, not their directory.
    const reads = await supervisorReads(sb);
    for (const f of files) assert.ok(reads.includes(f), `${f} not in ${reads.join(",")}`);
    const dir = files[0].replace(/\/[^/]*$/, "");
    assert.ok(!reads.some((r) => r === dir || dir.startsWith(`${r}/`)), reads.join(","));
    // The attacker's side: no secret in what tt printed, in any process's command line, or in
    // any file tt wrote (town, snapshots, logs, TT_HOME) except the service unit, which holds
    // REDIS_URL (mode 600) and so both passwords or none.
    assert.doesNotMatch(sb.printed, SECRETS);
    const ps = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
    assert.doesNotMatch(new TextDecoder().decode(ps.stdout), SECRETS);
    assert.doesNotMatch(await supervisorLine(sb), SECRETS);
    let unit = "";
    for (const [path, text] of [...filesUnder(sb.dir), ...filesUnder(sb.home)]) {
      if (/Environment="REDIS_URL=/.test(text)) {
        unit = path;
        assert.equal((Deno.statSync(path).mode ?? 0) & 0o077, 0, `${path} is readable by others`);
        assert.ok(text.includes(PASSWORD), path);
        for (const f of files) assert.ok(text.includes(f), `${f} not in the unit`);
        continue;
      }
      assert.doesNotMatch(text, SECRETS, path);
    }
    assert.ok(unit, "tt service install wrote no unit holding REDIS_URL");
    return sb.printed;
  } finally {
    await sb.tt(["stop", "--all", "--now"]).catch(() => {});
    sb.cleanup();
  }
}

const refused = (url: string, trust: Record<string, string>, re: RegExp) =>
  refusedWith(url, trust, re, SECRETS);

const noCert = /^tt: Redis at .* requires a client certificate .*CertificateRequired.*tls_cert=/;
const otherCa =
  /^tt: Redis at .* refused tt's client certificate \/\S+other-server\.crt .*UnknownCA/;

/** No client certificate, and one from a CA the servers do not trust: one line each. */
async function certRefusals(base: string, trust: Record<string, string>, sep = "?") {
  const other = await Deno.makeTempDir({ prefix: "tt-other-ca-" });
  try {
    const theirs = await makeCertificates(other, "other-");
    await refused(base, trust, noCert);
    await refused(`${base}${sep}tls_cert=${theirs.cert}&tls_key=${theirs.key}`, trust, otherCa);
  } finally {
    await Deno.remove(other, { recursive: true });
  }
}

/** The Sentinel set of these tests: TLS with client certificates, passwords on the sentinels. */
const mtlsSentinel = () =>
  startSentinel({
    tls: true,
    clientAuth: true,
    acl: ACL,
    sentinelPassword: SENTINEL_DEFAULT_PW,
    sentinelAcl: SENTINEL_USER,
  });

Deno.test({
  name: "Sentinel with its own password and ACL user, over mutual TLS: works, secrets stay hidden",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const start = Date.now();
  const s = await mtlsSentinel();
  try {
    const tls = s.security.tls!;
    const hosts = s.sentinels.map((p) => `127.0.0.1:${p}`).join(",");
    const trust = { NODE_EXTRA_CA_CERTS: tls.ca };
    const base = `rediss+sentinel://tt:${PASSWORD}@${hosts}/mymaster`;
    const cert = `tls_cert=${tls.clientCert}&tls_key=${tls.clientKey}`;
    await t.step("as the sentinels' ACL user: init, spawn, assign, complete, status", async () => {
      const url = `${base}?sentinel_user=${SENTINEL_USER.user}&sentinel_password=${SENTINEL_PW}&` +
        cert;
      await roundTrip(url, trust, [tls.clientCert, tls.clientKey]);
    });
    await t.step(
      "their requirepass alone, from ~/.tt/config.toml: not in tinytown.toml",
      async () => {
        const sb = new TrustingSandbox(null, trust);
        try {
          const url = `${base}?sentinel_password=${SENTINEL_DEFAULT_PW}&${cert}`;
          await sb.ok(["config", "redis_url", url]);
          await sb.init(uniqueName("mtls"));
          const file = Deno.readTextFileSync(`${sb.dir}/tinytown.toml`);
          assert.match(
            file,
            /^url = "rediss\+sentinel:\/\/tt@127\.0\.0\.1:\d+,.*\/mymaster\?tls_cert=/m,
          );
          assert.doesNotMatch(file, SECRETS);
          assert.match((await sb.ok(["status"])).stdout, /Tasks: 0/);
          assert.doesNotMatch(sb.printed, SECRETS);
        } finally {
          sb.cleanup();
        }
      },
    );
    await t.step(
      "no, a wrong, or a data node's password for the sentinels: one line each",
      async () => {
        const where = `the sentinels at ${hosts.replaceAll(".", "\\.")}`;
        await refused(
          `${base}?${cert}`,
          trust,
          new RegExp(`^tt: ${where} require a password: add sentinel_password=`),
        );
        const wrong = new RegExp(
          `^tt: ${where} refused the sentinel password .*sentinel_password=\\*\\*\\*\\*`,
        );
        await refused(`${base}?sentinel_password=Wr0ng&${cert}`, trust, wrong);
        await refused(
          `${base}?sentinel_user=tt&sentinel_password=${PASSWORD}&${cert}`,
          trust,
          wrong,
        );
      },
    );
    await t.step("no client certificate, or one from another CA: one line each", async () => {
      await certRefusals(`${base}?sentinel_password=${SENTINEL_DEFAULT_PW}`, trust, "&");
    });
  } finally {
    await s.stop();
  }
  report(`sentinel password + mutual TLS test: ${((Date.now() - start) / 1000).toFixed(1)} s`);
});

Deno.test({
  name: "mutual TLS Redis Cluster: tt works with a client certificate and tls_ca; others refused",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const start = Date.now();
  const c = await startCluster({ tls: true, clientAuth: true, acl: ACL });
  try {
    const tls = c.security.tls!;
    const ports = c.servers.map((x) => x.port);
    const base = `rediss+cluster://tt:${PASSWORD}@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    await t.step("init, spawn, assign, complete, status (the CA from tls_ca)", async () => {
      const files = [tls.clientCert, tls.clientKey, tls.ca];
      await roundTrip(
        `${base}?tls_cert=${files[0]}&tls_key=${files[1]}&tls_ca=${files[2]}`,
        {},
        files,
      );
    });
    await t.step("no client certificate, or one from another CA: one line each", async () => {
      await certRefusals(base, { DENO_CERT: tls.ca });
    });
    await t.step("tls_ca replaces the trusted CAs: another CA there is refused", async () => {
      const other = await Deno.makeTempDir({ prefix: "tt-other-ca-" });
      try {
        const theirs = await makeCertificates(other, "other-");
        const url =
          `${base}?tls_cert=${tls.clientCert}&tls_key=${tls.clientKey}&tls_ca=${theirs.ca}`;
        // DENO_CERT names the right CA, but tls_ca takes its place.
        await refused(
          url,
          { DENO_CERT: tls.ca },
          /does not trust: .*tls_ca replaces the trusted CAs/,
        );
      } finally {
        await Deno.remove(other, { recursive: true });
      }
    });
  } finally {
    await c.stop();
  }
  report(`mutual TLS cluster test: ${((Date.now() - start) / 1000).toFixed(1)} s`);
});

Deno.test({
  name: "mutual TLS single node: works; bad certificates and key files are refused in one line",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const one: Topology = await startSingle({ tls: true, clientAuth: true, acl: ACL });
  try {
    const tls = one.security.tls!;
    const base = `rediss://tt:${PASSWORD}@127.0.0.1:${one.servers[0].port}`;
    const trust = { DENO_CERT: tls.ca };
    await t.step("init, spawn, assign, complete, status", async () => {
      await roundTrip(`${base}?tls_cert=${tls.clientCert}&tls_key=${tls.clientKey}`, trust, [
        tls.clientCert,
        tls.clientKey,
      ]);
    });
    await t.step("no client certificate, or one from another CA", async () => {
      await certRefusals(base, trust);
    });
    await t.step("a missing key, a key readable by others, only a certificate", async () => {
      const dir = await Deno.makeTempDir({ prefix: "tt-keys-" });
      try {
        const loose = `${dir}/loose.key`;
        Deno.copyFileSync(tls.clientKey, loose);
        Deno.chmodSync(loose, 0o644);
        const url = (key: string) => `${base}?tls_cert=${tls.clientCert}&tls_key=${key}`;
        await refused(
          url(`${dir}/none.key`),
          trust,
          /^tt: cannot read the TLS key file \S+none\.key \(no such file\)/,
        );
        await refused(
          url(loose),
          trust,
          /^tt: the TLS key file \S+loose\.key is readable by others \(mode 644\): run chmod 600/,
        );
        await refused(
          url(tls.key),
          trust,
          /^tt: the TLS key \S+server\.key does not belong to the certificate/,
        );
        await refused(`${base}?tls_cert=${tls.clientCert}`, trust, /tls_cert without tls_key/);
        if (Deno.uid() !== 0) {
          const locked = `${dir}/locked.key`;
          Deno.copyFileSync(tls.clientKey, locked);
          Deno.chmodSync(locked, 0o000);
          await refused(
            url(locked),
            trust,
            /cannot read the TLS key file \S+ \(permission denied\)/,
          );
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await one.stop();
  }
});

Deno.test({
  name: "Sentinel with its own password, over mutual TLS: a master killed mid-run loses nothing",
  ignore: !!skipFailover,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const s = await mtlsSentinel();
  try {
    const tls = s.security.tls!;
    const trust = { NODE_EXTRA_CA_CERTS: tls.ca };
    const hosts = s.sentinels.map((p) => `127.0.0.1:${p}`).join(",");
    const url = `rediss+sentinel://tt:${PASSWORD}@${hosts}/mymaster?sentinel_user=` +
      `${SENTINEL_USER.user}&sentinel_password=${SENTINEL_PW}&tls_cert=${tls.clientCert}` +
      `&tls_key=${tls.clientKey}`;
    const o = await failoverRun(url, {
      waitReplicas: 1,
      sandbox: (u) => new TrustingSandbox(u, trust),
      ...sentinelFailover(s),
    });
    report(
      `sentinel with its own password over mutual TLS, wait_replicas=1: ${o.acked} acknowledged, ` +
        `${o.refused} refused during failover, ${o.lost.length} lost, ${o.twice.length} twice`,
    );
    assert.deepEqual(o.lost, []);
    assert.deepEqual(o.twice, []);
    assert.deepEqual(o.notCompleted, []);
  } finally {
    await s.stop();
  }
});
