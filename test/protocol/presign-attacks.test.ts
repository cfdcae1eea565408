/**
 * Presigning attacks (docs/security.md A2, A14) not covered by presign.test.ts, each failing when the
 * one check it targets is removed:
 *  - G_j = Enc(γ_j) with γ_j out of range: the second Πenc-elg (ψ1, for G) must reject it;
 *  - the second MtA (D̂, F̂ for x′_i) with a mask β̂ out of range: the second Πaff-g must reject it;
 *  - Γ = ΣΓ_j = O and δ = Σδ_j = 0. A signer can only force these by knowing the others' γ_j or
 *    k_j before choosing its own; the tests play that signer by reading the honest signer's state
 *    (as if the Paillier encryption and the proofs were broken) to show the checks themselves.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { BlameCode } from '../../src/protocol/blame.js';
import { startPresign, type Presignature } from '../../src/protocol/presign/index.js';
import {
  ROUND,
  decodeR1,
  decodeR1Proofs,
  decodeR2,
  encodeR1Proofs,
  encodeR2,
} from '../../src/protocol/presign/messages.js';
import { INSTANCE } from '../../src/protocol/presign/instances.js';
import { SECURITY_128 } from '../../src/zk/params.js';
import { proveAffG } from '../../src/zk/aff-g.js';
import { PaillierPublicKey } from '../../src/paillier/public-key.js';
import { type Point, q } from '../../src/curve/secp256k1.js';
import type { KeyShare } from '../../src/protocol/keyshare.js';
import type { AuxInfo } from '../../src/protocol/aux-info.js';
import type { Step } from '../../src/protocol/machine.js';
import { auxFixture, keygenShares } from '../helpers/cluster.js';
import { runNetwork, type PartyResult, type Tamper } from '../helpers/network.js';
import { adversaryStart } from '../helpers/presign-adversary.js';

const L = SECURITY_128;
const keys = keygenShares(3, 2);
const aux = auxFixture(3);
const S = [0, 1];
const newSid = () => Uint8Array.from(randomBytes(32));
const params = (i: number, sid: Uint8Array) => ({
  sid,
  signers: S,
  key: keys[i] as KeyShare,
  aux: aux[i] as AuxInfo,
  L,
});

function blamed(
  t: ExecutionContext,
  r: PartyResult<Presignature> | undefined,
  culprits: number[],
  code: BlameCode,
  reason: RegExp,
): void {
  t.falsy(r?.output, 'no presignature');
  t.deepEqual(r?.abort?.culprits, culprits, r?.abort?.reason ?? (r?.stalled ? 'stalled' : 'no abort'));
  t.is(r?.abort?.code, code);
  t.regex(r?.abort?.reason ?? '', reason);
}

/** The honest signer's round-1 secrets (test-only peek into its state). */
function secretsOf(step: Step<Presignature>): { k: bigint; gamma: bigint } {
  if (step.kind !== 'next') throw new Error('unreachable');
  return (step.round as unknown as { s: { k: bigint; gamma: bigint } }).s;
}

test('A2: γ = 2^(ℓ+ε) + 1 in G_j, proven by the honest algorithm, is rejected by the second Πenc-elg (ψ1), blaming its sender', (t) => {
  const sid = newSid();
  const adv = adversaryStart(params(0, sid), { gamma: (1n << BigInt(L.ell + L.epsilon)) + 1n });
  if (adv.step.kind !== 'next') throw new Error('unreachable');
  // the adversary sends its round 1 and stops (its own round 2 cannot multiply by such a γ)
  const stop: Step<Presignature> = {
    kind: 'next',
    outbox: adv.step.outbox,
    round: {
      me: 0,
      expects: [{ round: ROUND.r1, broadcast: true }],
      handle: () => ({ kind: 'abort', abort: { culprits: [], code: 'cancelled', reason: 'adversary stops' } }),
    },
  };
  const res = runNetwork<Presignature>([stop, startPresign(params(1, sid))], undefined, S);
  blamed(t, res[1], [0], 'proof-invalid', /^presign\/r1-proofs: enc-elg\/range-z1$/);
});

