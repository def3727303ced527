/**
 * A timer for work that must not wait for ever.
 *
 * Deno 2.9's global setTimeout is node:timers, loaded on its first use: about 8 ms, a third of a
 * Deno hello world (`DENO_LOG_LAZY_LOAD=1` lists the 22 modules it pulls in). A one-shot `tt`
 * command that loads nothing else from Node should not pay that for a timer that never fires.
 * `oneShot` uses AbortSignal.timeout instead, which runs on the web timers already loaded; its
 * timer cannot be cleared and keeps the process alive until it fires, so only a process that ends
 * with Deno.exit (main.ts) may ask for it. `cancel()` always stops `fn` from running.
 */
export interface Timer {
  cancel(): void;
}

export function startTimer(ms: number, fn: () => void, opts: { oneShot?: boolean } = {}): Timer {
  if (!opts.oneShot) {
    const id = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(id) };
  }
  let live = true;
  AbortSignal.timeout(ms).addEventListener("abort", () => live && fn(), { once: true });
  return {
    cancel: () => {
      live = false;
    },
  };
}
