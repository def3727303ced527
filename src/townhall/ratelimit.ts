/**
 * Token buckets, one per client and class of request (read or write). A bucket holds up to
 * `burst` tokens and refills at `perMinute / 60` tokens a second; each request takes one.
 *
 * @example
 * ```ts
 * const rl = new TokenBuckets({ perMinute: 60, burst: 10 });
 * const r = rl.take("key:abc"); // { ok: true } or { ok: false, retryAfterSecs: 1 }
 * ```
 */
export interface BucketOptions {
  /** Sustained rate; 0 disables the limit. */
  perMinute: number;
  /** Bucket size: how many requests may come at once. */
  burst: number;
  /** Clock in milliseconds (tests pass a fake one). */
  now?: () => number;
  /** Buckets kept at most; full (idle) ones are dropped first when over. */
  maxClients?: number;
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterSecs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #max: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(opts: BucketOptions) {
    this.#perMs = opts.perMinute / 60_000;
    this.#burst = Math.max(1, opts.burst);
    this.#now = opts.now ?? (() => performance.now());
    this.#max = opts.maxClients ?? 10_000;
  }

  get enabled(): boolean {
    return this.#perMs > 0;
  }

  take(client: string): TakeResult {
    if (!this.enabled) return { ok: true, remaining: Infinity };
    const now = this.#now();
    let b = this.#buckets.get(client);
    if (!b) {
      if (this.#buckets.size >= this.#max) this.#evict(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens) };
    }
    return {
      ok: false,
      retryAfterSecs: Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000)),
    };
  }

  /** Drops buckets that have refilled completely (their clients are idle); else the oldest. */
  #evict(now: number) {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(k);
    }
    if (this.#buckets.size >= this.#max) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }
}
