/** Townhall commands: the REST + MCP server, MCP over stdio, and its API keys. */
import type { Command } from "@commander-js/extra-typings";
import { globals, withTown } from "./context.ts";
import { color, note, output, print, printJson } from "./output.ts";
import { UsageError } from "../core/errors.ts";

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) {
    throw new UsageError(`invalid port '${v}': use a number from 0 to 65535 (0 picks a free one)`);
  }
  return n;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command) {
  program.command("townhall")
    .description(
      "serve the town's REST API, live events and MCP over HTTP, API key required (Ctrl-C stops it)",
    )
    .option("-b, --bind <host>", "address to listen on (default: [townhall] bind, 127.0.0.1)")
    .option("-p, --port <port>", "port (default: [townhall] port, 8080; 0 = any free)", parsePort)
    .action(async (opts, cmd) => {
      const g = globals(cmd);
      // Started with broad permissions (deno.json's -P, the bundle's shebang): run again with
      // the narrowed set of src/supervisor/permissions.ts, in the foreground.
      const perms = await import("../supervisor/permissions.ts");
      const narrowed = await import("../supervisor/narrowed.ts");
      if (!narrowed.isNarrowed()) {
        const { openTown } = await import("../core/town.ts");
        const { selfCommand } = await import("../supervisor/self.ts");
        const t = await openTown({ town: g.town, clientName: "tt-townhall-start" });
        let argv: string[];
        try {
          const bind = opts.bind ?? t.config.townhall.bind;
          const port = opts.port ?? t.config.townhall.port;
          const flags = perms.permissionFlags(
            await perms.townhallScopes(t, t.connectUrl ?? t.redisUrl, bind, port),
          );
          argv = [
            ...selfCommand(flags),
            "--town",
            t.root,
            ...(g.json ? ["--json"] : []),
            "townhall",
            "--bind",
            bind,
            "--port",
            String(port),
          ];
        } finally {
          await t.close();
        }
        Deno.exit(await narrowed.runNarrowed(argv));
      }
      narrowed.watchParent();
      const { runTownhall } = await import("../townhall/server.ts");
      await runTownhall({
        town: g.town,
        bind: opts.bind,
        port: opts.port,
        // --json: one line, so a supervising program can read it as soon as it is listening.
        onListen: (i) =>
          g.json ? printJson(i) : output(
            false,
            i,
            () =>
              `Townhall for ${color.bold(i.town)} listening on ${i.url} (${
                i.auth === "none"
                  ? "auth: NONE, no key checked"
                  : `every request needs an API key; the town has ${i.keys}`
              }); API at ${i.url}/v1, MCP at ${i.url}/mcp, OpenAPI at ${i.url}/openapi.json`,
          ),
      });
    });

  program.command("mcp")
    .description("serve MCP over stdin/stdout (for an AI client on this machine)")
    .action(async (_opts, cmd) => {
      const g = globals(cmd);
      const { openTown } = await import("../core/town.ts");
      const { serveStdio } = await import("../townhall/mcp.ts");
      const { OPEN } = await import("../townhall/auth.ts");
      const town = await openTown({ town: g.town, clientName: "tt-mcp", persistent: true });
      try {
        await serveStdio(town, OPEN);
      } finally {
        await town.close();
      }
    });

  const auth = program.command("auth")
    .description("API keys for townhall (stored only as SHA-256 hashes in Redis)");

  auth.command("gen-key")
    .description("create an API key; it is printed once, on stdout")
    .option(
      "-s, --scope <scope>",
      "town.read | town.write | agent.manage | exec | admin (repeatable; default admin)",
      collect,
    )
    .option("-n, --name <name>", "a label to recognise the key by")
    .action(async (opts, cmd) => {
      const { generateKey, parseScope } = await import("../core/auth.ts");
      const scopes = (opts.scope ?? []).flatMap((s) => s.split(",")).filter((s) => s.trim())
        .map(parseScope);
      await withTown(cmd, async (t, g) => {
        const { key, record } = await generateKey(t, { name: opts.name, scopes });
        const { hash: _, ...shown } = record;
        if (g.json) {
          output(true, { ...shown, key }, () => "");
          return;
        }
        print(key);
        note(
          `Created key ${record.id} (${record.name}) with scopes ${record.scopes.join(", ")}.\n` +
            `It is shown only this once: store it now. Use it as 'Authorization: Bearer <key>'.`,
        );
      });
    });

  auth.command("list")
    .description("list the town's API keys (never the keys themselves)")
    .action(async (_opts, cmd) => {
      const { listKeys } = await import("../core/auth.ts");
      await withTown(cmd, async (t, g) => {
        const keys = (await listKeys(t)).map(({ hash: _, ...k }) => k);
        output(
          g.json,
          keys,
          () =>
            keys.length
              ? keys.map((k) =>
                `${k.id}  ${k.name.padEnd(16)}  ${k.scopes.join(",").padEnd(24)}  ${k.created_at}`
              )
              : "No API keys: townhall answers 401 to everything (but /health and /ready) until " +
                "'tt auth gen-key' creates one (the next 'tt townhall' creates one itself).",
        );
      });
    });

  auth.command("revoke")
    .description("delete an API key; requests using it get 401 at once")
    .argument("<id>", "key id (tt auth list)")
    .action(async (id, _opts, cmd) => {
      const { revokeKey } = await import("../core/auth.ts");
      await withTown(cmd, async (t, g) => {
        const { hash: _, ...k } = await revokeKey(t, id);
        output(g.json, k, () => `Revoked key ${k.id} (${k.name})`);
      });
    });
}
