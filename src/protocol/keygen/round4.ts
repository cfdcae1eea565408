/**
 * Keygen round 4: check every opening against its V_j (S_j has exactly t points) and every share
 * σ_{j,i}·G = F_j(i + 1) (Feldman); then X_k = Σ_j F_j(k + 1), x_i = Σ_j σ_{j,i}, rid = ⊕ rid_j,
 * and broadcast the Schnorr proof ψ_i for X_i.
 */
import { type Point, Point as P, modq, mulG } from '../../curve/secp256k1.js';
import { evalCommitment, sumCommitments } from '../feldman.js';
import { challengeSch, proveSch } from '../../zk/sch.js';
import { equalBytes } from '@noble/curves/utils.js';
import { AllPartiesRound, decodeFrom, xor32 } from '../common.js';
import { Blame, type Inbox, type Msg, type Step } from '../machine.js';
import type { KeyShare } from '../keyshare.js';
import { commitmentHash } from './commitment.js';
import { ROUND, SCHEDULE, decodeDecommit, decodeScalar, encodeScalar, type Decommit } from './messages.js';
import { commitmentCount, parties } from './params.js';
import type { Round2State } from './round2.js';
import { Output } from './output.js';

/** The full coefficient commitments (S_{j,0}, …, S_{j,t−1}); in refresh mode S_{j,0} = O is implied. */
export function coefficients(d: Decommit, refresh: boolean): readonly Point[] {
  return refresh ? [P.ZERO, ...d.S] : d.S;
}

export interface Round4State extends Round2State {
  readonly decommits: readonly Decommit[];
  /** rid = ⊕_j rid_j */
  readonly rid: Uint8Array;
  /** X_k = F(k + 1) for every k */
  readonly X: readonly Point[];
  /** x_i = Σ_j σ_{j,i} */
  readonly x: bigint;
  /** own encoded ψ_i, for the confirmation */
  readonly ownProof: Uint8Array;
}

export class Round4 extends AllPartiesRound<KeyShare, Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.decommit, ROUND.share);

  protected receive(inbox: Inbox): Step<KeyShare> {
    const { sid, n, t, i } = this.s.params;
    const old = this.s.params.refresh;
    const decommits: Decommit[] = [];
    let x = this.s.sigma[i] as bigint;
    for (const j of parties(n)) {
      if (j === i) {
        decommits.push(this.s.decommit);
        continue;
      }
      const d = decodeFrom(j, ROUND.decommit, () =>
        decodeDecommit(inbox.from(ROUND.decommit, j), commitmentCount(this.s.params)),
      );
      if (!equalBytes(commitmentHash(sid, n, t, j, d, old !== undefined), this.s.commitments[j] as Uint8Array)) {
        throw new Blame([j], 'commitment-mismatch', `${ROUND.decommit}: opening does not match commitment V_j`);
      }
      const sigma = decodeFrom(j, ROUND.share, () => decodeScalar(inbox.from(ROUND.share, j), 'σ'));
      if (!mulG(sigma).equals(evalCommitment(coefficients(d, old !== undefined), BigInt(i + 1)))) {
        throw new Blame([j], 'share-invalid', `${ROUND.share}: σ_{j,i}·G ≠ F_j(i + 1) (VSS check)`);
      }
      decommits.push(d);
      x = modq(x + sigma);
    }
    const rid = xor32(decommits.map((d) => d.rid));
    // F = Σ_j F_j: add the commitments coefficient-wise once, then evaluate per party
    const F = sumCommitments(
      decommits.map((d) => coefficients(d, old !== undefined)),
      t,
    );
    // refresh: X_k' = X_k + F(k + 1) and x_i' = x_i + Σ_j σ_{j,i}
    const X = parties(n).map((k) => evalCommitment(F, BigInt(k + 1)).add(old ? (old.public.X[k] as Point) : P.ZERO));
    if (old) x = modq(x + old.secret.x);
    const zeroAt = X.findIndex((Xk) => Xk.is0());
    if (zeroAt >= 0)
      throw new Blame([], 'identity-point', `${ROUND.decommit}: public share X_${zeroAt} is the identity`);
    if (x === 0n || !mulG(x).equals(X[i] as Point)) throw new Error('bug: own share does not match X_i');
    const e = challengeSch(sid, i, rid, X[i] as Point, this.s.decommit.A);
    const z = proveSch(e, this.s.nonce, x);
    const ownProof = encodeScalar(z);
    const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.proof, body: ownProof }];
    return { kind: 'next', round: new Output({ ...this.s, decommits, rid, X, x, ownProof }), outbox };
  }
}
