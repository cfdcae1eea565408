/**
 * The codes of an abort: which check failed, as a closed list. A round throws
 * `Blame(culprits, code, reason)` (src/protocol/machine.ts), the node reports the code with its
 * abort, and the coordinator keeps it in its logs, audit records and quarantine; the human reason
 * text still names the round and the detail (a proof's reason, an envelope's error code).
 *
 * The list lives here, in the leaf layer, because both sides of the wire need it: the protocol
 * rounds that raise the codes and the application protocol (src/rpc) whose schema accepts no
 * other, and `rpc` may import nothing of `protocol` (docs/architecture.md, layers). It is the
 * abort's counterpart of PROOF_REASONS (src/zk/errors.ts) and RPC_ERROR_CODES (src/rpc/errors.ts).
 * @module
 */
export const BLAME_CODES = [
  // a round's inbox (src/protocol/machine.ts, collect) and the partial signatures (sign)
  /** a message for a round the current round does not wait for */
  'unexpected-message',
  /** a message or partial signature from a party outside the run or from ourselves, or under another's index */
  'unknown-sender',
  /** a broadcast sent point to point, or a point-to-point message addressed to another party */
  'wrong-recipient',
  /** more than one message from a party for one round */
  'duplicate-message',
  /** a party's message, partial signature or confirmation envelope is missing */
  'missing-message',
  /** a body or partial signature that does not decode or is out of range */
  'malformed',
  // what the messages say
  /** a zero-knowledge proof does not verify (the proof's reason is in the text) */
  'proof-invalid',
  /** a decommitment does not open the hash commitment its sender made earlier */
  'commitment-mismatch',
  /** the echo of a broadcast round differs from ours: someone saw different broadcasts */
  'broadcast-mismatch',
  /** a final confirmation differs from ours: the parties did not end in the same state */
  'confirmation-mismatch',
  /** a secret share fails its Feldman VSS check against the dealer's committed polynomial */
  'share-invalid',
  /** a resharing dealer's constant term is not its weighted old share λ_d·X_d: it would change the key */
  'dealt-key-mismatch',
  /** a public share, the public key or a combined point is the identity */
  'identity-point',
  /** a Paillier or ring-Pedersen modulus of the wrong size or parity */
  'modulus-invalid',
  /** a modulus presented twice (a party's two moduli, a copy of ours, two parties' the same) */
  'modulus-repeated',
  /** presignature pieces that do not add up (δ·G ≠ ΣΔ_j, δ·Y ≠ ΣS_j), or good partials that sign nothing */
  'inconsistent-presignature',
  /** δ = 0 or a nonce point R no ECDSA signature can use */
  'degenerate-nonce',
  /** a partial signature that fails σ_j·R = m·Δ̃_j + r·S̃_j */
  'partial-signature-invalid',
  // the node's session around the rounds (src/node/session.ts)
  /** an envelope that does not open: signature, session, sender, recipient, decryption (its code in the text) */
  'envelope-rejected',
  /** the coordinator cancelled the session */
  'cancelled',
  /** the node could not store the pending state or the output */
  'storage-failed',
  /** a round failed with an error that is not blame (a bug); nobody is named */
  'internal-error',
] as const;
export type BlameCode = (typeof BLAME_CODES)[number];
