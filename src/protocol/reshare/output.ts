/**
 * Resharing output: verify every receiver's Πsch ψ for its X'_k (it holds its new share), then
 * every party — dealers leaving the group included — confirms the same new public data. The old
 * shares may be erased only once every party confirmed (the node's pending/commit switch).
 */
import { type Point, pointToBytes } from '../../curve/secp256k1.js';
import { challengeSch, verifySch } from '../../zk/sch.js';
import { decodeFrom, verifyFrom } from '../common.js';
import { confirmStep, confirmation } from '../confirm.js';
import { assertKeyShare, assertSharedKey, type KeyShare, type PublicKeyShare } from '../keyshare.js';
import type { Expectation, Inbox, Step } from '../machine.js';
import { ROUND, SCHEDULE, decodeScalar } from './messages.js';
import { receivers } from './params.js';
import { ReshareRound } from './base.js';
import type { Round4State } from './round4.js';

/** What a resharing gives every party: the key in the new group, and a receiver's own new share. */
export interface ReshareOutput {
  /** n', t', Y (unchanged) and X'_0 … X'_{n'−1} */
  readonly key: Pick<PublicKeyShare, 'n' | 't' | 'Y' | 'X'>;
  /** this party's share in the new group (receivers only) */
  readonly share: KeyShare | undefined;
}

export class Output extends ReshareRound<Round4State> {
  get expects(): readonly Expectation[] {
    return [{ ...(SCHEDULE.expects(ROUND.proof)[0] as Expectation), from: receivers(this.s.params) }];
  }

  protected receive(inbox: Inbox): Step<ReshareOutput> {
    const { params, setup, X, rid, decommits } = this.s;
    const { sid, roles, me, n, t, old } = params;
    const proofs: Uint8Array[] = [];
    for (const r of receivers(params)) {
      const k = roles[r]?.new as number;
      if (r === me) {
        proofs.push(this.s.ownProof as Uint8Array);
        continue;
      }
      const body = inbox.from(ROUND.proof, r);
      const z = decodeFrom(r, ROUND.proof, () => decodeScalar(body, 'z'));
      const Xk = X[k] as Point;
      const A = decommits[r]?.A as Point;
      verifyFrom(r, ROUND.proof, () => verifySch(Xk, A, challengeSch(setup, k, rid, Xk, A), z));
      proofs.push(body);
    }
    const key = { n, t, Y: old.Y, X };
    assertSharedKey(key);
    const mine = roles[me]?.new;
    const share: KeyShare | undefined =
      mine === undefined ? undefined : { public: { ...key, i: mine }, secret: { x: this.s.x as bigint } };
    if (share) assertKeyShare(share);
    const c = confirmation(sid, 'reshare', [setup, ...proofs, pointToBytes(old.Y), ...X.map((P) => pointToBytes(P))]);
    return confirmStep(me, roles.length, SCHEDULE, c, { key, share });
  }
}
