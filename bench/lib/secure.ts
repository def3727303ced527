/**
 * TLS and ACL for the real topologies of topology.ts: a throwaway CA and a server certificate
 * made with `openssl` (valid for 127.0.0.1 and localhost, 2 days), a client certificate it
 * signed, and the redis-server, sentinel and redis-cli arguments that turn on TLS only
 * (`port 0`), client certificates (`tls-auth-clients yes`), ACL users (the `default` user off)
 * and the sentinels' own password and ACL user.
 */

/** A CA, a server certificate and a client certificate it signed (PEM files; keys mode 600). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

/** An ACL user for tt, next to the topology's own `ops` user (replication, sentinels, redis-cli). */
export interface AclUser {
  user: string;
  password: string;
  /** ACL rules after `on >password` (default `~* &* +@all`). */
  rules?: string;
}

export interface SecurityOptions {
  /** TLS only: every server, bus, replica link and sentinel speaks TLS, no plaintext port. */
  tls?: boolean;
  /** With tls: every server and sentinel requires a client certificate signed by the CA. */
  clientAuth?: boolean;
  /** This user is created on every data node and the `default` user is turned off. */
  acl?: AclUser;
  /** Sentinels: `requirepass` (the password of their `default` user). */
  sentinelPassword?: string;
  /** Sentinels: this ACL user (their `default` user off unless sentinelPassword is set). */
  sentinelAcl?: AclUser;
}

/** What one topology uses: its certificates and users (the ops user's password is random). */
export interface Security {
  tls?: TlsFiles;
  clientAuth?: boolean;
  acl?: AclUser;
  ops?: { user: string; password: string };
  sentinelPassword?: string;
  sentinelAcl?: AclUser;
  /** The sentinels' user for each other and for redis-cli (when they need a password). */
  sentinelOps?: { user: string; password: string };
}

