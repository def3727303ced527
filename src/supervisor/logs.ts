/**
 * Reading agents' round logs (`.tt/logs/<agent>_round_<N>.log`). A log holds the CLI's raw
 * output; for CLIs with a JSON stream `tt logs` shows it as readable text (the family's
 * renderer), `--raw` as written.
 */
import type { TownContext } from "../core/town.ts";
import type { Agent } from "../core/schemas.ts";
import { NotFoundError } from "../core/errors.ts";
import { getAgent } from "../core/agents.ts";
import { followEvents, lastEventId } from "../core/events.ts";
import { resolveCli } from "./cli.ts";
import type { CliFamily } from "./clis/types.ts";
import { loggedRounds, roundLogPath } from "./log_files.ts";

export { loggedRounds, removeRoundLogs, roundLogPath } from "./log_files.ts";

/** Events that end a round (the log file is complete when they are written). */
const ROUND_END = new Set(["round_completed", "round_failed", "round_interrupted"]);

/**
 * Where a log's bytes go: `write` gets each chunk read, `idle` is called whenever the reader has
 * caught up with the file, and `end` once at the end. The default copies the bytes unchanged to
 * stdout; the CLI passes one that escapes control characters unless `--raw`.
 */
export interface LogSink {
  write(bytes: Uint8Array): Promise<unknown>;
  idle?(): Promise<unknown>;
  end?(): Promise<unknown>;
}

const RAW_STDOUT: LogSink = {
  write: async (bytes) => {
    for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
  },
};

/**
 * Copies a round's log to `sink` (stdout by default): as readable text for a CLI with a JSON
 * stream, unless `raw`. With `follow`, keeps copying as it grows (inotify) until the round ends
 * (its end event), SIGINT/SIGTERM or `signal` (townhall: the client went away); a round that has
 * already ended is just copied.
 */
export async function showLog(
  t: TownContext,
  agent: Agent,
  round: number | undefined,
  follow: boolean,
  raw = false,
  to: LogSink = RAW_STDOUT,
  signal?: AbortSignal,
) {
  const family = resolveCli(t.config, agent.cli).family;
  const sink = raw || !family.json ? to : readableSink(family, to);
  const rounds = await loggedRounds(t.root, agent.name);
  const n = round ?? rounds.at(-1);
  if (n === undefined || !rounds.includes(n)) {
    throw new NotFoundError(
      round === undefined
        ? `${agent.name} has no round logs yet`
        : `${agent.name} has no log for round ${round} (rounds: ${rounds.join(", ") || "none"})`,
    );
  }
  const path = roundLogPath(t.root, agent.name, n);
  const file = await Deno.open(path);
  const buf = new Uint8Array(64 * 1024);
  const drain = async () => {
    for (let r = await file.read(buf); r !== null && r > 0; r = await file.read(buf)) {
      await sink.write(buf.subarray(0, r));
    }
    await sink.idle?.();
  };
  if (!follow) {
    await drain();
    await sink.end?.();
    file.close();
    return;
  }
  const done = new AbortController();
  const stop = () => done.abort();
  if (signal?.aborted) stop();
  signal?.addEventListener("abort", stop, { once: true });
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    // The end event is looked for after this id, fixed before checking that the round runs.
    const from = await lastEventId(t);
    const now = await getAgent(t, agent.id);
    const running = now?.round === n && !!now.round_started_at;
    await drain();
    if (running && !done.signal.aborted) {
      const watcher = Deno.watchFs(path);
      done.signal.addEventListener("abort", () => watcher.close(), { once: true });
      let failed: unknown;
      const ended = followEvents(t, from, (ev) => {
        if (ev.agent_id === agent.id && ROUND_END.has(ev.type)) done.abort();
      }, done.signal).catch((e) => failed = e).finally(() => done.abort());
      for await (const _ of watcher) await drain();
      await ended;
      if (failed) throw failed;
      await drain(); // what was written between the last change and the end event
    }
    await sink.end?.();
  } finally {
    signal?.removeEventListener("abort", stop);
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    file.close();
  }
}

/** Renders whole lines through the family, then hands them to `next`; a last line waits for `end`. */
function readableSink(family: CliFamily, next: LogSink): LogSink {
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  let partial = "";
  const emit = async (lines: string[]) => {
    const shown = lines.map((l) => family.render(l)).filter((l): l is string => l !== undefined);
    if (shown.length) await next.write(enc.encode(shown.map((l) => `${l}\n`).join("")));
  };
  return {
    async write(data) {
      const lines = (partial + dec.decode(data, { stream: true })).split("\n");
      partial = lines.pop()!;
      await emit(lines);
    },
    idle: () => next.idle?.() ?? Promise.resolve(),
    async end() {
      const last = partial + dec.decode();
      partial = "";
      if (last) await emit([last]);
      await next.end?.();
    },
  };
}
