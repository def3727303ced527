/** The benchmark's own redis-server: a child process on a unix socket in a temp dir, no TCP. */

export interface PrivateRedis {
  socket: string;
  url: string;
  version: string;
  stop(): Promise<void>;
}

export async function startPrivateRedis(dir: string): Promise<PrivateRedis> {
  const socket = `${dir}/redis.sock`;
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      "0",
      "--unixsocket",
      socket,
      "--unixsocketperm",
      "700",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--logfile",
      `${dir}/redis.log`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const reply = await command(socket, "INFO server").catch(() => "");
    const version = reply.match(/redis_version:(\S+)/)?.[1];
    if (version) return { socket, url: `unix://${socket}`, version, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start on ${socket} (see ${dir}/redis.log)`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One inline command over a raw connection; returns the raw reply text. */
async function command(socket: string, cmd: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(new TextEncoder().encode(`${cmd}\r\n`));
    const buf = new Uint8Array(16384);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}
