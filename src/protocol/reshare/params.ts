import { type Point, pointToBytes } from '../../curve/secp256k1.js';
import { lagrange } from '../../curve/lagrange.js';
import { assertKeyShare, assertSharedKey, type KeyShare } from '../keyshare.js';
import { Transcript } from '../../zk/transcript.js';

/**
 * The role of one party of a resharing run. A dealer holds a share of the key in the old group
 * (its index there); a receiver gets a share in the new group (its index there). A node that stays
 * in the group is usually both; a node that joins is a receiver only, one that leaves a dealer only.
 */
export interface ReshareRole {
  /** index in the old group: this party deals (it holds the old share x_old) */
  readonly old?: number;
  /** index in the new group: this party receives a new share */
  readonly new?: number;
}

/** The key's public data before resharing (what every old holder's share says, and newcomers learn). */
export interface OldKey {
  /** old group size */
  readonly n: number;
  /** old threshold */
  readonly t: number;
  /** Y: the public key, kept by resharing */
  readonly Y: Point;
  /** X_j = x_j·G of every old holder */
  readonly X: readonly Point[];
}

/**
 * Inputs of a resharing: moving the shares of key Y from t_old or more holders of the old group to
 * a new group of n' parties with threshold t', Y unchanged (docs/security.md A19).
 */
export interface ReshareParams {
  /** sid: unique per run (the node layer derives it from a fingerprint of this run's whole setup) */
  readonly sid: Uint8Array;
  /** every party of the run, in session order: its role(s) */
  readonly roles: readonly ReshareRole[];
  /** own position in `roles` */
  readonly me: number;
  /** the key before: the dealers' shares lie on it, and the new shares must too */
  readonly old: OldKey;
  /** n': size of the new group (every new index 0 … n' − 1 is a receiver of the run) */
  readonly n: number;
  /** t': threshold of the new group */
  readonly t: number;
  /** own old share (dealers only) */
  readonly share?: KeyShare;
}

/** Positions of the dealers, in session order. */
export function dealers(p: Pick<ReshareParams, 'roles'>): number[] {
  return p.roles.flatMap((r, k) => (r.old === undefined ? [] : [k]));
}

/** Positions of the receivers, in session order. */
export function receivers(p: Pick<ReshareParams, 'roles'>): number[] {
  return p.roles.flatMap((r, k) => (r.new === undefined ? [] : [k]));
}

/** λ_d: the Lagrange coefficient at 0 of dealer position d over the dealers' old indices. */
export function dealerLagrange(p: Pick<ReshareParams, 'roles'>, d: number): bigint {
  const T = dealers(p).map((k) => p.roles[k]?.old as number);
  return lagrange(T, p.roles[d]?.old as number, 0n);
}

/** Throws unless the run is well formed: roles, indices, thresholds, and the dealer's share matches the old key. */
export function assertReshareParams(p: ReshareParams): void {
  if (!(p.sid instanceof Uint8Array) || p.sid.length < 16) throw new RangeError('sid must be at least 16 bytes');
  const m = p.roles.length;
  if (m < 2 || m > 64) throw new RangeError('a resharing has 2 … 64 parties');
  if (!Number.isInteger(p.me) || p.me < 0 || p.me >= m) throw new RangeError('me must be a position of roles');
  const { old } = p;
  if (!Number.isInteger(old.t) || !Number.isInteger(old.n) || old.t < 1 || old.t > old.n || old.n > 64)
    throw new RangeError('old group: bad (t, n)');
  // old.X on one polynomial of degree t − 1 through Y (a newcomer learns them from the coordinator;
  // the sid binds them, so it runs with the dealers only if they hold the same)
  assertSharedKey(old);
  if (!Number.isInteger(p.n) || p.n < 2 || p.n > 64) throw new RangeError("n' must be in [2, 64]");
  if (!Number.isInteger(p.t) || p.t < 2 || p.t > p.n) throw new RangeError("t' must be in [2, n']");
  const olds = p.roles.flatMap((r) => (r.old === undefined ? [] : [r.old]));
  const news = p.roles.flatMap((r) => (r.new === undefined ? [] : [r.new]));
  if (p.roles.some((r) => r.old === undefined && r.new === undefined)) throw new RangeError('a party without a role');
  if (olds.some((i) => !Number.isInteger(i) || i < 0 || i >= old.n) || new Set(olds).size !== olds.length)
    throw new RangeError('dealers: old indices must be distinct in [0, n)');
  if (olds.length < old.t) throw new RangeError('dealers: at least t of the old holders must deal');
  if (news.length !== p.n || new Set(news).size !== p.n || news.some((i) => !Number.isInteger(i) || i < 0 || i >= p.n))
    throw new RangeError("receivers: every new index 0 … n' − 1 exactly once");
  const mine = p.roles[p.me] as ReshareRole;
  if ((mine.old !== undefined) !== (p.share !== undefined))
    throw new RangeError('a dealer needs its old share, and only a dealer');
  if (p.share) {
    assertKeyShare(p.share);
    const s = p.share.public;
    if (
      s.n !== old.n ||
      s.t !== old.t ||
      s.i !== mine.old ||
      !s.Y.equals(old.Y) ||
      s.X.some((X, j) => !X.equals(old.X[j] as Point))
    )
      throw new RangeError('the old share is not of the old key (n, t, i, Y or X differ)');
  }
}

export const SETUP_TAG = 'mpc-engine/v1/reshare/setup';

/**
 * H(sid, roles, old key, n', t'): what every party must hold alike. Bound into every commitment,
 * the echo (so a split setup stops the run before any share leaves), the Schnorr challenges (a
 * proof of one protocol or run never verifies in another) and the confirmation.
 */
export function setupDigest(p: ReshareParams): Uint8Array {
  return new Transcript(SETUP_TAG)
    .bytes('sid', p.sid)
    .uint('parties', p.roles.length)
    .byteList(
      'roles',
      p.roles.map((r) =>
        Uint8Array.of(r.old === undefined ? 0 : 1, r.old ?? 0, r.new === undefined ? 0 : 1, r.new ?? 0),
      ),
    )
    .uint('old n', p.old.n)
    .uint('old t', p.old.t)
    .bytes('Y', pointToBytes(p.old.Y))
    .byteList(
      'old X',
      p.old.X.map((X) => pointToBytes(X)),
    )
    .uint('n', p.n)
    .uint('t', p.t)
    .digest('setup');
}
