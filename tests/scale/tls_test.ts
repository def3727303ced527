/**
 * tt on TLS-only Redis topologies (no plaintext port) whose `default` user is off, as the ACL
 * user `tt` (no admin commands, keys `tt:*` only): a 3-master Cluster (one replica each, TLS on the
 * cluster bus and replication) and a Sentinel set (1 master, 1 replica, 3 sentinels on TLS). On
 * each: tt init, spawn, assign, the agent completes the task, tt status, and the data nodes show
 * tt's connections logged in as `tt`. The client trusts the test CA through DENO_CERT (Cluster) and
 * NODE_EXTRA_CA_CERTS (Sentinel): Deno reads either at start-up, before permissions apply, so the
 * narrowed supervisor trusts it too. The attacker's side: a wrong password, the password without
 * its user, a server certificate from a CA the client does not trust (or no CA at all) and a
 * plaintext URL are each refused with one line on stderr, exit 1 and nothing written. With
 * TT_TEST_SCALE=1, also the failover run of cluster_test/sentinel_test (scenario.ts) on both, over
 * TLS as the ACL user, with `wait_replicas = 1`: nothing acknowledged is lost or done twice.
 */
import assert from "node:assert/strict";
import { report, uniqueName } from "../helpers.ts";
import {
  noOpenssl,
  refused as refusedWith,
  supervisorReads,
  TrustingSandbox,
} from "./tls_helpers.ts";
import { ConnectError } from "../../src/redis/connection.ts";
import {
  type AclUser,
  cannotRun,
  makeCertificates,
  slotOwner,
  startCluster,
  startSentinel,
  startSingle,
  type Topology,
  waitFor,
} from "../../bench/lib/topology.ts";
import { keySlot } from "../../src/redis/topology.ts";
import { townKeys } from "../../src/core/keys.ts";
import { failoverRun, type Outcome, sentinelFailover } from "./scenario.ts";

const skip = cannotRun() ?? noOpenssl();
if (skip) report(`skipped the TLS/ACL topology tests: ${skip}`);
// The failover runs over TLS (scenario.ts, ~40 s each) run with TT_TEST_SCALE=1, like the
// cluster failover run of cluster_test.ts; the rest runs by default (~35 s for the file).
const skipFailover = skip ?? (Deno.env.get("TT_TEST_SCALE") ? undefined : "TT_TEST_SCALE unset");

const PASSWORD = "Tls-Acl-pw-8d2f";
const ACL: AclUser = { user: "tt", password: PASSWORD, rules: "~tt:* &* +@all -@admin" };

/** init, spawn, assign, completion by the agent, status; then who tt's connections are. */
async function roundTrip(url: string, trust: Record<string, string>, t: Topology, data: number[]) {
  const ca = Object.values(trust)[0];
  const sb = new TrustingSandbox(url, trust);
  try {
    const status = await sb.oneTaskDone("tls", "work over TLS");
    assert.doesNotMatch(status, new RegExp(PASSWORD));
    // The supervisor (narrowed permissions, a long-lived connection) is logged in as tt.
    const clients = (await Promise.all(data.map((p) => t.cli(p, "CLIENT", "LIST")))).join("\n")
      .split("\n").filter((l) => /name=tt-/.test(l));
    assert.ok(clients.some((l) => /name=tt-supervisor\b/.test(l)), clients.join("\n"));
    for (const l of clients) assert.match(l, /\buser=tt\b/);
    // Deno reads the CA file at start-up, before permissions apply: the narrowed supervisor
    // trusts a CA it may not read.
    const reads = await supervisorReads(sb);
    assert.ok(!reads.some((r) => ca === r || ca.startsWith(`${r}/`)), reads.join(","));
  } finally {
    await sb.tt(["stop", "--all", "--now"]).catch(() => {});
    sb.cleanup();
  }
}

