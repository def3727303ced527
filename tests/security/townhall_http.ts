/**
 * Curl-level HTTP for the attacker's tests: fetch() rewrites `Host` to the URL's, so requests
 * with a forged Host (DNS rebinding) are written by hand over TCP, byte for byte.
 */
import type { Hall } from "../townhall/helpers.ts";

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: () => Record<string, unknown>;
}

function dechunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const nl = rest.indexOf("\r\n");
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/**
 * One HTTP/1.1 request with exactly the given headers (plus Connection: close and, with a body,
 * Content-Length). `host: undefined` sends the URL's host; `host: null` sends no Host at all.
 */
export async function raw(
  h: Hall,
  method: string,
  path: string,
  opts: { host?: string | null; headers?: Record<string, string>; body?: string } = {},
): Promise<RawReply> {
  const u = new URL(h.url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const lines = [`${method} ${path} HTTP/1.1`];
  const host = opts.host === undefined ? u.host : opts.host;
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`);
  if (opts.body !== undefined) {
    lines.push(`Content-Length: ${new TextEncoder().encode(opts.body).length}`);
  }
  lines.push("Connection: close", "", opts.body ?? "");
  try {
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    let text = "";
    const dec = new TextDecoder();
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
    }
    const split = text.indexOf("\r\n\r\n");
    const head = text.slice(0, split).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const l of head.slice(1)) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    let body = text.slice(split + 4);
    if (headers["transfer-encoding"]?.includes("chunked")) body = dechunk(body);
    return { status, headers, body, json: () => JSON.parse(body) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
