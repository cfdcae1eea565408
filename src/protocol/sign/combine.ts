/**
 * Combining partial signatures (the one online round). Each σ_j is checked on its own,
 *   σ_j·R = m·Δ̃_j + r·S̃_j,
 * so a wrong partial is attributed to its signer (SECURITY.md A9); then s = Σ_j σ_j ≠ 0, the
 * signature is verified against Y before it is released, and normalised to low-s with its
 * recovery id. Needs only public data: the coordinator can combine.
 * @module
 */
import { type Point, modq, mulPublic, q } from '../../curve/secp256k1.js';
import { Blame } from '../machine.js';
import { digestScalar, nonceR, type PartialSignature, type PresignaturePublic } from '../presign/presignature.js';
import { equalBytes } from '../echo.js';
import { normalise, verifyEcdsa, type EcdsaSignature } from './signature.js';

/** Throws Blame naming every signer whose partial is missing, foreign or wrong. */
export function combineSignature(pub: PresignaturePublic, digest: Uint8Array, partials: readonly PartialSignature[]): EcdsaSignature {
  const m = digestScalar(digest);
  const r = nonceR(pub);
  const bySigner = new Map<number, PartialSignature>();
  const bad = new Set<number>();
  for (const p of partials) {
    if (!pub.signers.includes(p.signer)) throw new Blame([], `sign: partial from non-signer ${p.signer}`);
    if (bySigner.has(p.signer) || !equalBytes(p.presignatureId, pub.id)) bad.add(p.signer);
    bySigner.set(p.signer, p);
  }
  const missing = pub.signers.filter((j) => !bySigner.has(j));
  if (missing.length) throw new Blame(missing, 'sign: missing partial signature');
  let s = 0n;
  pub.signers.forEach((j, idx) => {
    const sigma = (bySigner.get(j) as PartialSignature).sigma;
    const lhs = mulPublic(pub.R, sigma);
    const rhs = mulPublic(pub.Delta[idx] as Point, m).add(mulPublic(pub.S[idx] as Point, r));
    if (typeof sigma !== 'bigint' || sigma < 0n || sigma >= q || !lhs.equals(rhs)) bad.add(j);
    s = modq(s + sigma);
  });
  if (bad.size) throw new Blame([...bad], 'sign: σ_j·R ≠ m·Δ̃_j + r·S̃_j (wrong partial signature)');
  if (s === 0n) throw new Blame([], 'sign: s = 0');
  // every partial checked, so this holds unless the presignature itself is inconsistent
  if (!verifyEcdsa(pub.Y, m, r, s)) throw new Blame([], 'sign: the combined signature does not verify under Y');
  return normalise(r, s, pub.R);
}
