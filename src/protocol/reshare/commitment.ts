/**
 * V_p = H(setup, p, rid_p, S_p, A_p, u_p): the round-1 hash commitment of position p, recomputed by
 * every receiver with the sender's position. The setup digest binds the sid, every role and the old
 * key, so a commitment never opens in another run or for another role.
 */
import { Transcript } from '../../zk/transcript.js';
import { pointToBytes } from '../../curve/secp256k1.js';
import type { Decommit } from './messages.js';

export const COMMIT_TAG = 'mpc-engine/v1/reshare/commit';

export function commitmentHash(setup: Uint8Array, p: number, d: Decommit): Uint8Array {
  return new Transcript(COMMIT_TAG)
    .bytes('setup', setup)
    .uint('p', p)
    .bytes('rid', d.rid)
    .byteList(
      'S',
      d.S.map((P) => pointToBytes(P)),
    )
    .bytes('A', d.A ? pointToBytes(d.A) : new Uint8Array(0))
    .bytes('u', d.u)
    .digest('V');
}