/** `tt init` at `url` fails with one line matching `re`, exit 1, and writes nothing. */
const refused = (url: string, trust: Record<string, string>, re: RegExp) =>
  refusedWith(url, trust, re, /Wr0ng|Tls-Acl/);

/** Every way in without the right user, password or CA is refused. */
async function refusals(hosts: string, path: string, trust: Record<string, string>, kind: string) {
  const other = await Deno.makeTempDir({ prefix: "tt-other-ca-" });
  try {
    const untrusted = await makeCertificates(other, "other-");
    const auth = /^tt: Redis authentication failed at .*WRONGPASS/;
    const cert = /^tt: Redis at .* presented a TLS certificate tt does not trust: .*DENO_CERT/;
    await refused(`rediss+${kind}://tt:Wr0ng@${hosts}${path}`, trust, auth);
    // The default user is off: the right password without its user name is not enough.
    await refused(`rediss+${kind}://:${PASSWORD}@${hosts}${path}`, trust, auth);
    // No falling back to an unverified connection: a CA the client does not trust, or none.
    const url = `rediss+${kind}://tt:${PASSWORD}@${hosts}${path}`;
    await refused(url, { DENO_CERT: untrusted.ca }, cert);
    await refused(url, {}, cert);
    // Nor to plaintext: the servers have no plaintext port, and the error says so.
    await refused(`redis+${kind}://tt:${PASSWORD}@${hosts}${path}`, trust, /use rediss/);
  } finally {
    await Deno.remove(other, { recursive: true });
  }
}

Deno.test({
  name: "TLS + ACL Redis Cluster: tt works as its ACL user; bad passwords and certs are refused",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const start = Date.now();
  const c = await startCluster({ tls: true, acl: ACL });
  try {
    const ports = c.servers.map((s) => s.port);
    const hosts = `127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`;
    const trust = { DENO_CERT: c.security.tls!.ca };
    await t.step("init, spawn, assign, complete, status", async () => {
      await roundTrip(`rediss+cluster://tt:${PASSWORD}@${hosts}`, trust, c, ports);
    });
    await t.step("wrong password, no user, untrusted CA, plaintext: one line each", async () => {
      await refusals(hosts, "", trust, "cluster");
    });
  } finally {
    await c.stop();
  }
  report(`TLS+ACL cluster test: ${((Date.now() - start) / 1000).toFixed(1)} s`);
});

Deno.test({
  name: "TLS + ACL Redis Sentinel: tt works as its ACL user; bad passwords and certs are refused",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const start = Date.now();
  const s = await startSentinel({ tls: true, acl: ACL });
  try {
    const hosts = s.sentinels.map((p) => `127.0.0.1:${p}`).join(",");
    const trust = { NODE_EXTRA_CA_CERTS: s.security.tls!.ca };
    const data = s.servers.map((x) => x.port).filter((p) => !s.sentinels.includes(p));
    await t.step("init, spawn, assign, complete, status", async () => {
      await roundTrip(`rediss+sentinel://tt:${PASSWORD}@${hosts}/mymaster`, trust, s, data);
    });
    await t.step("wrong password, no user, untrusted CA, plaintext: one line each", async () => {
      await refusals(hosts, "/mymaster", trust, "sentinel");
    });
  } finally {
    await s.stop();
  }
  report(`TLS+ACL sentinel test: ${((Date.now() - start) / 1000).toFixed(1)} s`);
});

Deno.test({
  name: "rediss:// to an IP address verifies the certificate against that address",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const one = await startSingle({ tls: true, acl: ACL });
  try {
    const url = `rediss://tt:${PASSWORD}@127.0.0.1:${one.servers[0].port}`;
    const sb = new TrustingSandbox(url, { DENO_CERT: one.security.tls!.ca });
    try {
      await sb.init(uniqueName("tls"));
      assert.match((await sb.ok(["status"])).stdout, /Tasks: 0/);
    } finally {
      sb.cleanup();
    }
    await refused(url, {}, /presented a TLS certificate tt does not trust/);
    await refused(url.replace(PASSWORD, "Wr0ng"), { DENO_CERT: one.security.tls!.ca }, /WRONGPASS/);
  } finally {
    await one.stop();
  }
});

