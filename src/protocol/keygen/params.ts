/** Inputs of a key generation: session, party count n, threshold t, own index i. */
export interface KeygenParams {
  /** sid: unique per execution (includes a fresh nonce from every node) */
  readonly sid: Uint8Array;
  /** n: number of parties (3 in production; tests also run 5) */
  readonly n: number;
  /** t: parties needed to sign (2 in production) */
  readonly t: number;
  /** i: own index in [0, n) */
  readonly i: number;
}

export function assertKeygenParams(p: KeygenParams): void {
  if (!(p.sid instanceof Uint8Array) || p.sid.length < 16) throw new RangeError('sid must be at least 16 bytes');
  if (!Number.isInteger(p.n) || p.n < 2 || p.n > 64) throw new RangeError('n must be in [2, 64]');
  if (!Number.isInteger(p.t) || p.t < 1 || p.t > p.n) throw new RangeError('t must be in [1, n]');
  if (!Number.isInteger(p.i) || p.i < 0 || p.i >= p.n) throw new RangeError('i must be in [0, n)');
}

export function parties(n: number): number[] {
  return [...Array(n).keys()];
}
