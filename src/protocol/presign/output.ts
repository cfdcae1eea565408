/**
 * Presigning output: verify each j's Πelog (Δ_j opens A_j with base Γ); then
 *   δ = Σ_j δ_j ≠ 0,  δ·G = Σ_j Δ_j,  δ·Y = Σ_j S_j
 * (each failure aborts; who caused it is not identifiable without the paper's extra proofs), and
 * normalise by δ⁻¹: R = δ⁻¹·Γ = k⁻¹·G, Δ̃_j = δ⁻¹·Δ_j = k_j·R, S̃_j = δ⁻¹·S_j = χ_j·R.
 * The presignature is (R, k_i, χ_i) with the public (Δ̃_j, S̃_j) that make partial signatures checkable.
 * @module
 */
import { type Point, G, Point as P, modq, mulPublic, q } from '../../curve/secp256k1.js';
import { modInv } from '../../wasm/index.js';
import { verifyElog } from '../../zk/elog.js';
import { decodeFrom, verifyFrom } from '../common.js';
import { Blame, type Inbox, type Step } from '../machine.js';
import { ROUND, SCHEDULE, decodeR3, type R1Broadcast, type R3Broadcast } from './messages.js';
import { INSTANCE } from './instances.js';
import type { Round3State } from './round3.js';
import { Presignature } from './presignature.js';
import { SignerRound } from './signer-round.js';

export class Output extends SignerRound<Round3State> {
  readonly expects = SCHEDULE.expects(ROUND.r3);

  protected receive(inbox: Inbox): Step<Presignature> {
    const { i, S, ssid } = this.s.view;
    const { L, key } = this.s.params;
    const Gamma = this.s.GammaSum;
    const r3s = new Map<number, R3Broadcast>([[i, this.s.r3]]);
    for (const j of S) {
      if (j === i) continue;
      const m = decodeFrom(j, ROUND.r3, () => decodeR3(inbox.from(ROUND.r3, j)));
      const r1j = this.s.r1s.get(j) as R1Broadcast;
      verifyFrom(j, ROUND.r3, () =>
        verifyElog(
          { sid: ssid, prover: j, extra: INSTANCE.Delta },
          L,
          { L: r1j.A1, M: r1j.A2, X: r1j.Y, Y: m.Delta, H: Gamma },
          m.psiDelta,
        ),
      );
      r3s.set(j, m);
    }
    const all = S.map((j) => r3s.get(j) as R3Broadcast);
    const delta = modq(all.reduce((acc, m) => acc + m.delta, 0n));
    if (delta === 0n) throw new Blame([], 'degenerate-nonce', `${ROUND.r3}: δ = 0`);
    const sum = (pick: (m: R3Broadcast) => Point) => all.reduce((acc, m) => acc.add(pick(m)), P.ZERO);
    if (!mulPublic(G, delta).equals(sum((m) => m.Delta)))
      throw new Blame([], 'inconsistent-presignature', `${ROUND.r3}: δ·G ≠ Σ Δ_j (inconsistent δ_j)`);
    if (!mulPublic(key.public.Y, delta).equals(sum((m) => m.S)))
      throw new Blame([], 'inconsistent-presignature', `${ROUND.r3}: δ·Y ≠ Σ S_j (inconsistent χ_j)`);
    const inv = modInv(delta, q);
    const R = mulPublic(Gamma, inv);
    const Rx = R.toAffine().x;
    // R.x ≥ q would need a recovery id of 2 or 3 (probability about 2^−128): refuse such a presignature
    if (R.is0() || Rx >= q || Rx === 0n) throw new Blame([], 'degenerate-nonce', `${ROUND.r3}: unusable nonce point R`);
    const presignature = Presignature.create(
      {
        id: ssid,
        signers: S,
        Y: key.public.Y,
        R,
        Delta: all.map((m) => mulPublic(m.Delta, inv)),
        S: all.map((m) => mulPublic(m.S, inv)),
      },
      i,
      { k: this.s.k, chi: this.s.chi },
    );
    return { kind: 'done', output: presignature, outbox: [] };
  }
}
