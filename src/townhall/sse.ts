/**
 * Live Server-Sent Events responses for townhall (the event stream, the dashboard's streams): a
 * bound on how many are open at once (each holds a Redis connection or a file watch), keep-alive
 * comments so idle proxies do not drop them, and an end on client disconnect or server shutdown.
 */
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { AppEnv, TownhallDeps } from "./env.ts";
import { HttpError } from "./errors.ts";

/** Keep-alive comment interval. */
const PING_MS = 15_000;

/** One kind of live stream, with its own bound. */
export class LiveStreams {
  #open = 0;

  /** `what` names the streams in the 503 ("live event streams") and in logged errors. */
  constructor(readonly limit: number, readonly what: string) {}

  /**
   * Runs `body` as an SSE response; `signal` aborts on disconnect or shutdown, `stop` ends the
   * stream from inside (e.g. when a write fails). More than `limit` open ones get 503.
   */
  serve(
    c: Context<AppEnv>,
    deps: Pick<TownhallDeps, "shutdown">,
    body: (stream: SSEStreamingApi, signal: AbortSignal, stop: () => void) => Promise<void>,
  ) {
    if (this.#open >= this.limit) {
      throw new HttpError(503, "unavailable", `too many ${this.what} (${this.limit})`);
    }
    this.#open++;
    return streamSSE(c, async (stream) => {
      const done = new AbortController();
      const stop = () => done.abort();
      deps.shutdown.addEventListener("abort", stop, { once: true });
      stream.onAbort(stop);
      const ping = setInterval(() => stream.write(": ping\n\n").catch(stop), PING_MS);
      try {
        await stream.write(": connected\n\n");
        await body(stream, done.signal, stop);
      } catch (e) {
        if (!done.signal.aborted) console.error(`townhall: ${this.what}: ${(e as Error).message}`);
      } finally {
        clearInterval(ping);
        deps.shutdown.removeEventListener("abort", stop);
        this.#open--;
      }
    });
  }
}
