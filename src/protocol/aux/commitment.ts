/** V_i = H(sid, n, i, N_i, N̂_i, s_i, t_i, ψ̂_i, ρ_i, u_i), recomputed by receivers with the sender's index. */
import { Transcript } from '../../zk/transcript.js';
import type { AuxDecommit } from './messages.js';

export const COMMIT_TAG = 'mpc-engine/v1/aux/commit';

export function auxCommitment(sid: Uint8Array, n: number, i: number, d: AuxDecommit): Uint8Array {
  return new Transcript(COMMIT_TAG)
    .bytes('sid', sid)
    .uint('n', n)
    .uint('i', i)
    .int('N', d.N)
    .int('Nhat', d.Nhat)
    .int('s', d.s)
    .int('t', d.t)
    .ints('prm-A', d.prm.A)
    .ints('prm-z', d.prm.z)
    .bytes('rho', d.rho)
    .bytes('u', d.u)
    .digest('V');
}
