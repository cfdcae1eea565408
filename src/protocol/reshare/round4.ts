/**
 * Resharing round 4, run by every party (the new public shares are everyone's to confirm):
 *  - each opening matches its V_p, with S_p of t' points exactly for a dealer and A_p exactly for a
 *    receiver;
 *  - each dealer's constant term is S_{d,0} = λ_d·X_d, its old public share weighted as in round 1:
 *    a dealer cannot deal anything but its part of the same key (Σ_d S_{d,0} = Y, since the old X
 *    lie on one polynomial through Y);
 *  - a receiver checks each σ_{d,k}·G = F_d(k + 1) (Feldman) and takes x'_k = Σ_d σ_{d,k};
 *  - X'_j = F(j + 1) with F = Σ_d F_d for every new index j, none the identity.
 * A receiver then broadcasts its Schnorr proof ψ for X'_k, with the commitment A_p it made in round 1.
 */
import { type Point, modq, mulG, mulPublic } from '../../curve/secp256k1.js';
import { equalBytes } from '@noble/curves/utils.js';
import { challengeSch, proveSch } from '../../zk/sch.js';
import { decodeFrom, xor32 } from '../common.js';
import { evalCommitment, sumCommitments } from '../feldman.js';
import { Blame, type Expectation, type Inbox, type Msg, type Step } from '../machine.js';
import { commitmentHash } from './commitment.js';
import { ROUND, SCHEDULE, decodeDecommit, decodeScalar, encodeScalar, type Decommit } from './messages.js';
import { dealerLagrange, dealers } from './params.js';
import { Output } from './output.js';
import type { ReshareOutput } from './output.js';
import { ReshareRound } from './base.js';
import type { Round2State } from './round2.js';

export interface Round4State extends Round2State {
  /** every position's opening, in order */
  readonly decommits: readonly Decommit[];
  /** rid = ⊕_p rid_p */
  readonly rid: Uint8Array;
  /** X'_j = F(j + 1) for every new index j */
  readonly X: readonly Point[];
  /** a receiver's x'_k = Σ_d σ_{d,k} */
  readonly x: bigint | undefined;
  /** a receiver's encoded ψ, for the confirmation */
  readonly ownProof: Uint8Array | undefined;
}

export class Round4 extends ReshareRound<Round2State> {
  get expects(): readonly Expectation[] {
    const { roles, me } = this.s.params;
    const [decommit, share] = SCHEDULE.expects(ROUND.decommit, ROUND.share) as [Expectation, Expectation];
    // shares come from the dealers, and only to receivers
    return roles[me]?.new === undefined ? [decommit] : [decommit, { ...share, from: dealers(this.s.params) }];
  }

  protected receive(inbox: Inbox): Step<ReshareOutput> {
    const { params, setup, sigma } = this.s;
    const { roles, me, old, t, n } = params;
    const mine = roles[me]?.new;
    const decommits: Decommit[] = [];
    // a receiver's x'_k starts from its own σ if it deals too
    let x: bigint | undefined;
    if (mine !== undefined) x = sigma.length > 0 ? sigma[mine] : 0n;
    for (const [p, role] of roles.entries()) {
      if (p === me) {
        decommits.push(this.s.decommit);
        continue;
      }
      const dealer = role.old !== undefined;
      const d = decodeFrom(p, ROUND.decommit, () =>
        decodeDecommit(inbox.from(ROUND.decommit, p), { dealer, receiver: role.new !== undefined, t }),
      );
      if (!equalBytes(commitmentHash(setup, p, d), this.s.commitments[p] as Uint8Array))
        throw new Blame([p], 'commitment-mismatch', `${ROUND.decommit}: opening does not match commitment V_p`);
      if (dealer) {
        const expected = mulPublic(old.X[role.old] as Point, dealerLagrange(params, p));
        if (!(d.S[0] as Point).equals(expected))
          throw new Blame(
            [p],
            'dealt-key-mismatch',
            `${ROUND.decommit}: constant term S_{d,0} ≠ λ_d·X_d (a dealer may deal only its part of the key)`,
          );
        if (mine !== undefined) {
          const s = decodeFrom(p, ROUND.share, () => decodeScalar(inbox.from(ROUND.share, p), 'σ'));
          if (!mulG(s).equals(evalCommitment(d.S, BigInt(mine + 1))))
            throw new Blame([p], 'share-invalid', `${ROUND.share}: σ_{d,k}·G ≠ F_d(k + 1) (VSS check)`);
          x = modq((x as bigint) + s);
        }
      }
      decommits.push(d);
    }
    const F = sumCommitments(
      dealers(params).map((d) => (decommits[d] as Decommit).S),
      t,
    );
    // implied by the constant-term checks and the old key's consistency (checked at the start)
    if (!(F[0] as Point).equals(old.Y)) throw new Error('bug: the dealt constant terms do not add up to Y');
    const X = Array.from({ length: n }, (_, j) => evalCommitment(F, BigInt(j + 1)));
    const zeroAt = X.findIndex((Xj) => Xj.is0());
    if (zeroAt >= 0)
      throw new Blame([], 'identity-point', `${ROUND.decommit}: new public share X'_${zeroAt} is the identity`);
    const rid = xor32(decommits.map((d) => d.rid));
    const outbox: Msg[] = [];
    let ownProof: Uint8Array | undefined;
    if (mine !== undefined) {
      const Xk = X[mine] as Point;
      if (x === 0n || !mulG(x as bigint).equals(Xk)) throw new Error("bug: own new share does not match X'_k");
      const e = challengeSch(setup, mine, rid, Xk, this.s.decommit.A as Point);
      ownProof = encodeScalar(proveSch(e, this.s.nonce as NonNullable<Round2State['nonce']>, x as bigint));
      outbox.push({ from: me, to: 'all', round: ROUND.proof, body: ownProof });
    }
    return { kind: 'next', round: new Output({ ...this.s, decommits, rid, X, x, ownProof }), outbox };
  }
}
