/**
 * A proof that does not verify. `reason` is a short stable code naming the failed check
 * (e.g. "mod/fourth-root", "fac/range-z1"); tests assert it, and the protocol layer turns it
 * into an abort that blames the prover.
 * @module
 */
/**
 * Every check a proof verifier can fail, as `<proof>/<check>`: a closed list, so a reason is a
 * contract (tests and blame reports match on it) and a typo does not compile.
 */
export const PROOF_REASONS = [
  // aff-g
  'aff-g/commitment-range',
  'aff-g/group',
  'aff-g/paillier-i',
  'aff-g/paillier-j',
  'aff-g/pedersen-1',
  'aff-g/pedersen-2',
  'aff-g/range-z1',
  'aff-g/range-z2',
  'aff-g/size',
  'aff-g/statement',
  // elog
  'elog/equation-1',
  'elog/equation-2',
  'elog/equation-3',
  'elog/scalar-range',
  // enc-elg
  'enc-elg/commitment-range',
  'enc-elg/elgamal-1',
  'enc-elg/elgamal-2',
  'enc-elg/paillier',
  'enc-elg/pedersen',
  'enc-elg/range-z1',
  'enc-elg/size',
  'enc-elg/statement',
  // fac
  'fac/aux-range',
  'fac/aux-size',
  'fac/commitment-range',
  'fac/equation-1',
  'fac/equation-2',
  'fac/equation-3',
  'fac/modulus-size',
  'fac/range-z1',
  'fac/range-z2',
  'fac/size',
  // mod
  'mod/bits',
  'mod/even',
  'mod/fourth-root',
  'mod/length',
  'mod/modulus-size',
  'mod/prime',
  'mod/w-jacobi',
  'mod/w-not-unit',
  'mod/x-range',
  'mod/z-power',
  'mod/z-range',
  // prm
  'prm/A-range',
  'prm/equation',
  'prm/length',
  'prm/modulus-even',
  'prm/modulus-size',
  'prm/s-equals-t',
  'prm/s-range',
  'prm/t-range',
  'prm/z-range',
  // sch
  'sch/equation',
  'sch/z-range',
] as const;
export type ProofReason = (typeof PROOF_REASONS)[number];

/** A proof that does not verify, with the check it failed. */
export class InvalidProof extends Error {
  override readonly name = 'InvalidProof';

  constructor(
    /** proof name, e.g. "Πmod" */
    readonly proof: string,
    /** the failed check */
    readonly reason: ProofReason,
  ) {
    super(`${proof} rejected: ${reason}`);
  }
}

/** Throw InvalidProof(proof, reason) unless cond holds. */
export function check(cond: boolean, proof: string, reason: ProofReason): asserts cond {
  if (!cond) throw new InvalidProof(proof, reason);
}
