/** Live events over SSE: delivery, agent filter, resume with Last-Event-ID; no timing assumptions. */
import assert from "node:assert/strict";
import { createAgent } from "../../src/core/agents.ts";
import { api, closeHall, type Hall, startHall } from "./helpers.ts";

interface SseEvent {
  id?: string;
  event?: string;
  data: Record<string, unknown>;
}

/** An open event stream; `next(match)` reads until a matching event (bounded, for broken tests). */
async function openStream(h: Hall, query = "", headers: Record<string, string> = {}) {
  const auth: Record<string, string> = h.createdKey
    ? { authorization: `Bearer ${h.createdKey}` }
    : {};
  const res = await fetch(`${h.url}/v1/events/stream${query}`, {
    headers: { ...auth, ...headers },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const seen: SseEvent[] = [];
  const next = async (match: (e: SseEvent) => boolean, limitMs = 30_000): Promise<SseEvent> => {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const found = seen.findIndex(match);
      if (found >= 0) return seen.splice(0, found + 1).at(-1)!;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("event did not arrive")),
          Math.max(0, deadline - Date.now()),
        );
      });
      const { value, done } = await Promise.race([reader.read(), timeout]).finally(() =>
        clearTimeout(timer)
      );
      if (done) throw new Error("stream ended");
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: SseEvent = { data: {} };
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) e.id = line.slice(4);
          else if (line.startsWith("event: ")) e.event = line.slice(7);
          else if (line.startsWith("data: ")) e.data = JSON.parse(line.slice(6));
        }
        if (e.event) seen.push(e);
      }
    }
  };
  return { next, close: () => reader.cancel() };
}

Deno.test("SSE delivers a new event with its stream id; Last-Event-ID resumes without gaps", async () => {
  const h = await startHall({ keys: [["admin"]] });
  const auth = { authorization: `Bearer ${h.keys[0]}` };
  try {
    const a = await createAgent(h.t, { name: "w1", cli: "claude" });
    await createAgent(h.t, { name: "w2", cli: "claude" });
    const s = await openStream(h, "", auth);
    const all = await openStream(h, "?agent=w2", auth);
    try {
      const sent = await api(h, "POST", "/v1/messages/send", {
        key: h.keys[0],
        body: { to: "w1", message: "first" },
      });
      assert.equal(sent.status, 201);
      const ev = await s.next((e) => e.event === "message_sent");
      assert.match(ev.id!, /^\d+-\d+$/);
      assert.equal(ev.data.id, ev.id);
      assert.equal(ev.data.agent_id, a.id);
      assert.match(String(ev.data.message), /first/);
      await s.close();

      // While disconnected: two more messages. Resuming after `ev` replays both, in order.
      for (const m of ["second", "third"]) {
        await api(h, "POST", "/v1/messages/send", {
          key: h.keys[0],
          body: { to: "w1", message: m },
        });
      }
      await api(h, "POST", "/v1/messages/send", {
        key: h.keys[0],
        body: { to: "w2", message: "x" },
      });
      const r = await openStream(h, "", { ...auth, "last-event-id": ev.id! });
      try {
        const e2 = await r.next((e) => e.event === "message_sent");
        const e3 = await r.next((e) => e.event === "message_sent");
        assert.match(String(e2.data.message), /second/);
        assert.match(String(e3.data.message), /third/);
        assert.ok(e2.id! > ev.id! && e3.id! > e2.id!);
      } finally {
        await r.close();
      }
      // The agent filter only passed w2's event.
      const only = await all.next((e) => e.event === "message_sent");
      assert.match(String(only.data.message), /x/);
    } finally {
      await all.close().catch(() => {});
    }
    assert.equal(
      await fetch(`${h.url}/v1/events/stream`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }),
      401,
    );
    const bad = await api(h, "GET", "/v1/events/stream", {
      key: h.keys[0],
      headers: { "last-event-id": "yesterday" },
    });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { field: string }).field, "header.last-event-id");
    const ghost = await api(h, "GET", "/v1/events/stream?agent=ghost", { key: h.keys[0] });
    assert.equal(ghost.status, 404);
  } finally {
    await closeHall(h);
  }
});

Deno.test("SIGTERM ends open event streams and the server exits 0", async () => {
  const h = await startHall();
  try {
    const s = await openStream(h);
    await api(h, "POST", "/v1/messages/send", { body: { to: "supervisor", message: "hi" } });
    await s.next((e) => e.event === "message_sent");
    assert.equal(await h.stop(), 0);
    await assert.rejects(s.next(() => false), /stream ended|error/i);
  } finally {
    await closeHall(h);
  }
});
