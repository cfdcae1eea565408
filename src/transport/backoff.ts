/**
 * Reconnect delays: exponential growth capped at a maximum, with "equal jitter" (half fixed, half
 * random) so that clients dropped together do not retry in lockstep yet never retry at once.
 * @module
 */

export interface BackoffOptions {
  /** first delay's upper bound (default 250 ms) */
  initialMs?: number;
  /** cap on the upper bound (default 30 s) */
  maxMs?: number;
}

export const BACKOFF_DEFAULTS = { initialMs: 250, maxMs: 30_000 } as const;

/** Delay before reconnect attempt `attempt` (0 for the first retry): in [cap/2, cap], cap = min(max, initial·2^attempt). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 0) throw new RangeError('attempt must be a non-negative integer');
  const { initialMs, maxMs } = { ...BACKOFF_DEFAULTS, ...options };
  // 2^attempt overflows to Infinity for huge attempts; min() takes care of it.
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 64));
  return Math.round(cap / 2 + random() * (cap / 2));
}
