/** Keygen output: verify every Πsch ψ_j for X_j; Y = Σ_j S_{j,0} ≠ O; the key share. */
import { type Point, Point as P, pointToBytes } from '../../curve/secp256k1.js';
import { confirmStep, confirmation } from '../confirm.js';
import { challengeSch, verifySch } from '../../zk/sch.js';
import { BaseRound, collect, guarded, Blame, type Msg, type Step } from '../machine.js';
import { assertKeyShare, type KeyShare } from '../keyshare.js';
import { ROUND, decodeScalar } from './messages.js';
import { decodeFrom, verifyFrom } from '../common.js';
import { parties } from './params.js';
import type { Round4State } from './round4.js';

export class Output extends BaseRound<KeyShare> {
  readonly expects = [{ round: ROUND.proof, broadcast: true }];

  constructor(private readonly s: Round4State) {
    super();
  }

  get me(): number {
    return this.s.params.i;
  }

  protected run(inbox: readonly Msg[]): Step<KeyShare> {
    return guarded(() => {
      const { sid, n, t, i } = this.s.params;
      const got = collect(i, parties(n), this.expects, inbox).get(ROUND.proof) as Map<number, Uint8Array>;
      for (const [j, body] of got) {
        const z = decodeFrom(j, ROUND.proof, () => decodeScalar(body, 'z'));
        const Xj = this.s.X[j] as Point;
        const Aj = (this.s.decommits[j] as { A: Point }).A;
        verifyFrom(j, ROUND.proof, () => verifySch(Xj, Aj, challengeSch(sid, j, this.s.rid, Xj, Aj), z));
      }
      // refresh keeps the public key: nobody sent a constant term
      const old = this.s.params.refresh;
      const Y = old ? old.public.Y : this.s.decommits.reduce((acc, d) => acc.add(d.S[0] as Point), P.ZERO);
      if (Y.is0()) throw new Blame([], 'keygen: public key is the identity');
      const share: KeyShare = { public: { n, t, i, Y, X: this.s.X }, secret: { x: this.s.x } };
      assertKeyShare(share);
      const proofs = parties(n).map((j) => (j === i ? this.s.ownProof : (got.get(j) as Uint8Array)));
      const c = confirmation(sid, old ? 'refresh' : 'keygen', [...proofs, pointToBytes(Y), ...this.s.X.map((P) => pointToBytes(P))]);
      return confirmStep(i, n, ROUND.confirm, c, share);
    });
  }
}
