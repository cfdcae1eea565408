/** Aux-info output: verify each party's Πmod (docs/security.md A1, A5) and its Πfac against our own (N̂_i, s_i, t_i). */
import { verifyMod } from '../../zk/mod.js';
import { verifyFac } from '../../zk/fac.js';
import type { Inbox, Step } from '../machine.js';
import { assertAuxInfo, type AuxInfo } from '../aux-info.js';
import { ROUND, SCHEDULE, decodeProofs, type AuxDecommit } from './messages.js';
import { AllPartiesRound, decodeFrom, verifyFrom } from '../common.js';
import { confirmStep, confirmation } from '../confirm.js';
import { Writer } from '../codec.js';
import type { Round4State } from './round4.js';

export class Output extends AllPartiesRound<AuxInfo, Round4State> {
  readonly expects = SCHEDULE.expects(ROUND.proofs);

  protected receive(inbox: Inbox): Step<AuxInfo> {
    const { sid, n, i, L } = this.s.params;
    const own = this.s.decommit;
    for (const [j, body] of inbox.all(ROUND.proofs)) {
      const proofs = decodeFrom(j, ROUND.proofs, () => decodeProofs(body, L));
      const dj = this.s.decommits[j] as AuxDecommit;
      verifyFrom(j, ROUND.proofs, () => {
        verifyMod({ sid, prover: j, extra: this.s.rho }, L, { N: dj.N }, proofs.mod);
        // the statement is rebuilt from our own state: N_j from the checked opening, our own R_i
        verifyFac(
          { sid, prover: j, verifier: i, extra: this.s.rho },
          L,
          { N0: dj.N, aux: { N: own.Nhat, s: own.s, t: own.t } },
          proofs.fac,
        );
      });
    }
    const aux: AuxInfo = {
      i,
      parties: this.s.decommits.map((d) => ({ N: d.N, rp: { N: d.Nhat, s: d.s, t: d.t } })),
      secret: { ...this.s.params.paillier },
    };
    assertAuxInfo(aux);
    const c = confirmation(
      sid,
      'aux-info',
      this.s.decommits.map((d) => new Writer().int(d.N).int(d.Nhat).int(d.s).int(d.t).finish()),
    );
    return confirmStep(i, n, SCHEDULE, c, aux);
  }
}
