/**
 * V_i = H(mode, sid, n, t, i, rid_i, S_i, A_i, u_i): the round-1 hash commitment, recomputed by
 * receivers with the sender's index; the mode (keygen or refresh) is bound so one never opens as the other.
 */
import { Transcript } from '../../zk/transcript.js';
import { pointToBytes } from '../../curve/secp256k1.js';
import type { Decommit } from './messages.js';

export const COMMIT_TAG = 'mpc-engine/v1/keygen/commit';

export function commitmentHash(
  sid: Uint8Array,
  n: number,
  t: number,
  i: number,
  d: Decommit,
  refresh = false,
): Uint8Array {
  return new Transcript(COMMIT_TAG)
    .text('mode', refresh ? 'refresh' : 'keygen')
    .bytes('sid', sid)
    .uint('n', n)
    .uint('t', t)
    .uint('i', i)
    .bytes('rid', d.rid)
    .byteList(
      'S',
      d.S.map((P) => pointToBytes(P)),
    )
    .bytes('A', pointToBytes(d.A))
    .bytes('u', d.u)
    .digest('V');
}
