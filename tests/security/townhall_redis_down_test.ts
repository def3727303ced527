/**
 * Redis down is an answer, not a hang (issue 9, item 6, townhall half): with the town's Redis
 * stopped (SIGSTOP: connected but silent) or killed, every route but /health answers 503 with a
 * JSON error and Retry-After within 2 s; /health stays 200; it all recovers by itself.
 * The Redis here is a private redis-server this test starts on its own socket.
 */
import assert from "node:assert/strict";
import { ErrorBody } from "../../src/townhall/schemas.ts";
import { report } from "../helpers.ts";
import { api, closeHall, HallSandbox, type Reply, startHall } from "../townhall/helpers.ts";

class PrivateRedis {
  readonly dir = Deno.makeTempDirSync({ prefix: "tt-redis-down-" });
  readonly sock = `${this.dir}/redis.sock`;
  child?: Deno.ChildProcess;

  async start() {
    this.child = new Deno.Command("redis-server", {
      args: [
        "--port",
        "0",
        "--unixsocket",
        this.sock,
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 500; i++) {
      if (await Deno.stat(this.sock).then(() => true, () => false)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("redis-server did not start");
  }

  signal(s: Deno.Signal) {
    this.child!.kill(s);
  }

  async kill() {
    this.child!.kill("SIGKILL");
    await this.child!.status;
    await Deno.remove(this.sock).catch(() => {});
  }

  async close() {
    try {
      this.child?.kill("SIGCONT");
      this.child?.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child?.status;
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** A request, timed. */
async function timed(f: () => Promise<Reply>): Promise<{ r: Reply; ms: number }> {
  const t0 = performance.now();
  const r = await f();
  return { r, ms: performance.now() - t0 };
}

/** Polls until the route answers other than 503 (bounded: the client reconnects within ~2 s). */
async function recovered(f: () => Promise<Reply>): Promise<Reply> {
  for (let i = 0; i < 300; i++) {
    const r = await f();
    if (r.status !== 503) return r;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("townhall did not recover after Redis came back");
}

const MCP = { jsonrpc: "2.0", id: 1, method: "tools/list" };

Deno.test("Redis stopped or killed: every route answers 503 within 2 s, /health 200, then it recovers", async () => {
  const redis = new PrivateRedis();
  await redis.start();
  const h = await startHall({ sandbox: new HallSandbox(`unix://${redis.sock}`) });
  const routes: [string, string, unknown?][] = [
    ["GET", "/ready"],
    ["GET", "/metrics"],
    ["GET", "/api/scaling"],
    ["GET", "/openapi.json"],
    ["GET", "/v1/status"],
    ["GET", "/v1/events/stream"],
    ["GET", "/v1/agents/w1/wait?timeout=5"],
    ["POST", "/v1/backlog", { description: "while down" }],
    ["POST", "/v1/recover"],
    ["POST", "/mcp", MCP],
  ];
  const mcpHeaders = { accept: "application/json, text/event-stream" };
  const call = (m: string, p: string, body?: unknown) =>
    api(h, m, p, { body, headers: p === "/mcp" ? mcpHeaders : {} });
  try {
    assert.equal((await call("GET", "/v1/status")).status, 200);
    for (const how of ["SIGSTOP", "kill"] as const) {
      if (how === "SIGSTOP") redis.signal("SIGSTOP");
      else await redis.kill();
      // All at once, as real clients would: none may wait for another.
      const got = await Promise.all(routes.map(([m, p, b]) => timed(() => call(m, p, b))));
      got.forEach(({ r, ms }, i) => {
        const what = `${how}: ${routes[i][0]} ${routes[i][1]}`;
        assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
        assert.ok(ms < 2000, `${what} took ${Math.round(ms)} ms`);
        assert.ok(Number(r.headers.get("retry-after")) >= 1, `${what}: Retry-After`);
        if (routes[i][1] !== "/ready") {
          assert.equal(ErrorBody.parse(r.body).code, "unavailable", what);
        }
      });
      const slowest = Math.max(...got.map((g) => g.ms));
      report(
        `townhall with Redis ${
          how === "kill" ? "killed" : "SIGSTOPped"
        }: ${routes.length} routes answered 503 in at most ${Math.round(slowest)} ms`,
      );
      const health = await timed(() => call("GET", "/health"));
      assert.equal(health.r.status, 200);
      assert.ok(health.ms < 2000);

      if (how === "SIGSTOP") redis.signal("SIGCONT");
      else await redis.start();
      // After the kill the data went with it (no persistence here), the key included: then the
      // server answers 401, it never opens up.
      const expect = how === "SIGSTOP" ? 200 : 401;
      assert.equal((await recovered(() => call("GET", "/v1/status"))).status, expect);
      assert.equal((await call("GET", "/ready")).status, 200);
      const r = await call("POST", "/mcp", MCP);
      assert.equal(r.status, expect, JSON.stringify(r.body));
    }
  } finally {
    await closeHall(h);
    await redis.close();
  }
});
