/**
 * Aux-info round 1: prove the own ring-Pedersen parameters (Πprm, bound to sid and i), draw ρ_i
 * and u_i, and broadcast only the hash V_i.
 */
import { randomBytes } from 'node:crypto';
import { provePrm } from '../../zk/prm.js';
import type { Msg, Step } from '../machine.js';
import type { AuxInfo } from '../aux-info.js';
import { auxCommitment } from './commitment.js';
import { ROUND, encodeHash, type AuxDecommit } from './messages.js';
import { assertAuxParams, type AuxParams } from './params.js';
import { Round2 } from './round2.js';

export interface Round1State {
  readonly params: AuxParams;
  readonly decommit: AuxDecommit;
  readonly V: Uint8Array;
}

export function startAuxInfo(params: AuxParams): Step<AuxInfo> {
  assertAuxParams(params);
  const { sid, n, i, L } = params;
  const rp = params.ringPedersen.params;
  const prm = provePrm({ sid, prover: i }, L, rp, params.ringPedersen.secret);
  const decommit: AuxDecommit = {
    N: params.paillier.p * params.paillier.q,
    Nhat: rp.N,
    s: rp.s,
    t: rp.t,
    prm,
    rho: Uint8Array.from(randomBytes(32)),
    u: Uint8Array.from(randomBytes(32)),
  };
  const V = auxCommitment(sid, n, i, decommit);
  const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.commit, body: encodeHash(V) }];
  return { kind: 'next', round: new Round2({ params, decommit, V }), outbox };
}
