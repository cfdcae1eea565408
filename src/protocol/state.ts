/**
 * Public digests of a node's state that the nodes of a group compare: the aux-info id and the
 * state fingerprint a session's participants agree on before any proof (signers on different
 * states then abort as a mismatch instead of blaming each other for failing proofs).
 *
 * Pure: no I/O.
 * @module
 */
import { pointToBytes } from '../curve/secp256k1.js';
import { Transcript } from '../zk/transcript.js';
import type { AuxInfo } from './aux-info.js';
import type { PublicKeyShare } from './keyshare.js';
import type { OldKey, ReshareRole } from './reshare/params.js';

const STATE_TAG = 'mpc-engine/v1/state';

/** auxId = H(every party's N_j, N̂_j, s_j, t_j): the same at every node of the group. */
export function auxId(aux: AuxInfo): Uint8Array {
  const t = new Transcript('mpc-engine/v1/aux-id');
  aux.parties.forEach((p, j) => t.ints(`party-${j}`, [p.N, p.rp.N, p.rp.s, p.rp.t]));
  return t.digest('aux-id');
}

export interface StateInputs {
  readonly protocol: string;
  /** the committed aux-info's id (hex; '' for none); not bound for an aux-info run itself */
  readonly auxId?: string;
  /** refresh and presign: the wallet's committed key share, public part, and its epoch */
  readonly share?: { readonly epoch: number; readonly public: PublicKeyShare };
  /** aux: the epoch the new aux-info takes (the same at every party) */
  readonly auxEpoch?: number;
  /** reshare: the run's setup (roles, the key in the old group, the new epoch), which every party must hold alike */
  readonly reshare?: {
    readonly roles: readonly ReshareRole[];
    readonly old: OldKey;
    /** n', t': the new group's size and threshold, as this node is configured */
    readonly n: number;
    readonly t: number;
    readonly epoch: number;
  };
}

/** The state fingerprint: H(protocol, aux id, share epoch, n, t, Y, X_1…X_n, reshare setup). */
export function stateFingerprint(i: StateInputs): Uint8Array {
  const t = new Transcript(STATE_TAG).text('protocol', i.protocol);
  if (i.auxId !== undefined) t.text('aux', i.auxId);
  if (i.share) {
    const pub = i.share.public;
    t.ints('share', [BigInt(i.share.epoch), BigInt(pub.n), BigInt(pub.t)])
      .bytes('Y', pointToBytes(pub.Y))
      .byteList(
        'X',
        pub.X.map((X) => pointToBytes(X)),
      );
  }
  if (i.auxEpoch !== undefined) t.uint('aux epoch', i.auxEpoch);
  if (i.reshare) {
    const { roles, old, n, t: threshold, epoch } = i.reshare;
    t.ints('reshare', [BigInt(epoch), BigInt(old.n), BigInt(old.t), BigInt(n), BigInt(threshold), BigInt(roles.length)])
      .ints(
        'roles',
        roles.flatMap((r) => [BigInt(r.old ?? -1), BigInt(r.new ?? -1)]),
      )
      .bytes('old Y', pointToBytes(old.Y))
      .byteList(
        'old X',
        old.X.map((X) => pointToBytes(X)),
      );
  }
  return t.digest('state');
}
