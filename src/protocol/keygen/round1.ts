/**
 * Keygen round 1: sample f_i(x) = Σ_k s_{i,k}·x^k of degree t − 1, its Feldman commitments
 * S_i = (s_{i,k}·G)_k, the shares σ_{i,j} = f_i(j + 1), rid_i, the Schnorr commitment (A_i; τ_i)
 * and u_i; broadcast only the hash V_i (commit before anyone sees anyone's values).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mulG, randomScalar } from '../../curve/secp256k1.js';
import { evaluate } from '../feldman.js';
import { commitSch, type SchNonce } from '../../zk/sch.js';
import type { Msg, Step } from '../machine.js';
import type { KeyShare } from '../keyshare.js';
import { commitmentHash } from './commitment.js';
import { ROUND, encodeHash, type Decommit } from './messages.js';
import { assertKeygenParams, type KeygenParams } from './params.js';
import { Round2 } from './round2.js';

/** What party i keeps from round 1 (secret parts never leave except σ_{i,j} to P_j). */
export interface Round1State {
  readonly params: KeygenParams;
  /** σ_{i,j} = f_i(j + 1) for every j (σ_{i,i} stays here) */
  readonly sigma: readonly bigint[];
  /** τ_i: Schnorr nonce */
  readonly nonce: SchNonce;
  /** own decommitment (rid_i, S_i, A_i, u_i) */
  readonly decommit: Decommit;
  /** V_i */
  readonly V: Uint8Array;
}

/** Start a key generation: returns round 2 and the round-1 broadcast. */
export function startKeygen(params: KeygenParams): Step<KeyShare> {
  assertKeygenParams(params);
  const { sid, n, t, i } = params;
  // refresh: f_i(0) = 0, so Σ_j f_j adds nothing to the secret and Y stays
  const coeffs = Array.from({ length: t }, (_, k) => (k === 0 && params.refresh ? 0n : randomScalar()));
  const sigma = Array.from({ length: n }, (_, j) => evaluate(coeffs, BigInt(j + 1)));
  const { commitment, nonce } = commitSch();
  const decommit: Decommit = {
    rid: Uint8Array.from(randomBytes(32)),
    S: (params.refresh ? coeffs.slice(1) : coeffs).map((c) => mulG(c)),
    A: commitment.A,
    u: Uint8Array.from(randomBytes(32)),
  };
  const V = commitmentHash(sid, n, t, i, decommit, params.refresh !== undefined);
  const outbox: Msg[] = [{ from: i, to: 'all', round: ROUND.commit, body: encodeHash(V) }];
  return { kind: 'next', round: new Round2({ params, sigma, nonce, decommit, V }), outbox };
}

/**
 * Start a key refresh of `share` with every party (docs/security.md A13): new shares of the same key,
 * Y unchanged. Old shares may be deleted only after this completes, which needs every party's
 * confirmation; renewing aux-info is a separate aux-info run with fresh primes.
 */
export function startRefresh(params: { sid: Uint8Array; share: KeyShare }): Step<KeyShare> {
  const { n, t, i } = params.share.public;
  return startKeygen({ sid: params.sid, n, t, i, refresh: params.share });
}
