/**
 * The agent channel: for each running round the supervisor listens on a private unix socket in a
 * fresh directory (mode 700, `.tt/channels/<slot>/`, slots.ts), and the round's CLI gets only
 * `TT_CHANNEL=<socket>`, `TT_CHANNEL_TOKEN=<per-round secret>` and a `tt` shim that talks to it.
 * No Redis URL, password or socket reaches the agent. A request without the round's token is
 * refused (never run as a human); the channel closes, socket and directory removed, when the
 * round ends. The directory is what a sandbox binds into the agent's view.
 */
import type { TownContext } from "../../core/town.ts";
import { writeAgentShim } from "../self.ts";
import { type Caller, refuse, runForAgent } from "./run.ts";
import { type ChannelReply, ChannelRequest, MAX_REQUEST_BYTES, refusedReply } from "./protocol.ts";
import { claimSlot, releaseSlot } from "./slots.ts";

export interface RoundChannel {
  /** Variables for the round's environment. */
  env: { TT_CHANNEL: string; TT_CHANNEL_TOKEN: string };
  /** Directory holding the round's `tt` shim, for the front of its PATH. */
  binDir: string;
  /** The channel's directory (socket and shim), for a sandbox to bind. */
  dir: string;
  /** Stops listening, lets running requests finish (a few seconds at most), removes the dir. */
  close(): Promise<void>;
}

/** A connection that has not sent its request by then is dropped. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Requests of one round served at once; more are refused (the supervisor serves every agent). */
const MAX_IN_FLIGHT = 8;
/** How long closing waits for requests still running (their client has gone with the round). */
const CLOSE_GRACE_MS = 5_000;

/** Opens the channel of `agent`'s round `_round` (the slot, not the round, names its directory). */
export async function openRoundChannel(
  town: TownContext,
  agent: Caller,
  _round: number,
): Promise<RoundChannel> {
  // A fixed slot path, not one named after the round: the narrowed supervisor is granted each
  // socket path in advance (slots.ts).
  const { dir, path } = await claimSlot(town.root);
  const token = randomHex(32);
  const binDir = `${dir}/bin`;
  await writeAgentShim(binDir, path);
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const open = new Map<Deno.UnixConn, Promise<void>>();
  const serving = (async () => {
    try {
      for await (const conn of listener) {
        if (open.size >= MAX_IN_FLIGHT) {
          // Read the request before answering: closing on unread data resets the connection.
          readRequest(conn)
            .then(() =>
              writeAll(conn, JSON.stringify(refusedReply("too many requests at once")) + "\n")
            )
            .catch(() => {}).finally(() => closeQuietly(conn));
          continue;
        }
        open.set(conn, serve(town, agent, token, conn).finally(() => open.delete(conn)));
      }
    } catch { /* closed */ }
  })();
  let closed: Promise<void> | undefined;
  return {
    env: { TT_CHANNEL: path, TT_CHANNEL_TOKEN: token },
    binDir,
    dir,
    close: () =>
      closed ??= (async () => {
        listener.close();
        await serving;
        // A request still running finishes first (a report sent as the CLI exited counts).
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled(open.values()),
          new Promise((r) => timer = setTimeout(r, CLOSE_GRACE_MS)),
        ]);
        clearTimeout(timer);
        for (const c of open.keys()) closeQuietly(c);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        releaseSlot(dir);
      })(),
  };
}

async function serve(town: TownContext, agent: Caller, token: string, conn: Deno.UnixConn) {
  try {
    const reply = await answer(town, agent, token, await readRequest(conn));
    await writeAll(conn, JSON.stringify(reply) + "\n");
  } catch {
    /* the client went away, or the channel closed mid-request */
  } finally {
    closeQuietly(conn);
  }
}

async function answer(
  town: TownContext,
  agent: Caller,
  token: string,
  raw: string | undefined,
): Promise<ChannelReply> {
  if (raw === undefined) return refusedReply("request too large or incomplete");
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return refusedReply("unreadable request (expected one JSON line)");
  }
  const req = ChannelRequest.safeParse(data);
  if (!req.success) return refusedReply("malformed request");
  if (!sameSecret(req.data.token, token)) {
    await refuse(town, agent.id, ["(channel request)"], "wrong channel token");
    return refusedReply("wrong channel token");
  }
  return await runForAgent(town, agent, req.data.argv);
}

/** Reads up to the first line break (or the end), within MAX_REQUEST_BYTES and the timeout. */
async function readRequest(conn: Deno.UnixConn): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(() => closeQuietly(conn), REQUEST_TIMEOUT_MS);
  try {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      const part = buf.slice(0, n);
      const nl = part.indexOf(10);
      chunks.push(nl >= 0 ? part.subarray(0, nl) : part);
      size += nl >= 0 ? nl : n;
      if (size > MAX_REQUEST_BYTES) return undefined;
      if (nl >= 0) break;
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

async function writeAll(conn: Deno.UnixConn, text: string) {
  let buf = new TextEncoder().encode(text);
  while (buf.length) buf = buf.subarray(await conn.write(buf));
}

function closeQuietly(conn: Deno.UnixConn) {
  try {
    conn.close();
  } catch { /* already closed */ }
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares without an early exit, so timing tells nothing about the secret. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < y.length; i++) diff |= (x[i] ?? 0) ^ y[i];
  return diff === 0;
}
