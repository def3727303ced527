/**
 * The operator channel's shared facts, for the client (src/cli/operator_client.ts, loaded by every
 * short command before anything heavy) and the server (operator.ts, in the supervisor). No imports.
 *
 * Wire format: one JSON line each way per connection. Request
 * `{"v":1,"version","token","argv","root","config","env":{…},"caller":{…},"color"}`; reply `{"code","stdout","stderr"}`,
 * or `{"fallback":"<why>"}` when the supervisor will not run it (nothing ran): the client then runs
 * the command itself, as it would with no supervisor.
 */

/**
 * Commands the supervisor runs for the operator (by command path): short ones that only touch
 * Redis. Not `task complete`: a human's completion runs the task's check in their own process.
 */
export const OPERATOR_PATHS: ReadonlySet<string> = new Set([
  "assign",
  "send",
  "status",
  "list",
  "inbox",
  "history",
  "task list",
  "task show",
  "task current",
  "task fail",
  "task cancel",
  "backlog list",
  "backlog add",
  "backlog claim",
  "backlog assign-all",
  "backlog remove",
]);

/** Their first words: the client's quick check before it looks for a supervisor. */
export const OPERATOR_COMMANDS: ReadonlySet<string> = new Set(
  [...OPERATOR_PATHS].map((p) => p.split(" ")[0]),
);

/** What says tinytown.toml changed since the supervisor read it (then the client runs it). */
export function configStamp(st: Deno.FileInfo): string {
  return `${st.mtime?.getTime() ?? 0}:${st.size}`;
}

/**
 * Variables that change which Redis a command acts on (and where `tt status` looks for the
 * service unit, and the time zone `tt history` shows times in): a request is run only when the
 * client's values equal the supervisor's (else the client runs it itself). TT_HOST picks the socket.
 */
export const TARGET_ENV = ["REDIS_URL", "TT_HOME", "HOME", "XDG_CONFIG_HOME", "TZ"] as const;

/**
 * Where host `host`'s supervisor of the town at `root` listens: `.tt/operator/<id>.sock` (mode
 * 600, directory 700) and its secret `<id>.token` (600), `<id>` a hash of the host name (two
 * supervisors of one town on one machine, two TT_HOSTs, each have their own; and a unix socket
 * path must stay short).
 */
export function operatorPaths(root: string, host: string) {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const b of new TextEncoder().encode(host)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const id = h.toString(16).padStart(8, "0");
  const dir = `${root}/.tt/operator`;
  return { dir, socket: `${dir}/${id}.sock`, token: `${dir}/${id}.token` };
}
