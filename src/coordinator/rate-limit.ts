/**
 * Token-bucket rate limiting per key (a credential, or a client IP address): a key may burst up
 * to `capacity` requests, then `refillPerSecond` on average. Buckets live in memory, least
 * recently used first out once there are `maxClients` of them, so a flood of source addresses
 * cannot grow it without bound (an evicted client just starts again with a full bucket).
 *
 * Time is monotonic (performance.now by default): a wall clock stepped by NTP or an operator
 * would otherwise refill every bucket at once (a step forward) or freeze them (a step back).
 * @module
 */
import { performance } from 'node:perf_hooks';

/** A monotonic clock in milliseconds. */
export type MonotonicClock = () => number;

export const monotonicNow: MonotonicClock = () => performance.now();

export interface RateLimitOptions {
  /** burst size */
  readonly capacity: number;
  /** sustained requests per second */
  readonly refillPerSecond: number;
  /** buckets kept (default 10 000) */
  readonly maxClients?: number;
  /** monotonic clock in ms (default performance.now; tests inject their own) */
  readonly now?: MonotonicClock;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: MonotonicClock;

  constructor(private readonly o: RateLimitOptions) {
    if (!(o.capacity >= 1) || !(o.refillPerSecond > 0))
      throw new RangeError('capacity must be ≥ 1 and refillPerSecond > 0');
    this.now = o.now ?? monotonicNow;
  }

  /** Spends one token of `client`'s bucket, if it has one. */
  take(client: string): RateDecision {
    const now = this.now();
    const b = this.buckets.get(client) ?? { tokens: this.o.capacity, at: now };
    // max(0, …): an injected clock that goes backwards must not drain a bucket
    b.tokens = Math.min(this.o.capacity, b.tokens + (Math.max(0, now - b.at) / 1000) * this.o.refillPerSecond);
    b.at = Math.max(b.at, now);
    // re-insert: Map order is then least recently used first
    this.buckets.delete(client);
    this.buckets.set(client, b);
    if (this.buckets.size > (this.o.maxClients ?? 10_000))
      this.buckets.delete(this.buckets.keys().next().value as string);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / this.o.refillPerSecond)) };
  }
}
