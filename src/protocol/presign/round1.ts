/**
 * Presigning round 1: sample k_i, γ_i; encrypt them under our own Paillier key (CRT),
 *   K_i = Enc_i(k_i; ρ_i), G_i = Enc_i(γ_i; ν_i),
 * commit to them with El-Gamal under a fresh key Y_i = y_i·G,
 *   A_i = (a_i·G, a_i·Y_i + k_i·G), B_i = (b_i·G, b_i·Y_i + γ_i·G),
 * broadcast all of it, and prove to each other signer j, against j's ring-Pedersen parameters, that
 * K_i and G_i encrypt the committed values in range (Πenc-elg ×2, docs/security.md A2).
 * @module
 */
import { mul, mulG, randomScalar } from '../../curve/secp256k1.js';
import { PaillierSecretKey } from '../../paillier/secret-key.js';
import { takeNonce } from '../../paillier/nonce-pool.js';
import { proveEncElg } from '../../zk/enc-elg.js';
import type { Msg, Step } from '../machine.js';
import { ROUND, encodeR1, encodeR1Proofs, type R1Broadcast } from './messages.js';
import { partyAux, signerView, type PresignParams, type SignerView } from './params.js';
import { INSTANCE } from './instances.js';
import type { Presignature } from './presignature.js';
import { Round2 } from './round2.js';

/** What signer i keeps from round 1. */
export interface Round1State {
  readonly params: PresignParams;
  readonly view: SignerView;
  /** own Paillier secret key (from aux-info's p, q) */
  readonly sk: PaillierSecretKey;
  /** k_i, γ_i ∈ Z_q */
  readonly k: bigint;
  readonly gamma: bigint;
  /** a_i, b_i: El-Gamal randomness of A_i, B_i */
  readonly a: bigint;
  readonly b: bigint;
  /** own round-1 broadcast and its encoding */
  readonly r1: R1Broadcast;
  readonly r1Body: Uint8Array;
}

/** Start presigning: returns round 2 and the round-1 messages. */
export function startPresign(params: PresignParams): Step<Presignature> {
  const view = signerView(params);
  const { i, S, ssid } = view;
  const { L, aux } = params;
  const sk = PaillierSecretKey.fromPrimes(aux.secret.p, aux.secret.q, {
    checkPrimes: false,
    minBits: L.minModulusBits,
    maxBits: L.maxModulusBits,
  });
  const k = randomScalar();
  const gamma = randomScalar();
  // nonces made ahead of time when there are any (docs/security.md, "Precomputed nonces")
  const { rho, factor: rhoN } = takeNonce(sk);
  const { rho: nu, factor: nuN } = takeNonce(sk);
  const y = randomScalar();
  const a = randomScalar();
  const b = randomScalar();
  const Y = mulG(y);
  const r1: R1Broadcast = {
    K: sk.publicKey.encryptWithFactor(k, rhoN),
    G: sk.publicKey.encryptWithFactor(gamma, nuN),
    Y,
    A1: mulG(a),
    A2: mul(Y, a).add(mulG(k)),
    B1: mulG(b),
    B2: mul(Y, b).add(mulG(gamma)),
  };
  const r1Body = encodeR1(r1);
  const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.r1, body: r1Body }];
  for (const j of S) {
    if (j === i) continue;
    const rp = partyAux(aux, j).rp;
    const psiK = proveEncElg(
      { sid: ssid, prover: i, verifier: j, extra: INSTANCE.K },
      L,
      { N0: sk.N, C: r1.K, A: Y, B: r1.A1, X: r1.A2, aux: rp },
      { x: k, rho, b: a },
      sk,
    );
    const psiG = proveEncElg(
      { sid: ssid, prover: i, verifier: j, extra: INSTANCE.G },
      L,
      { N0: sk.N, C: r1.G, A: Y, B: r1.B1, X: r1.B2, aux: rp },
      { x: gamma, rho: nu, b },
      sk,
    );
    outbox.push({ from: i, to: j, round: ROUND.r1Proofs, body: encodeR1Proofs({ psiK, psiG }) });
  }
  return { kind: 'next', round: new Round2({ params, view, sk, k, gamma, a, b, r1, r1Body }), outbox };
}
