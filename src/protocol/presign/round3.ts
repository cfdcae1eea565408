/**
 * Presigning round 3: every signer must have seen the same round 1 (echo); verify each j's Πelog
 * (Γ_j opens B_j) and both Πaff-g with statements rebuilt from OUR K_i, our copy of N_j, Γ_j and
 * X'_j from the key share (docs/security.md A3); then
 *   Γ = Σ_j Γ_j,  Δ_i = k_i·Γ,
 *   δ_i = k_i·γ_i + Σ_j (α_{i,j} − β_{i,j}),   α_{i,j} = Dec_i(D_{i,j}) (centred)
 *   χ_i = k_i·x'_i + Σ_j (α̂_{i,j} − β̂_{i,j}),  S_i = χ_i·Γ
 * and broadcast (δ_i, Δ_i, S_i) with Πelog for Δ_i against A_i (base Γ).
 * @module
 */
import { type Point, G, modq, mul } from '../../curve/secp256k1.js';
import { verifyAffG } from '../../zk/aff-g.js';
import { proveElog, verifyElog } from '../../zk/elog.js';
import { equalBytes } from '@noble/curves/utils.js';
import { decodeFrom, verifyFrom } from '../common.js';
import { Blame, type Inbox, type Msg, type Step } from '../machine.js';
import { ROUND, SCHEDULE, decodeR2, encodeR3, type R1Broadcast, type R2Message, type R3Broadcast } from './messages.js';
import { INSTANCE } from './instances.js';
import { partyAux } from './params.js';
import type { Round2State } from './round2.js';
import type { Presignature } from './presignature.js';
import { SignerRound } from './signer-round.js';
import { Output } from './output.js';

export interface Round3State extends Round2State {
  /** Γ = Σ_j Γ_j */
  readonly GammaSum: Point;
  /** χ_i (secret) */
  readonly chi: bigint;
  /** own round-3 broadcast */
  readonly r3: R3Broadcast;
}

export class Round3 extends SignerRound<Round2State> {
  readonly expects = SCHEDULE.expects(ROUND.r2);

  protected receive(inbox: Inbox): Step<Presignature> {
    const { i, S, ssid, xPrime, XPrime } = this.s.view;
    const { L, aux } = this.s.params;
    const { sk, k, gamma } = this.s;
    const msgs = new Map<number, R2Message>();
    for (const j of S) {
      if (j === i) continue;
      const m = decodeFrom(j, ROUND.r2, () => decodeR2(inbox.from(ROUND.r2, j), L));
      msgs.set(j, m);
    }
    // nobody can be named when views differ: the sender or the relay may have equivocated
    const differ = [...msgs].filter(([, m]) => !equalBytes(m.echo, this.s.echo)).map(([j]) => j);
    if (differ.length)
      throw new Blame(
        [],
        'broadcast-mismatch',
        `${ROUND.r2}: round-1 broadcasts differ (echo of party ${differ.join(', ')} ≠ ours)`,
      );
    const ownAux = partyAux(aux, i);
    const own = this.s.r1;
    let GammaSum = this.s.Gamma;
    let delta = modq(k * gamma);
    let chi = modq(k * xPrime);
    for (const [j, m] of msgs) {
      const r1j = this.s.r1s.get(j) as R1Broadcast;
      const Nj = partyAux(aux, j).N;
      verifyFrom(j, ROUND.r2, () =>
        verifyElog(
          { sid: ssid, prover: j, extra: INSTANCE.Gamma },
          L,
          { L: r1j.B1, M: r1j.B2, X: r1j.Y, Y: m.Gamma, H: G },
          m.psiGamma,
        ),
      );
      verifyFrom(j, ROUND.r2, () =>
        verifyAffG(
          { sid: ssid, prover: j, verifier: i, extra: INSTANCE.gamma },
          L,
          { Nj: ownAux.N, Ni: Nj, C: own.K, D: m.D, Y: m.F, X: m.Gamma, aux: ownAux.rp },
          m.psi,
          sk,
        ),
      );
      verifyFrom(j, ROUND.r2, () =>
        verifyAffG(
          { sid: ssid, prover: j, verifier: i, extra: INSTANCE.x },
          L,
          { Nj: ownAux.N, Ni: Nj, C: own.K, D: m.Dhat, Y: m.Fhat, X: XPrime.get(j) as Point, aux: ownAux.rp },
          m.psiHat,
          sk,
        ),
      );
      GammaSum = GammaSum.add(m.Gamma);
      // α = k_i·γ_j + β_{j,i} exactly (|α| ≪ N/2), so the centred decryption is the integer
      delta = modq(delta + sk.decryptSigned(m.D) - (this.s.beta.get(j) as bigint));
      chi = modq(chi + sk.decryptSigned(m.Dhat) - (this.s.betaHat.get(j) as bigint));
    }
    if (GammaSum.is0()) throw new Blame([], 'identity-point', `${ROUND.r2}: Γ is the identity`);
    const Delta = mul(GammaSum, k);
    const Si = mul(GammaSum, chi);
    if (Si.is0()) throw new Error('bug: χ_i = 0 (probability 2^−256)');
    const psiDelta = proveElog(
      { sid: ssid, prover: i, extra: INSTANCE.Delta },
      L,
      { L: own.A1, M: own.A2, X: own.Y, Y: Delta, H: GammaSum },
      { y: k, lambda: this.s.a },
    );
    const r3: R3Broadcast = { delta, Delta, S: Si, psiDelta };
    const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.r3, body: encodeR3(r3) }];
    return { kind: 'next', round: new Output({ ...this.s, GammaSum, chi, r3 }), outbox };
  }
}