Deno.test("only certificate errors are reported as an untrusted certificate", () => {
  const err = (message: string, code?: string) => Object.assign(new Error(message), { code });
  const said = (e: Error) => new ConnectError("rediss+cluster://u:pw@h:1", e).message;
  const cert = /presented a TLS certificate tt does not trust/;
  assert.match(said(err("self-signed certificate in certificate chain")), cert);
  assert.match(said(err("unable to verify the first certificate", "UNABLE_TO_VERIFY_LEAF")), cert);
  assert.match(said(err("Hostname/IP does not match certificate's altnames")), cert);
  assert.match(said(err("x", "CERT_HAS_EXPIRED")), cert);
  // A host that happens to be named cert… is a DNS failure, not a TLS one.
  const dns = said(err("getaddrinfo ENOTFOUND cert.example.com", "ENOTFOUND"));
  assert.doesNotMatch(dns, cert);
  assert.match(dns, /^Failed to connect to configured Redis at rediss\+cluster:\/\/u:\*\*\*\*@h:1/);
});

/** Reports a failover run and fails on an acknowledged task lost, done twice or not done. */
function assertNothingLost(what: string, o: Outcome) {
  report(
    `${what} over TLS+ACL, wait_replicas=1: ${o.acked} acknowledged, ${o.refused} refused ` +
      `during failover, ${o.lost.length} lost, ${o.twice.length} completed twice`,
  );
  assert.deepEqual(o.lost, []);
  assert.deepEqual(o.twice, []);
  assert.deepEqual(o.notCompleted, []);
}

Deno.test({
  name: "TLS + ACL Redis Cluster: a master killed mid-run loses no acknowledged task",
  ignore: !!skipFailover,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const c = await startCluster({ tls: true, acl: ACL });
  try {
    const ports = c.servers.map((s) => s.port);
    const trust = { DENO_CERT: c.security.tls!.ca };
    let killed = 0;
    const o = await failoverRun(
      `rediss+cluster://tt:${PASSWORD}@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`,
      {
        waitReplicas: 1,
        sandbox: (url) => new TrustingSandbox(url, trust),
        failover: async (town) => {
          const slot = keySlot(townKeys(town).owner);
          const master = await slotOwner(ports[0], slot, c);
          assert.ok(master, "no master for the town's slot");
          killed = master;
          await c.kill(master);
          const alive = ports.filter((p) => p !== master);
          await waitFor("a replica promoted", async () => {
            const owner = await slotOwner(alive[0], slot, c);
            return owner !== undefined && owner !== master &&
              (await c.cli(alive[0], "CLUSTER", "INFO")).includes("cluster_state:ok");
          });
        },
        recover: async () => {
          c.restart(killed);
          await waitFor(
            "the killed master back as a replica",
            async () =>
              (await c.cli(killed, "INFO", "replication")).includes("master_link_status:up"),
          );
        },
      },
    );
    assertNothingLost("cluster", o);
  } finally {
    await c.stop();
  }
});

Deno.test({
  name: "TLS + ACL Redis Sentinel: a master killed mid-run loses no acknowledged task",
  ignore: !!skipFailover,
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const s = await startSentinel({ tls: true, acl: ACL });
  try {
    const trust = { NODE_EXTRA_CA_CERTS: s.security.tls!.ca };
    const hosts = s.sentinels.map((p) => `127.0.0.1:${p}`).join(",");
    const o = await failoverRun(`rediss+sentinel://tt:${PASSWORD}@${hosts}/mymaster`, {
      waitReplicas: 1,
      sandbox: (url) => new TrustingSandbox(url, trust),
      ...sentinelFailover(s),
    });
    assertNothingLost("sentinel", o);
  } finally {
    await s.stop();
  }
});
