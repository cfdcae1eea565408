/**
 * Bounded retries for calls to a remote KMS: a transient failure (no answer, reset connection,
 * throttling, a 5xx) is retried with exponential backoff and full jitter, at most `attempts` times
 * in all; then the caller gets KmsError 'unavailable' naming the provider. A permanent failure
 * (bad credentials, wrong context, unknown key) is not retried. Node storage never falls back to
 * another provider: the error reaches the operation that needed the key.
 * @module
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmsError } from './kms.js';

export interface RetryPolicy {
  /** Calls in all, first included (default 4). */
  attempts: number;
  /** Backoff before the second call; doubles after each failure (default 100 ms). */
  baseDelayMs: number;
  /** Cap on one backoff (default 2 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2_000 };

export function checkRetryPolicy(p: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(p.attempts) || p.attempts < 1 || p.attempts > 20)
    throw new RangeError('retry attempts must be an integer from 1 to 20');
  if (!(p.baseDelayMs >= 0) || !(p.maxDelayMs >= p.baseDelayMs) || p.maxDelayMs > 60_000)
    throw new RangeError('retry delays must satisfy 0 ≤ baseDelayMs ≤ maxDelayMs ≤ 60000');
  return p;
}

/**
 * Run `op` until it succeeds, throws a non-transient error (rethrown as is), or has used all
 * attempts (KmsError 'unavailable', with the last error as cause).
 */
export async function withRetries<T>(
  provider: string,
  what: string,
  policy: RetryPolicy,
  isTransient: (e: unknown) => boolean,
  op: () => Promise<T>,
): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (!isTransient(e)) throw e;
      last = e;
      if (attempt === policy.attempts) break;
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await sleep(randomInt(Math.floor(cap) + 1)); // full jitter
    }
  }
  throw new KmsError(
    'unavailable',
    `${provider} KMS: ${what} failed after ${policy.attempts} attempts: ${describeError(last)}`,
    { cause: last },
  );
}

/** A short, secret-free description of a transport or service error, for messages. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const status =
      (e as { statusCode?: unknown; status?: unknown; $metadata?: { httpStatusCode?: unknown } }).$metadata
        ?.httpStatusCode ??
      (e as { statusCode?: unknown }).statusCode ??
      (e as { status?: unknown }).status;
    const bits = [
      e.name,
      typeof code === 'string' ? code : undefined,
      typeof status === 'number' ? `HTTP ${status}` : undefined,
    ].filter(Boolean);
    return bits.join(' ').slice(0, 200);
  }
  return 'unknown error';
}

/** Node's network error codes that mean "try again": no answer, refused, reset, timed out. */
export const TRANSIENT_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNABORTED',
]);

/** HTTP statuses worth retrying: timeout, throttling and server-side failures. */
export function isTransientStatus(status: number | undefined): boolean {
  return status === 408 || status === 429 || (status !== undefined && status >= 500 && status <= 599);
}
