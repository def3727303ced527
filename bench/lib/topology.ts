/**
 * Real Redis topologies for the scale tests (tests/scale/) and the cluster benchmark
 * (bench/sections/cluster.ts), from Debian's redis-server in a temp dir, on 127.0.0.1 TCP: a
 * 3-master cluster with one replica each, a Sentinel set (1 master, 1 replica, 3 sentinels), and
 * a single server started the same way (the cluster's baseline). Ports are random free ones
 * ≤ 55535 (a cluster node's bus is port + 10000); every server is killed by stop(), which the
 * callers run in `finally`. Each can be started with TLS only and/or an ACL user (secure.ts):
 * then `topology.cli` speaks to its servers with the right flags.
 */
import { cliArgs, type Security, type SecurityOptions } from "./secure.ts";
import { security, sentinelAuthLines, sentinelPortLines, serverArgs } from "./secure.ts";

export type { AclUser, SecurityOptions, TlsFiles } from "./secure.ts";
export { makeCertificates } from "./secure.ts";

export interface Server {
  port: number;
  child: Deno.ChildProcess;
  args: string[];
}

export interface Topology {
  dir: string;
  servers: Server[];
  /** SIGKILL one server (a crash), by port. */
  kill(port: number): Promise<void>;
  /** Starts a killed server again with the same arguments (it comes back as a replica). */
  restart(port: number): void;
  stop(): Promise<void>;
  /** Its certificates and users (empty for a plain topology). */
  security: Security;
  /** redis-cli on one of its servers, with its TLS (client certificate) and ops-user flags. */
  cli(port: number, ...args: string[]): Promise<string>;
}

