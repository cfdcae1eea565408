/**
 * Key material for signing tests, made by the real protocols where they are fast:
 * - key shares: a real keygen run (no dealer; the secret key never exists in one piece);
 * - aux-info: built directly from the pre-generated safe primes of fixtures/safe-primes.json
 *   (Paillier N_j and ring-Pedersen (N̂_j, s_j, t_j) exactly as aux-info makes them) because the
 *   aux-info protocol takes about 20 s; that protocol has its own tests (test/protocol/aux-info).
 *   With 12 primes, parties beyond three reuse primes in other pairings: every modulus is still
 *   distinct, which is all the signing tests need.
 */
import { randomBytes } from 'node:crypto';
import { startKeygen } from '../../src/protocol/keygen/index.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import { ringPedersenFromPrimes } from '../../src/paillier/ring-pedersen.js';
import { fixturePrime } from './fixtures.js';
import { runNetwork } from './network.js';

/** Prime-index pairs (Paillier p, q; ring-Pedersen p̂, q̂) per party: disjoint for the first three. */
const PAIRS: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 1, 2, 3],
  [4, 5, 6, 7],
  [8, 9, 10, 11],
  [0, 2, 4, 6],
  [1, 3, 5, 7],
];

/** Other pairings of the same primes: different moduli, for "new aux-info" after a refresh. */
const PAIRS_RENEWED: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 4, 1, 5],
  [2, 6, 3, 7],
  [8, 10, 9, 11],
];

export function auxFixture(n: number, renewed = false): AuxInfo[] {
  const pairs = renewed ? PAIRS_RENEWED : PAIRS;
  if (n > pairs.length) throw new RangeError(`aux fixture for at most ${pairs.length} parties`);
  const made = pairs.slice(0, n).map(([a, b, c, d]) => ({
    p: fixturePrime(1536, a),
    q: fixturePrime(1536, b),
    rp: ringPedersenFromPrimes(fixturePrime(1536, c), fixturePrime(1536, d), { checkPrimes: false }).params,
  }));
  const parties = made.map((m) => ({ N: m.p * m.q, rp: m.rp }));
  return made.map((m, i) => ({ i, parties, secret: { p: m.p, q: m.q } }));
}

export function keygenShares(n: number, t: number): KeyShare[] {
  const sid = Uint8Array.from(randomBytes(32));
  const results = runNetwork<KeyShare>([...Array(n).keys()].map((i) => startKeygen({ sid, n, t, i })));
  return results.map((r, i) => {
    if (!r.output) throw new Error(`keygen: party ${i} did not finish`);
    return r.output;
  });
}
