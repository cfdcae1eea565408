/** Inputs of the aux-info protocol: session, parties, own index, parameters and own fresh keys. */
import type { SecurityParams } from '../../zk/params.js';
import type { RingPedersenParams, RingPedersenSecret } from '../../paillier/ring-pedersen.js';

export interface AuxParams {
  /** sid: unique per execution */
  readonly sid: Uint8Array;
  /** n: number of parties */
  readonly n: number;
  /** i: own index */
  readonly i: number;
  /** L: security parameters */
  readonly L: SecurityParams;
  /** own Paillier primes p, q (safe primes, made ahead of time: generating them takes seconds) */
  readonly paillier: { readonly p: bigint; readonly q: bigint };
  /** own ring-Pedersen parameters and their secret (from two other safe primes) */
  readonly ringPedersen: { readonly params: RingPedersenParams; readonly secret: RingPedersenSecret };
}

export function assertAuxParams(p: AuxParams): void {
  if (!(p.sid instanceof Uint8Array) || p.sid.length < 16) throw new RangeError('sid must be at least 16 bytes');
  if (!Number.isInteger(p.n) || p.n < 2 || p.n > 64) throw new RangeError('n must be in [2, 64]');
  if (!Number.isInteger(p.i) || p.i < 0 || p.i >= p.n) throw new RangeError('i must be in [0, n)');
  const { p: pp, q } = p.paillier;
  if ((pp & 3n) !== 3n || (q & 3n) !== 3n || pp === q)
    throw new RangeError('Paillier primes must be distinct and ≡ 3 (mod 4)');
}

export { allParties as parties } from '../common.js';
