/** Keygen output: verify every Πsch ψ_j for X_j; Y = Σ_j S_{j,0} ≠ O; the key share. */
import { type Point, Point as P, pointToBytes } from '../../curve/secp256k1.js';
import { confirmStep, confirmation } from '../confirm.js';
import { challengeSch, verifySch } from '../../zk/sch.js';
import { Blame, type Inbox, type Step } from '../machine.js';
import { assertKeyShare, type KeyShare } from '../keyshare.js';
import { ROUND, SCHEDULE, decodeScalar } from './messages.js';
import { AllPartiesRound, decodeFrom, verifyFrom } from '../common.js';
import { parties } from './params.js';
import type { Round4State } from './round4.js';

export class Output extends AllPartiesRound<KeyShare, Round4State> {
  readonly expects = SCHEDULE.expects(ROUND.proof);

  protected receive(inbox: Inbox): Step<KeyShare> {
    const { sid, n, t, i } = this.s.params;
    const got = inbox.all(ROUND.proof);
    for (const [j, body] of got) {
      const z = decodeFrom(j, ROUND.proof, () => decodeScalar(body, 'z'));
      const Xj = this.s.X[j] as Point;
      const Aj = (this.s.decommits[j] as { A: Point }).A;
      verifyFrom(j, ROUND.proof, () => verifySch(Xj, Aj, challengeSch(sid, j, this.s.rid, Xj, Aj), z));
    }
    // refresh keeps the public key: nobody sent a constant term
    const old = this.s.params.refresh;
    const Y = old ? old.public.Y : this.s.decommits.reduce((acc, d) => acc.add(d.S[0] as Point), P.ZERO);
    if (Y.is0()) throw new Blame([], 'identity-point', 'keygen: public key is the identity');
    const share: KeyShare = { public: { n, t, i, Y, X: this.s.X }, secret: { x: this.s.x } };
    assertKeyShare(share);
    const proofs = parties(n).map((j) => (j === i ? this.s.ownProof : inbox.from(ROUND.proof, j)));
    const c = confirmation(sid, old ? 'refresh' : 'keygen', [
      ...proofs,
      pointToBytes(Y),
      ...this.s.X.map((P) => pointToBytes(P)),
    ]);
    return confirmStep(i, n, SCHEDULE, c, share);
  }
}
