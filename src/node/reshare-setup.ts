/**
 * What a node takes from a reshare request (src/rpc/messages.ts `reshareSetupSchema`): the roles of
 * the run in this node's group — every node of the group receives (its new index is its place in
 * NODE_IDS), the dealers keep their index in the old group — and the key's public data in the old
 * group. Everything is checked here before the run is prepared; the node layer then binds the
 * decoded setup into the state fingerprint, so the session id differs unless every party holds the
 * same setup (a newcomer cannot be fed another old key than the dealers hold).
 * @module
 */
import { pointFromBytes } from '../curve/secp256k1.js';
import { assertSharedKey } from '../protocol/keyshare.js';
import type { OldKey, ReshareRole } from '../protocol/reshare/index.js';
import type { ReshareSetup } from '../rpc/messages.js';

export interface DecodedReshare {
  /** every node of the group, in index order: its new index, and its old index if it deals */
  readonly roles: readonly ReshareRole[];
  /** the key in the old group */
  readonly old: OldKey;
  /** n', t': this node's group and threshold (a node configured otherwise fingerprints another setup) */
  readonly n: number;
  readonly t: number;
  /** the epoch the new shares take */
  readonly epoch: number;
}

/** Decode and check a reshare setup for a group of `groupSize` with threshold t'; throws RangeError naming the problem. */
export function decodeReshareSetup(setup: ReshareSetup, groupSize: number, threshold: number): DecodedReshare {
  const { dealers, oldIndices } = setup;
  if (dealers.some((d, k) => d >= groupSize || (k > 0 && d <= (dealers[k - 1] as number))))
    throw new RangeError('dealers must be sorted, distinct nodes of the group');
  if (oldIndices.length !== dealers.length) throw new RangeError('one old index per dealer');
  const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
  const old: OldKey = {
    n: setup.old.n,
    t: setup.old.t,
    Y: pointFromBytes(bytes(setup.old.publicKey), 'old public key'),
    X: setup.old.X.map((X, j) => pointFromBytes(bytes(X), `old X_${j}`)),
  };
  if (new Set(oldIndices).size !== oldIndices.length || oldIndices.some((i) => i >= old.n))
    throw new RangeError('old indices must be distinct and below the old n');
  if (dealers.length < old.t) throw new RangeError('at least t of the old holders must deal');
  assertSharedKey(old);
  const roles = Array.from({ length: groupSize }, (_, k): ReshareRole => {
    const d = dealers.indexOf(k);
    return d < 0 ? { new: k } : { old: oldIndices[d] as number, new: k };
  });
  return { roles, old, n: groupSize, t: threshold, epoch: setup.epoch };
}
