/**
 * Combining partial signatures (the one online round): s = Σ_j σ_j, verified against Y before it
 * is released, normalised to low-s with its recovery id. Needs only public data, so the
 * coordinator can combine.
 *
 * Attribution (docs/security.md A9): when the sum does not verify, each σ_j is checked on its own,
 *   σ_j·R = m·Δ̃_j + r·S̃_j,
 * and every signer whose partial fails is named. When the sum verifies there is nobody to name:
 * with at most one cheating signer a wrong partial always spoils the sum, so the optimistic path
 * (one verification instead of three multiplications per signer) loses no attribution.
 * @module
 */
import { type Point, modq, mulPublic, q } from '../../curve/secp256k1.js';
import { Blame } from '../machine.js';
import { digestScalar, nonceR, type PartialSignature, type PresignaturePublic } from '../presign/presignature.js';
import { equalBytes } from '@noble/curves/utils.js';
import { normalise, verifyEcdsa, type EcdsaSignature } from './signature.js';

/** Signers whose σ_j fails σ_j·R = m·Δ̃_j + r·S̃_j. */
export function wrongPartials(pub: PresignaturePublic, m: bigint, partials: ReadonlyMap<number, bigint>): number[] {
  const r = nonceR(pub);
  return pub.signers.filter((j, idx) => {
    const sigma = partials.get(j) as bigint;
    const rhs = mulPublic(pub.Delta[idx] as Point, m).add(mulPublic(pub.S[idx] as Point, r));
    return !mulPublic(pub.R, sigma).equals(rhs);
  });
}

/** Throws Blame naming every signer whose partial is missing, duplicated, foreign or wrong. */
export function combineSignature(
  pub: PresignaturePublic,
  digest: Uint8Array,
  partials: readonly PartialSignature[],
): EcdsaSignature {
  const m = digestScalar(digest);
  const r = nonceR(pub);
  const sigmas = new Map<number, bigint>();
  const bad = new Set<number>();
  for (const p of partials) {
    if (!pub.signers.includes(p.signer))
      throw new Blame([], 'unknown-sender', `sign: partial from non-signer ${p.signer}`);
    const wellFormed =
      typeof p.sigma === 'bigint' && p.sigma >= 0n && p.sigma < q && equalBytes(p.presignatureId, pub.id);
    if (sigmas.has(p.signer) || !wellFormed) bad.add(p.signer);
    sigmas.set(p.signer, p.sigma);
  }
  const missing = pub.signers.filter((j) => !sigmas.has(j));
  if (missing.length) throw new Blame(missing, 'missing-message', 'sign: missing partial signature');
  if (bad.size)
    throw new Blame(
      [...bad].sort((a, b) => a - b),
      'malformed',
      'sign: malformed or duplicate partial signature',
    );
  const s = modq([...sigmas.values()].reduce((a, b) => a + b, 0n));
  if (s !== 0n && verifyEcdsa(pub.Y, m, r, s)) return normalise(r, s, pub.R);
  const wrong = wrongPartials(pub, m, sigmas);
  if (wrong.length)
    throw new Blame(wrong, 'partial-signature-invalid', 'sign: σ_j·R ≠ m·Δ̃_j + r·S̃_j (wrong partial signature)');
  throw new Blame(
    [],
    'inconsistent-presignature',
    'sign: every partial checks but the signature does not verify (inconsistent presignature)',
  );
}