async function openssl(args: string[], cwd: string) {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * A new CA and a server certificate signed by it, in `dir` (`<prefix>ca.crt`, `<prefix>server.crt`
 * and `.key`). Two calls give two CAs that do not trust each other's certificates.
 */
export async function makeCertificates(dir: string, prefix = ""): Promise<TlsFiles> {
  const f = (name: string) => `${dir}/${prefix}${name}`;
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=tt test CA ${prefix}${crypto.randomUUID().slice(0, 8)}`,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.crt"),
  ], dir);
  /** A key and a certificate for `name`, signed by the CA, with the extensions `ext`. */
  const issue = async (name: string, subject: string, ext: string[]) => {
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      subject,
      "-keyout",
      f(`${name}.key`),
      "-out",
      f(`${name}.csr`),
    ], dir);
    await Deno.writeTextFile(f(`${name}.ext`), [...ext, ""].join("\n"));
    await openssl([
      "x509",
      "-req",
      "-days",
      "2",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.crt"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-extfile",
      f(`${name}.ext`),
      "-out",
      f(`${name}.crt`),
    ], dir);
  };
  await issue("server", "/CN=localhost", [
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "basicConstraints=CA:FALSE",
    "keyUsage=digitalSignature,keyEncipherment",
    // Nodes also present it as clients (cluster bus, replication, sentinels).
    "extendedKeyUsage=serverAuth,clientAuth",
  ]);
  await issue("client", "/CN=tt client", ["extendedKeyUsage=clientAuth"]);
  for (const k of ["ca.key", "server.key", "client.key"]) await Deno.chmod(f(k), 0o600);
  return {
    ca: f("ca.crt"),
    cert: f("server.crt"),
    key: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
  };
}

/** The topology's certificates (in `dir`) and users for `opts`. */
export async function security(dir: string, opts: SecurityOptions): Promise<Security> {
  const sentinelAuth = opts.sentinelPassword !== undefined || opts.sentinelAcl !== undefined;
  return {
    tls: opts.tls ? await makeCertificates(dir) : undefined,
    clientAuth: opts.clientAuth,
    acl: opts.acl,
    ops: opts.acl ? { user: "ops", password: crypto.randomUUID() } : undefined,
    sentinelPassword: opts.sentinelPassword,
    sentinelAcl: opts.sentinelAcl,
    sentinelOps: sentinelAuth ? { user: "sentinel-ops", password: crypto.randomUUID() } : undefined,
  };
}

/** TLS settings shared by data nodes and sentinels, as `[name, value]` pairs. */
function tlsSettings(t: TlsFiles, clientAuth = false): [string, string][] {
  return [
    ["tls-cert-file", t.cert],
    ["tls-key-file", t.key],
    ["tls-ca-cert-file", t.ca],
    // Without clientAuth, clients (tt) need no certificate of their own. Nodes present their
    // server certificate to each other (it is valid for client authentication too).
    ["tls-auth-clients", clientAuth ? "yes" : "no"],
    ["tls-replication", "yes"],
  ];
}

/** redis-server arguments for a data node on `port` (its TLS port when TLS is on). */
export function serverArgs(port: number, s: Security, cluster: boolean): string[] {
  const args = s.tls
    ? [
      "--port",
      "0",
      "--tls-port",
      String(port),
      ...tlsSettings(s.tls, s.clientAuth).flatMap(([k, v]) => [`--${k}`, v]),
    ]
    : ["--port", String(port)];
  if (s.tls && cluster) args.push("--tls-cluster", "yes");
  if (s.acl && s.ops) {
    const rules = (s.acl.rules ?? "~* &* +@all").split(/\s+/).filter(Boolean);
    args.push(
      "--user",
      "default",
      "off",
      "--user",
      s.ops.user,
      "on",
      `>${s.ops.password}`,
      "~*",
      "&*",
      "+@all",
      "--user",
      s.acl.user,
      "on",
      `>${s.acl.password}`,
      ...rules,
      // Replicas sync as the ops user.
      "--masteruser",
      s.ops.user,
      "--masterauth",
      s.ops.password,
    );
  }
  return args;
}

/** sentinel.conf lines for a sentinel on `port` (before `sentinel monitor`): TLS, its users. */
export function sentinelPortLines(port: number, s: Security): string[] {
  const lines = s.tls
    ? [
      "port 0",
      `tls-port ${port}`,
      ...tlsSettings(s.tls, s.clientAuth).map(([k, v]) => `${k} ${v}`),
    ]
    : [`port ${port}`];
  if (s.sentinelOps) {
    const ops = s.sentinelOps;
    lines.push(
      s.sentinelPassword !== undefined ? `requirepass ${s.sentinelPassword}` : "user default off",
      `user ${ops.user} on >${ops.password} allchannels +@all`,
      // How the sentinels log in to each other.
      `sentinel sentinel-user ${ops.user}`,
      `sentinel sentinel-pass ${ops.password}`,
    );
    const u = s.sentinelAcl;
    if (u) lines.push(`user ${u.user} on >${u.password} ${u.rules ?? "allchannels +@all"}`);
  }
  return lines;
}

/** sentinel.conf lines after `sentinel monitor <master>`: how the sentinels log in to the nodes. */
export function sentinelAuthLines(master: string, s: Security): string[] {
  if (!s.ops) return [];
  return [
    `sentinel auth-user ${master} ${s.ops.user}`,
    `sentinel auth-pass ${master} ${s.ops.password}`,
  ];
}

/**
 * redis-cli arguments to reach a node (TLS with the CA and, when required, the client
 * certificate; the ops user) or a sentinel (its ops user when it needs a password).
 */
export function cliArgs(s: Security, sentinel = false): string[] {
  const args = s.tls ? ["--tls", "--cacert", s.tls.ca] : [];
  if (s.tls && s.clientAuth) args.push("--cert", s.tls.clientCert, "--key", s.tls.clientKey);
  const ops = sentinel ? s.sentinelOps : s.ops;
  if (ops) args.push("--user", ops.user, "--pass", ops.password, "--no-auth-warning");
  return args;
}
