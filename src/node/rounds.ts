/**
 * Every round of each protocol with its kind (broadcast or point to point), as the envelope layer
 * needs it to accept early messages: a node may receive round r + 1 from a fast peer before it
 * has finished round r, and buffers it.
 * @module
 */
import type { Expectation } from '../protocol/machine.js';
import { KEYGEN_ROUND } from '../protocol/keygen/index.js';
import { AUX_ROUND } from '../protocol/aux/index.js';
import { PRESIGN_ROUND } from '../protocol/presign/index.js';
import type { ProtocolName } from '../rpc/messages.js';

const b = (round: string): Expectation => ({ round, broadcast: true });
const p = (round: string): Expectation => ({ round, broadcast: false });

const KEYGEN: readonly Expectation[] = [
  b(KEYGEN_ROUND.commit),
  b(KEYGEN_ROUND.echo),
  b(KEYGEN_ROUND.decommit),
  p(KEYGEN_ROUND.share),
  b(KEYGEN_ROUND.proof),
  b(KEYGEN_ROUND.confirm),
];

export const PROTOCOL_ROUNDS: Readonly<Record<ProtocolName, readonly Expectation[]>> = {
  keygen: KEYGEN,
  refresh: KEYGEN,
  aux: [b(AUX_ROUND.commit), b(AUX_ROUND.echo), b(AUX_ROUND.decommit), p(AUX_ROUND.proofs), b(AUX_ROUND.confirm)],
  presign: [b(PRESIGN_ROUND.r1), p(PRESIGN_ROUND.r1Proofs), p(PRESIGN_ROUND.r2), b(PRESIGN_ROUND.r3)],
};
