/**
 * Presigning round 2: verify each signer's Πenc-elg for K_j and G_j with OUR ring-Pedersen
 * parameters and a statement rebuilt from the echo-checked broadcast (docs/security.md A2, A3); then, for each j,
 * the two multiplicative-to-additive steps with β, β̂ ∈ ±2^ℓ′:
 *   D_{j,i} = γ_i⊙K_j ⊕ Enc_j(β_{i,j}),   F_{j,i} = Enc_i(β_{i,j})     (Πaff-g with X = Γ_i)
 *   D̂_{j,i} = x'_i⊙K_j ⊕ Enc_j(β̂_{i,j}), F̂_{j,i} = Enc_i(β̂_{i,j})     (Πaff-g with X = X'_i)
 * and send them with Γ_i = γ_i·G, its Πelog against B_i and the echo of round 1.
 * @module
 */
import { type Point, G, mulG } from '../../curve/secp256k1.js';
import { PaillierPublicKey } from '../../paillier/public-key.js';
import { takeNonce } from '../../paillier/nonce-pool.js';
import { verifyEncElg } from '../../zk/enc-elg.js';
import { proveAffG } from '../../zk/aff-g.js';
import { proveElog } from '../../zk/elog.js';
import { randomSigned } from '../../util/random.js';
import { echoHash } from '../echo.js';
import { decodeFrom, verifyFrom } from '../common.js';
import type { Inbox, Msg, Step } from '../machine.js';
import { ROUND, SCHEDULE, decodeR1, decodeR1Proofs, encodeR2, type R1Broadcast } from './messages.js';
import { INSTANCE } from './instances.js';
import { partyAux } from './params.js';
import type { Round1State } from './round1.js';
import type { Presignature } from './presignature.js';
import { SignerRound } from './signer-round.js';
import { Round3 } from './round3.js';

export interface Round2State extends Round1State {
  /** every signer's round-1 broadcast (own included) */
  readonly r1s: ReadonlyMap<number, R1Broadcast>;
  /** h_i: echo of the round-1 broadcasts */
  readonly echo: Uint8Array;
  /** Γ_i = γ_i·G */
  readonly Gamma: Point;
  /** β_{i,j}, β̂_{i,j}: our additive masks per j */
  readonly beta: ReadonlyMap<number, bigint>;
  readonly betaHat: ReadonlyMap<number, bigint>;
}

export class Round2 extends SignerRound<Round1State> {
  readonly expects = SCHEDULE.expects(ROUND.r1, ROUND.r1Proofs);

  protected receive(inbox: Inbox): Step<Presignature> {
    const { i, S, ssid, xPrime, XPrime } = this.s.view;
    const { L, aux } = this.s.params;
    const ownRp = partyAux(aux, i).rp;
    const r1s = new Map<number, R1Broadcast>([[i, this.s.r1]]);
    for (const j of S) {
      if (j === i) continue;
      const m = decodeFrom(j, ROUND.r1, () => decodeR1(inbox.from(ROUND.r1, j), L));
      const p = decodeFrom(j, ROUND.r1Proofs, () => decodeR1Proofs(inbox.from(ROUND.r1Proofs, j), L));
      const Nj = partyAux(aux, j).N;
      verifyFrom(j, ROUND.r1Proofs, () =>
        verifyEncElg(
          { sid: ssid, prover: j, verifier: i, extra: INSTANCE.K },
          L,
          { N0: Nj, C: m.K, A: m.Y, B: m.A1, X: m.A2, aux: ownRp },
          p.psiK,
        ),
      );
      verifyFrom(j, ROUND.r1Proofs, () =>
        verifyEncElg(
          { sid: ssid, prover: j, verifier: i, extra: INSTANCE.G },
          L,
          { N0: Nj, C: m.G, A: m.Y, B: m.B1, X: m.B2, aux: ownRp },
          p.psiG,
        ),
      );
      r1s.set(j, m);
    }
    // the echo covers the exact bytes each signer received (own body for ourselves)
    const echo = echoHash(
      ssid,
      ROUND.r1,
      S.map((j) => (j === i ? this.s.r1Body : inbox.from(ROUND.r1, j))),
    );
    const { sk, gamma } = this.s;
    const Gamma = mulG(gamma);
    const own = this.s.r1;
    const psiGamma = proveElog(
      { sid: ssid, prover: i, extra: INSTANCE.Gamma },
      L,
      { L: own.B1, M: own.B2, X: own.Y, Y: Gamma, H: G },
      { y: gamma, lambda: this.s.b },
    );
    const Xi = XPrime.get(i) as Point;
    const beta = new Map<number, bigint>();
    const betaHat = new Map<number, bigint>();
    const outbox: Msg[] = [];
    const maskBound = 1n << BigInt(L.ellPrime);
    for (const j of S) {
      if (j === i) continue;
      const Kj = (r1s.get(j) as R1Broadcast).K;
      const pa = partyAux(aux, j);
      const pkJ = new PaillierPublicKey(pa.N, { minBits: L.minModulusBits, maxBits: L.maxModulusBits });
      // one MtA: D = mult⊙K_j ⊕ Enc_j(β; ρ), F = Enc_i(β; ρ_y), with its Πaff-g
      const mta = (mult: bigint, X: Point, extra: Uint8Array) => {
        const b = randomSigned(maskBound);
        const { rho, factor: rhoN } = takeNonce(pkJ);
        const { rho: rhoY, factor: rhoYN } = takeNonce(sk);
        const D = pkJ.add(pkJ.scalarMul(Kj, mult, 256), pkJ.encryptWithFactor(b, rhoN));
        const F = sk.publicKey.encryptWithFactor(b, rhoYN);
        const psi = proveAffG(
          { sid: ssid, prover: i, verifier: j, extra },
          L,
          { Nj: pa.N, Ni: sk.N, C: Kj, D, Y: F, X, aux: pa.rp },
          { x: mult, y: b, rho, rhoY },
          sk,
        );
        return { b, D, F, psi };
      };
      const g = mta(gamma, Gamma, INSTANCE.gamma);
      const x = mta(xPrime, Xi, INSTANCE.x);
      beta.set(j, g.b);
      betaHat.set(j, x.b);
      const body = encodeR2({ echo, Gamma, psiGamma, D: g.D, F: g.F, Dhat: x.D, Fhat: x.F, psi: g.psi, psiHat: x.psi });
      outbox.push({ from: i, to: j, round: ROUND.r2, body });
    }
    return { kind: 'next', round: new Round3({ ...this.s, r1s, echo, Gamma, beta, betaHat }), outbox };
  }
}
