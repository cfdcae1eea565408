/**
 * Paillier nonces for presigning made ahead of time (src/paillier/nonce-pool.ts): a signer's
 * presignature encrypts under its own key 2 + 6·(|S| − 1) times (K_i, G_i; per other signer j the
 * mask of Πenc-elg ×2, F_{j,i} and F̂_{j,i}, the B_y of Πaff-g ×2) and under each j's key 4 times
 * (D_{j,i}, D̂_{j,i}, the A of Πaff-g ×2). Filling these while idle moves that work out of the
 * session; a session finding the pool empty makes fresh nonces, as before.
 * @module
 */
import { PaillierPublicKey } from '../../paillier/public-key.js';
import { PaillierSecretKey } from '../../paillier/secret-key.js';
import { fillNonces } from '../../paillier/nonce-pool.js';
import { partyAux, type PresignParams } from './params.js';

/** Fill the pools for `sessions` presignatures of this signer; returns how many nonces were made. */
export function precomputePresignNonces(params: PresignParams, sessions = 1): number {
  const { aux, L, signers } = params;
  const i = aux.i;
  const others = signers.filter((j) => j !== i);
  const sk = PaillierSecretKey.fromPrimes(aux.secret.p, aux.secret.q, {
    checkPrimes: false,
    minBits: L.minModulusBits,
    maxBits: L.maxModulusBits,
  });
  let made = fillNonces(sk, sessions * (2 + 6 * others.length));
  for (const j of others) {
    const pkJ = new PaillierPublicKey(partyAux(aux, j).N, { minBits: L.minModulusBits, maxBits: L.maxModulusBits });
    made += fillNonces(pkJ, sessions * 4);
  }
  return made;
}
