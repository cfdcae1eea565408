/**
 * Encryption nonces made ahead of time: pairs (ρ, ρ^N mod N²) per Paillier modulus, computed while
 * a worker is idle (fill) and handed out once each (take). ρ^N mod N² is most of an encryption's
 * cost and does not depend on the message, so a presignature whose nonces were made in advance
 * spends that time before the session instead of inside it; the total work is the same.
 *
 * A pair is removed from the pool when it is taken and never returned: one nonce under two
 * encryptions would reveal the difference of their plaintexts. ρ is secret (the proofs use it as a
 * witness); the pool lives in this process's memory only. Bounded: at most MAX_PER_MODULUS pairs for
 * each of MAX_MODULI moduli (the least recently used modulus is dropped).
 * @module
 */
import type { PaillierPublicKey } from './public-key.js';
import type { PaillierSecretKey } from './secret-key.js';

export const MAX_PER_MODULUS = 256;
const MAX_MODULI = 16;

/** A nonce and its factor under one key: Enc(m; ρ) = (1 + m·N)·factor mod N². */
export interface Nonce {
  readonly rho: bigint;
  /** ρ^N mod N² */
  readonly factor: bigint;
}

type Key = PaillierPublicKey | PaillierSecretKey;

const pools = new Map<bigint, Nonce[]>();

function fresh(key: Key): Nonce {
  const pk = 'publicKey' in key ? key.publicKey : key;
  const rho = pk.randomNonce();
  // own key: by CRT (constant time in ρ); a peer's: the public exponent N, ρ secret only as a base
  return { rho, factor: key.nonceFactor(rho) };
}

/** Add up to `count` nonces for this key (no more than MAX_PER_MODULUS in all); returns how many were added. */
export function fillNonces(key: Key, count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer');
  let pool = pools.get(key.N);
  if (!pool) {
    if (pools.size >= MAX_MODULI) pools.delete(pools.keys().next().value as bigint);
    pool = [];
    pools.set(key.N, pool);
  }
  const add = Math.min(count, MAX_PER_MODULUS - pool.length);
  for (let k = 0; k < add; k++) pool.push(fresh(key));
  return add;
}

/** A nonce for one encryption under this key: a precomputed one if there is any, else a fresh one. */
export function takeNonce(key: Key): Nonce {
  return pools.get(key.N)?.pop() ?? fresh(key);
}

/** How many precomputed nonces this modulus has. */
export function pooledNonces(N: bigint): number {
  return pools.get(N)?.length ?? 0;
}

/** Drop every precomputed nonce (of one modulus, or all). */
export function clearNonces(N?: bigint): void {
  if (N === undefined) pools.clear();
  else pools.delete(N);
}
