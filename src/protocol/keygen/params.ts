import type { KeyShare } from '../keyshare.js';

/**
 * Inputs of a key generation: session, party count n, threshold t, own index i; with `refresh`,
 * a key refresh of that share instead (same n, t, i and Y; every party deals a polynomial with
 * constant term 0, so new shares lie on a fresh polynomial through the same secret).
 */
export interface KeygenParams {
  /** sid: unique per execution (includes a fresh nonce from every node) */
  readonly sid: Uint8Array;
  /** n: number of parties (3 in production; tests also run 5) */
  readonly n: number;
  /** t: parties needed to sign (2 in production) */
  readonly t: number;
  /** i: own index in [0, n) */
  readonly i: number;
  /** the share to refresh (key refresh mode) */
  readonly refresh?: KeyShare;
}

export function assertKeygenParams(p: KeygenParams): void {
  if (!(p.sid instanceof Uint8Array) || p.sid.length < 16) throw new RangeError('sid must be at least 16 bytes');
  if (!Number.isInteger(p.n) || p.n < 2 || p.n > 64) throw new RangeError('n must be in [2, 64]');
  if (!Number.isInteger(p.t) || p.t < 1 || p.t > p.n) throw new RangeError('t must be in [1, n]');
  if (!Number.isInteger(p.i) || p.i < 0 || p.i >= p.n) throw new RangeError('i must be in [0, n)');
  const old = p.refresh?.public;
  if (old && (old.n !== p.n || old.t !== p.t || old.i !== p.i))
    throw new RangeError('refresh: (n, t, i) must match the share being refreshed');
  if (p.refresh && p.t < 2) throw new RangeError('refresh needs t ≥ 2 (a polynomial of degree ≥ 1)');
}

/** Feldman commitments a party sends: t of them, or t − 1 in refresh mode (the constant term is 0 by construction). */
export function commitmentCount(p: KeygenParams): number {
  return p.refresh ? p.t - 1 : p.t;
}

export { allParties as parties } from '../common.js';
