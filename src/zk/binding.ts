/**
 * What every proof transcript is bound to (docs/security.md, transcript rule 3): the session id, the
 * prover's index and whatever else the protocol adds (verifier index, joint randomness ρ, …),
 * plus the security parameters.
 * @module
 */
import { Transcript } from './transcript.js';
import type { SecurityParams } from './params.js';

export interface ProofBinding {
  /** session id (unique per execution) */
  readonly sid: Uint8Array;
  /** index of the prover */
  readonly prover: number;
  /** index of the verifier, for proofs addressed to one party */
  readonly verifier?: number;
  /** protocol-specific extra binding (e.g. ρ in aux-info) */
  readonly extra?: Uint8Array;
}

/** A fresh transcript for one proof instance: tag, binding and parameters first. */
export function proofTranscript(tag: string, b: ProofBinding, L: SecurityParams): Transcript {
  const t = new Transcript(tag);
  t.bytes('sid', b.sid).uint('prover', b.prover);
  if (b.verifier !== undefined) t.uint('verifier', b.verifier);
  if (b.extra !== undefined) t.bytes('extra', b.extra);
  t.uint('ell', L.ell).uint('ell-prime', L.ellPrime).uint('epsilon', L.epsilon).uint('m', L.m);
  return t;
}