/** Why these tests cannot run here (no redis-server/redis-cli), or undefined. */
export function cannotRun(): string | undefined {
  for (const bin of ["redis-server", "redis-cli"]) {
    try {
      new Deno.Command(bin, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    } catch {
      return `${bin} is not installed`;
    }
  }
  return undefined;
}

function free(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** The lowest port the kernel gives outgoing connections (any of those may be taken any time). */
function ephemeralLow(): number {
  try {
    const range = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    return Number(range.trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/**
 * `n` consecutive free random ports, with their bus ports (+10000) when `bus`, below the
 * ephemeral range: there an outgoing connection of any process could take one between this
 * check and the server's bind (a sentinel that never started, once in a few runs).
 */
export function freePorts(n: number, bus = false): number[] {
  const low = 10000;
  let high = ephemeralLow() - n - (bus ? 10000 : 0);
  if (high - low < 1000) high = low + 25000; // an unusual range: random ports as before
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const ports = Array.from({ length: n }, (_, i) => base + i);
    if (ports.every((p) => free(p) && (!bus || free(p + 10000)))) return ports;
  }
  throw new Error(`no ${n} free ports found`);
}

/** `e` with the last lines of every server's log in `dir` (read before the dir is removed). */
async function withLogs(dir: string, e: unknown): Promise<Error> {
  const tails = [];
  for await (const f of Deno.readDir(dir)) {
    if (!f.name.endsWith(".log")) continue;
    const lines = (await Deno.readTextFile(`${dir}/${f.name}`)).trim().split("\n");
    tails.push(`${f.name}: ${lines.slice(-3).join(" | ")}`);
  }
  return new Error(`${(e as Error).message}\n${tails.join("\n")}`);
}

export async function cli(port: number, ...args: string[]): Promise<string> {
  return await cliWith([], port, args);
}

async function cliWith(flags: string[], port: number, args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: [...flags, "-h", "127.0.0.1", "-p", String(port), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Bounded polling for a state (an error from `cond` counts as not yet); the limit ends a broken run. */
export async function waitFor(what: string, cond: () => Promise<boolean>, limitMs = 60_000) {
  const deadline = Date.now() + limitMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command("redis-server", { args, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
}

function start(dir: string, port: number, extra: string[], sec: Security = {}): Server {
  const args = [
    ...serverArgs(port, sec, extra.includes("--cluster-enabled")),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--logfile",
    `${dir}/redis-${port}.log`,
    ...extra,
  ];
  return { port, child: spawn(args), args };
}

function topology(
  dir: string,
  servers: Server[],
  sec: Security = {},
  sentinels: number[] = [],
): Topology {
  const kill = async (port: number) => {
    const s = servers.find((x) => x.port === port);
    if (!s) throw new Error(`no server on ${port}`);
    try {
      s.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await s.child.status;
  };
  const restart = (port: number) => {
    const s = servers.find((x) => x.port === port);
    if (!s) throw new Error(`no server on ${port}`);
    s.child = spawn(s.args);
  };
  return {
    dir,
    servers,
    kill,
    restart,
    security: sec,
    cli: (port, ...args) => cliWith(cliArgs(sec, sentinels.includes(port)), port, args),
    stop: async () => {
      for (const s of servers) {
        try {
          s.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await Promise.all(servers.map((s) => s.child.status));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function ping(t: Topology, port: number) {
  return (await t.cli(port, "PING")) === "PONG";
}

/** One redis-server on TCP, with the cluster nodes' settings but no cluster and no replica. */
export async function startSingle(opts: SecurityOptions = {}): Promise<Topology> {
  const dir = await Deno.makeTempDir({ prefix: "tt-single-" });
  const [port] = freePorts(1);
  const sec = await security(dir, opts);
  const topo = topology(dir, [start(dir, port, [], sec)], sec);
  try {
    await waitFor(`server ${port} up`, () => ping(topo, port), 20_000);
    return topo;
  } catch (e) {
    const err = await withLogs(dir, e).catch(() => e);
    await topo.stop();
    throw err;
  }
}

export interface ClusterOptions extends SecurityOptions {
  /**
   * cluster-node-timeout (default 1000 ms): a master unreachable for that long is failed over
   * by its replica, so a failover never takes less.
   */
  nodeTimeoutMs?: number;
}

/** Three masters and three replicas (automatic failover within seconds by default). */
export async function startCluster(opts: ClusterOptions = {}): Promise<Topology> {
  const dir = await Deno.makeTempDir({ prefix: "tt-cluster-" });
  const ports = freePorts(6, true);
  const sec = await security(dir, opts);
  const servers = ports.map((p) =>
    start(dir, p, [
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      `nodes-${p}.conf`,
      "--cluster-node-timeout",
      String(opts.nodeTimeoutMs ?? 1000),
    ], sec)
  );
  const topo = topology(dir, servers, sec);
  const cli = topo.cli;
  try {
    for (const p of ports) await waitFor(`node ${p} up`, () => ping(topo, p), 20_000);
    const out = await new Deno.Command("redis-cli", {
      args: [
        ...cliArgs(sec),
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "1",
        "--cluster-yes",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`cluster create: ${new TextDecoder().decode(out.stderr)}`);
    for (const p of ports) {
      await waitFor(
        `cluster ok at ${p}`,
        async () => (await cli(p, "CLUSTER", "INFO")).includes("cluster_state:ok"),
      );
    }
    // Every replica has finished its first sync (else WAIT counts it out).
    await waitFor("replicas in sync", async () => {
      const roles = await Promise.all(ports.map((p) => cli(p, "INFO", "replication")));
      return roles.filter((r) => r.includes("role:master") && /connected_slaves:1/.test(r))
            .length === 3 &&
        roles.filter((r) => r.includes("master_link_status:up")).length === 3;
    });
    return topo;
  } catch (e) {
    const err = await withLogs(dir, e).catch(() => e);
    await topo.stop();
    throw err;
  }
}

/**
 * The port of the live master serving `slot`, from CLUSTER NODES at `port` (through `t.cli` when
 * given: a TLS or ACL cluster).
 */
export async function slotOwner(
  port: number,
  slot: number,
  t?: Pick<Topology, "cli">,
): Promise<number | undefined> {
  // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges…>
  const nodes = await (t ? t.cli(port, "CLUSTER", "NODES") : cli(port, "CLUSTER", "NODES"));
  for (const line of nodes.split("\n")) {
    const f = line.trim().split(" ");
    const flags = f[2]?.split(",") ?? [];
    if (!flags.includes("master") || flags.some((x) => x.startsWith("fail"))) continue;
    for (const range of f.slice(8)) {
      const [lo, hi = lo] = range.split("-").map(Number);
      if (slot >= lo && slot <= hi) return Number(f[1].split("@")[0].split(":")[1]);
    }
  }
  return undefined;
}

/** A master, one replica, three sentinels watching it as `mymaster` (down after 1 s). */
export async function startSentinel(
  opts: SecurityOptions = {},
): Promise<Topology & { master: number; sentinels: number[] }> {
  const dir = await Deno.makeTempDir({ prefix: "tt-sentinel-" });
  const [master, replica, ...sentinels] = freePorts(5);
  const sec = await security(dir, opts);
  const servers = [
    start(dir, master, [], sec),
    start(dir, replica, ["--replicaof", "127.0.0.1", String(master)], sec),
  ];
  const topo = topology(dir, servers, sec, sentinels);
  const cli = topo.cli;
  try {
    await waitFor("master up", () => ping(topo, master), 20_000);
    await waitFor(
      "replica in sync",
      async () => (await cli(replica, "INFO", "replication")).includes("master_link_status:up"),
    );
    for (const s of sentinels) {
      const conf = `${dir}/sentinel-${s}.conf`;
      await Deno.writeTextFile(
        conf,
        [
          ...sentinelPortLines(s, sec),
          "bind 127.0.0.1",
          `dir ${dir}`,
          `logfile ${dir}/sentinel-${s}.log`,
          `sentinel monitor mymaster 127.0.0.1 ${master} 2`,
          ...sentinelAuthLines("mymaster", sec),
          "sentinel down-after-milliseconds mymaster 1000",
          "sentinel failover-timeout mymaster 5000",
          "sentinel parallel-syncs mymaster 1",
          "",
        ].join("\n"),
      );
      const args = [conf, "--sentinel"];
      servers.push({ port: s, child: spawn(args), args });
    }
    for (const s of sentinels) {
      await waitFor(
        `sentinel ${s} sees the replica and the other sentinels`,
        async () => {
          const info = await cli(s, "SENTINEL", "MASTER", "mymaster");
          const lines = info.split("\n");
          const field = (k: string) => Number(lines[lines.indexOf(k) + 1]);
          return field("num-slaves") >= 1 && field("num-other-sentinels") >= 2;
        },
      );
    }
    return { ...topo, master, sentinels };
  } catch (e) {
    const err = await withLogs(dir, e).catch(() => e);
    await topo.stop();
    throw err;
  }
}
