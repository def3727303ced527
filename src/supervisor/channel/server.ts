/**
 * A one-request-per-connection JSON-line server on a unix socket, shared by the agents' round
 * channels (mod.ts) and the operator channel (operator.ts): read one line (bounded in size and
 * time), answer one line, close. A bounded number of requests run at once; others get `busy`.
 */
import { MAX_REQUEST_BYTES } from "./protocol.ts";
import { concatBytes } from "../../redis/lean_resp.ts";

/** A connection that has not sent its request by then is dropped. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long closing waits for requests still running. */
const CLOSE_GRACE_MS = 5_000;

export interface LineServer {
  /** Stops listening, lets running requests finish (CLOSE_GRACE_MS at most). */
  close(): Promise<void>;
}

/**
 * Serves `listener`: each request's line (undefined when too large or cut off) goes to `answer`,
 * whose reply is written back as one JSON line. Beyond `maxInFlight` at once, `busy` is the reply.
 */
export function serveLines(
  listener: Deno.Listener<Deno.UnixConn>,
  maxInFlight: number,
  answer: (raw: string | undefined) => Promise<unknown>,
  busy: unknown,
): LineServer {
  const open = new Map<Deno.UnixConn, Promise<void>>();
  const reply = async (
    conn: Deno.UnixConn,
    make: (raw: string | undefined) => Promise<unknown>,
  ) => {
    try {
      await writeAll(conn, JSON.stringify(await make(await readRequest(conn))) + "\n");
    } catch {
      /* the client went away, or the server closed mid-request */
    } finally {
      closeQuietly(conn);
    }
  };
  const serving = (async () => {
    try {
      for await (const conn of listener) {
        // Read the request even when busy: closing on unread data resets the connection.
        if (open.size >= maxInFlight) void reply(conn, () => Promise.resolve(busy));
        else open.set(conn, reply(conn, answer).finally(() => open.delete(conn)));
      }
    } catch { /* closed */ }
  })();
  let closed: Promise<void> | undefined;
  return {
    close: () =>
      closed ??= (async () => {
        listener.close();
        await serving;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.allSettled(open.values()),
          new Promise((r) => timer = setTimeout(r, CLOSE_GRACE_MS)),
        ]);
        clearTimeout(timer);
        for (const c of open.keys()) closeQuietly(c);
      })(),
  };
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
  return new TextDecoder().decode(concatBytes(chunks));
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

export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares without an early exit, so timing tells nothing about the secret. */
export function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < y.length; i++) diff |= (x[i] ?? 0) ^ y[i];
  return diff === 0;
}
