/**
 * The agent's `tt`: sends its arguments to the round's channel (`TT_CHANNEL`, a unix socket the
 * supervisor serves, with the round's secret `TT_CHANNEL_TOKEN`), prints the reply's stdout and
 * stderr and exits with its code. The supervisor runs the real CLI with the agent's identity and
 * powers. Kept tiny and import-free so that a report costs little more than a Deno hello world:
 * the shim runs it with `--allow-read/--allow-write/--allow-net` on the socket and
 * `--allow-env=TT_CHANNEL,TT_CHANNEL_TOKEN` only.
 *
 * Protocol (src/supervisor/channel/protocol.ts): one JSON line per connection each way,
 * `{"v":1,"token","argv","cwd"}` → `{"code","stdout","stderr"}`.
 */

/**
 * The whole client, one self-contained function (it refers to nothing outside itself), so that
 * a bundled tt can write its source to a file (`clientSource`) and agents run only that.
 */
export async function runClient(argv: string[]): Promise<number> {
  const enc = new TextEncoder();
  const writeAll = async (w: { write(p: Uint8Array): Promise<number> }, text: string) => {
    let buf = enc.encode(text);
    while (buf.length) buf = buf.subarray(await w.write(buf));
  };
  const fail = (message: string) => {
    console.error(`tt: ${message}`);
    return 1;
  };
  const path = Deno.env.get("TT_CHANNEL");
  const token = Deno.env.get("TT_CHANNEL_TOKEN");
  if (!path || !token) {
    return fail(
      "this is an agent's tt: it needs TT_CHANNEL and TT_CHANNEL_TOKEN, which tt sets for the " +
        "agent's round (run it from the round, not by hand)",
    );
  }
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    return fail(
      `cannot reach the town through ${path} (${
        (e as Error).name
      }): the channel closes when the round ends`,
    );
  }
  let cwd = "";
  try {
    cwd = Deno.cwd();
  } catch { /* a removed directory: the server does not need it */ }
  let text = "";
  let broken: unknown;
  try {
    await writeAll(conn, JSON.stringify({ v: 1, token, argv, cwd }) + "\n");
    await conn.closeWrite();
  } catch (e) {
    broken = e; // the channel may have answered without reading (a refusal): read it all the same
  }
  try {
    text = await new Response(conn.readable).text();
  } catch (e) {
    broken ??= e;
  }
  if (!text && broken) {
    return fail(`the channel failed mid-request (${(broken as Error).message})`);
  }
  let reply: { code?: unknown; stdout?: unknown; stderr?: unknown };
  try {
    reply = JSON.parse(text);
  } catch {
    return fail("the channel sent an unreadable reply (was the round ended?)");
  }
  if (typeof reply.stdout === "string" && reply.stdout) await writeAll(Deno.stdout, reply.stdout);
  if (typeof reply.stderr === "string" && reply.stderr) await writeAll(Deno.stderr, reply.stderr);
  return typeof reply.code === "number" && Number.isInteger(reply.code) ? reply.code : 1;
}

/** A runnable JavaScript file of the client (for installs where client.ts is not a file). */
export function clientSource(): string {
  return `// Written by tt: an agent's tt (src/agent/client.ts).\nconst runClient = ${runClient};\n` +
    `Deno.exit(await runClient(Deno.args));\n`;
}

if (import.meta.main) Deno.exit(await runClient(Deno.args));
