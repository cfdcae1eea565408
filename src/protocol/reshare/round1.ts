/**
 * Resharing round 1. A dealer d turns its old share into an additive share of the key,
 * w_d = λ_d·x_d (Lagrange at 0 over the dealers' old indices, so Σ_d w_d = x), and deals it to the
 * new group: f_d(x) = w_d + Σ_{k≥1} a_{d,k}·x^k of degree t' − 1, Feldman commitments
 * S_d = (a_{d,k}·G)_k — whose constant term everyone checks against λ_d·X_d — and the shares
 * σ_{d,k} = f_d(k + 1). A receiver makes its Schnorr commitment (A_p; τ_p). Every party draws rid_p
 * and u_p and broadcasts only the hash V_p.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { modq, mulG, randomScalar } from '../../curve/secp256k1.js';
import { commitSch, type SchNonce } from '../../zk/sch.js';
import { evaluate } from '../feldman.js';
import type { Msg, Step } from '../machine.js';
import { commitmentHash } from './commitment.js';
import { ROUND, encodeHash, type Decommit } from './messages.js';
import { assertReshareParams, dealerLagrange, setupDigest, type ReshareParams } from './params.js';
import type { ReshareOutput } from './output.js';
import { Round2 } from './round2.js';

/** What position p keeps from round 1 (secret parts never leave except σ_{d,k} to receiver k). */
export interface Round1State {
  readonly params: ReshareParams;
  /** H(sid, roles, old key, n', t') */
  readonly setup: Uint8Array;
  /** a dealer's σ_{d,k} = f_d(k + 1) for every new index k; empty otherwise */
  readonly sigma: readonly bigint[];
  /** a receiver's Schnorr nonce τ_p */
  readonly nonce: SchNonce | undefined;
  /** own decommitment (rid_p, S_p, A_p, u_p) */
  readonly decommit: Decommit;
  /** V_p */
  readonly V: Uint8Array;
}

/** Start a resharing: returns round 2 and the round-1 broadcast. */
export function startReshare(params: ReshareParams): Step<ReshareOutput> {
  assertReshareParams(params);
  const { me, t, n } = params;
  const role = params.roles[me] as { old?: number; new?: number };
  const setup = setupDigest(params);
  let sigma: bigint[] = [];
  let S: Decommit['S'] = [];
  if (params.share) {
    const w = modq(dealerLagrange(params, me) * params.share.secret.x);
    const coeffs = Array.from({ length: t }, (_, k) => (k === 0 ? w : randomScalar()));
    sigma = Array.from({ length: n }, (_, k) => evaluate(coeffs, BigInt(k + 1)));
    S = coeffs.map((c) => mulG(c));
  }
  const sch = role.new === undefined ? undefined : commitSch();
  const decommit: Decommit = {
    rid: Uint8Array.from(randomBytes(32)),
    S,
    A: sch?.commitment.A,
    u: Uint8Array.from(randomBytes(32)),
  };
  const V = commitmentHash(setup, me, decommit);
  const outbox: Msg[] = [{ from: me, to: 'all', round: ROUND.commit, body: encodeHash(V) }];
  return {
    kind: 'next',
    round: new Round2({ params, setup, sigma, nonce: sch?.nonce, decommit, V }),
    outbox,
  };
}
