/** The network of a sandboxed round: only the allowed hosts, through the filtering proxy. */
import { equal as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { makeTown, noSandbox } from "./fixture.ts";

const opts = { ignore: noSandbox, sanitizeResources: false, sanitizeOps: false };

function server(body: string) {
  const hits = { n: 0 };
  const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits.n++;
    return new Response(body);
  });
  return { srv, hits, url: `http://127.0.0.1:${srv.addr.port}/` };
}

Deno.test(
  "sandbox: a host in allow_hosts is reached, one that is not is refused",
  opts,
  async () => {
    const t = await makeTown();
    const allowed = server("allowed-body");
    const denied = server("denied-body");
    try {
      // Both stubs listen on 127.0.0.1 with different ports: allow exactly one of them.
      const port = allowed.srv.addr.port;
      const curl = (u: string) =>
        `curl -sS --max-time 20 --noproxy '' -w ' code=%{http_code}\\n' ${u}`;
      const r = await t.run(`${curl(allowed.url)}; ${curl(denied.url)}; echo end`, {
        allowHosts: [`127.0.0.1:${port}`],
      });
      assertMatch(r.out, /end/);
      assertMatch(r.out, /allowed-body code=200/);
      assert(!r.out.includes("denied-body"), r.out);
      assertMatch(r.out, /blocked by network allowlist\s+code=403/);
      assertEquals(allowed.hits.n, 1);
      assertEquals(denied.hits.n, 0);
    } finally {
      await allowed.srv.shutdown();
      await denied.srv.shutdown();
      await t.close();
    }
  },
);

Deno.test(
  "sandbox: no allowed host, no network: direct and proxied TCP both fail",
  opts,
  async () => {
    const t = await makeTown();
    const s = server("body");
    try {
      const r = await t.run(
        `curl -sS --max-time 20 --noproxy '*' ${s.url} && echo DIRECT; ` +
          `curl -fsS --max-time 20 --noproxy '' ${s.url} && echo PROXIED; ` +
          `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${s.srv.addr.port}' && echo RAW; echo end`,
        { cli: "custom-cli" },
      );
      assertMatch(r.out, /end/);
      for (const w of ["DIRECT", "PROXIED", "RAW", "body"]) assert(!r.out.includes(w), r.out);
      assertEquals(s.hits.n, 0);
    } finally {
      await s.srv.shutdown();
      await t.close();
    }
  },
);
