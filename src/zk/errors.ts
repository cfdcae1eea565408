/**
 * A proof that does not verify. `reason` is a short stable code naming the failed check
 * (e.g. "mod/fourth-root", "fac/range-z1"); tests assert it, and the protocol layer turns it
 * into an abort that blames the prover.
 * @module
 */
export class InvalidProof extends Error {
  override readonly name = 'InvalidProof';

  constructor(
    /** proof name, e.g. "Πmod" */
    readonly proof: string,
    /** the failed check */
    readonly reason: string,
  ) {
    super(`${proof} rejected: ${reason}`);
  }
}

/** Throw InvalidProof(proof, reason) unless cond holds. */
export function check(cond: boolean, proof: string, reason: string): asserts cond {
  if (!cond) throw new InvalidProof(proof, reason);
}
