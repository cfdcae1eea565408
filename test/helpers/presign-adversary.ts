/**
 * A presigning party that runs the honest algorithm on inputs of the test's choosing (an
 * out-of-range k, say) and exposes its secrets, so a test can rebuild later messages the way a
 * malicious node would. Round 1 mirrors src/protocol/presign/round1.ts with k and γ as inputs.
 */
import { mul, mulG, randomScalar } from '../../src/curve/secp256k1.js';
import { PaillierSecretKey } from '../../src/paillier/secret-key.js';
import { proveEncElg } from '../../src/zk/enc-elg.js';
import type { Msg, Step } from '../../src/protocol/machine.js';
import { ROUND, encodeR1, encodeR1Proofs, type R1Broadcast } from '../../src/protocol/presign/messages.js';
import { partyAux, signerView, type PresignParams, type SignerView } from '../../src/protocol/presign/params.js';
import { INSTANCE } from '../../src/protocol/presign/instances.js';
import { Round2 } from '../../src/protocol/presign/round2.js';
import type { Presignature } from '../../src/protocol/presign/presignature.js';

export interface Adversary {
  step: Step<Presignature>;
  view: SignerView;
  sk: PaillierSecretKey;
  k: bigint;
  gamma: bigint;
}

export function adversaryStart(params: PresignParams, choose: { k?: bigint; gamma?: bigint } = {}): Adversary {
  const view = signerView(params);
  const { i, S, ssid } = view;
  const { L, aux } = params;
  const sk = PaillierSecretKey.fromPrimes(aux.secret.p, aux.secret.q, { checkPrimes: false });
  const k = choose.k ?? randomScalar();
  const gamma = choose.gamma ?? randomScalar();
  const rho = sk.publicKey.randomNonce();
  const nu = sk.publicKey.randomNonce();
  const Y = mulG(randomScalar());
  const a = randomScalar();
  const b = randomScalar();
  const r1: R1Broadcast = {
    K: sk.encrypt(k, rho),
    G: sk.encrypt(gamma, nu),
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
  const step: Step<Presignature> = {
    kind: 'next',
    round: new Round2({ params, view, sk, k, gamma, a, b, r1, r1Body }),
    outbox,
  };
  return { step, view, sk, k, gamma };
}