test('A2: a second MtA (D̂, F̂ for x′_i) with mask β̂ = 2^(ℓ′+ε) + 1 is rejected by its Πaff-g (ψ̂), blaming its sender', (t) => {
  const sid = newSid();
  const adv = adversaryStart(params(0, sid));
  const pk1 = new PaillierPublicKey(aux[1]?.parties[1]?.N as bigint);
  let K1 = 0n;
  const tamper: Tamper = (m, dest) => {
    if (m.round === ROUND.r1 && m.from === 1) K1 = decodeR1(m.body, L).K;
    if (m.round !== ROUND.r2 || m.from !== 0 || dest !== 1) return undefined;
    const r2 = decodeR2(m.body, L);
    const beta = (1n << BigInt(L.ellPrime + L.epsilon)) + 1n;
    const rho = pk1.randomNonce();
    const rhoY = adv.sk.publicKey.randomNonce();
    const x = adv.view.xPrime;
    const Dhat = pk1.add(pk1.scalarMul(K1, x, 256), pk1.encrypt(beta, rho));
    const Fhat = adv.sk.encrypt(beta, rhoY);
    const psiHat = proveAffG(
      { sid: adv.view.ssid, prover: 0, verifier: 1, extra: INSTANCE.x },
      L,
      {
        Nj: pk1.N,
        Ni: adv.sk.N,
        C: K1,
        D: Dhat,
        Y: Fhat,
        X: adv.view.XPrime.get(0) as Point,
        aux: aux[1]?.parties[1]?.rp as AuxInfo['parties'][number]['rp'],
      },
      { x, y: beta, rho, rhoY },
      adv.sk,
    );
    return [{ ...m, body: encodeR2({ ...r2, Dhat, Fhat, psiHat }) }];
  };
  const res = runNetwork<Presignature>([adv.step, startPresign(params(1, sid))], tamper, S);
  blamed(t, res[1], [0], 'proof-invalid', /^presign\/r2: aff-g\/range-z2$/);
});

test('A14: Γ = Σ Γ_j = O (γ_0 = −γ_1) is refused before anything is derived from it', (t) => {
  const sid = newSid();
  const honest = startPresign(params(1, sid));
  const adv = adversaryStart(params(0, sid), { gamma: q - secretsOf(honest).gamma });
  const res = runNetwork<Presignature>([adv.step, honest], undefined, S);
  blamed(t, res[1], [], 'identity-point', /^presign\/r2: Γ is the identity$/);
});

test('A14: δ = Σ δ_j = 0 (k_0 = −k_1) is refused, no presignature', (t) => {
  const sid = newSid();
  const honest = startPresign(params(1, sid));
  const adv = adversaryStart(params(0, sid), { k: q - secretsOf(honest).k });
  const res = runNetwork<Presignature>([adv.step, honest], undefined, S);
  blamed(t, res[1], [], 'degenerate-nonce', /^presign\/r3: δ = 0$/);
});

test('A16: a Πenc-elg with a 1 MB z1 is refused at decoding (length prefix checked before the bytes are read), blaming its sender', (t) => {
  const sid = newSid();
  let decodeMs = -1;
  const res = runNetwork<Presignature>(
    [startPresign(params(0, sid)), startPresign(params(1, sid))],
    (m, dest) => {
      if (m.round !== ROUND.r1Proofs || m.from !== 0 || dest !== 1) return undefined;
      const p = decodeR1Proofs(m.body, L);
      const body = encodeR1Proofs({ ...p, psiK: { ...p.psiK, z1: 1n << 8_000_000n } });
      const t0 = process.hrtime.bigint();
      t.throws(() => decodeR1Proofs(body, L), { message: /Πenc-elg z1 longer than \d+ bytes/ });
      decodeMs = Number(process.hrtime.bigint() - t0) / 1e6;
      return [{ ...m, body }];
    },
    S,
  );
  t.log(`decoding the 1 MB proof failed after ${decodeMs.toFixed(2)} ms`);
  blamed(t, res[1], [0], 'malformed', /^presign\/r1-proofs: malformed \(Πenc-elg z1 longer than \d+ bytes\)$/);
});
