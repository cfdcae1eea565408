/**
 * Abandonments: a party's signed statement that it never confirmed run `sid` of `scope` and never
 * will (src/node/lifecycle.ts). A pending state may be dropped only on the abandonments of EVERY
 * other party of the group: one party's word is not enough, because a party may sign an
 * abandonment of a run it did confirm (it is lying) after handing its confirmation to some nodes
 * only; with every other party's abandonment, though, at least one honest party never confirmed,
 * so no full evidence can ever exist.
 *
 * Pure: digests and signature checks with pinned public keys, no I/O.
 * @module
 */
import { verify, type KeyObject } from 'node:crypto';
import { Transcript } from '../zk/transcript.js';

const ABANDON_TAG = 'mpc-engine/v1/abandon';

/** What a party signs (P-256, IEEE P1363) to abandon run `sid` of `scope`. */
export function abandonmentDigest(scope: string, sid: Uint8Array): Uint8Array {
  return new Transcript(ABANDON_TAG).text('scope', scope).bytes('sid', sid).digest('abandon');
}

/** One party's signed abandonment, as a node answers `abandon`. */
export interface SignedAbandonment {
  /** the signer's party index */
  readonly by: number;
  /** 64 bytes, r ‖ s */
  readonly signature: Uint8Array;
}

/** Whether `a` is party `a.by`'s valid abandonment of run `sid` of `scope`. */
export function verifyAbandonment(scope: string, sid: Uint8Array, a: SignedAbandonment, publicKey: KeyObject): boolean {
  if (a.signature.length !== 64) return false;
  try {
    return verify(null, abandonmentDigest(scope, sid), { key: publicKey, dsaEncoding: 'ieee-p1363' }, a.signature);
  } catch {
    return false;
  }
}

/**
 * Check that `abandonments` are a full set for party `self` to drop its pending state of run `sid`:
 * distinct signers, every party of the group but `self`, each validly signed over this scope and
 * sid. Returns undefined when they are, else why not (safe to answer: public data only).
 */
export function checkAbandonments(
  scope: string,
  sid: Uint8Array,
  abandonments: readonly SignedAbandonment[],
  parties: readonly KeyObject[],
  self: number,
): string | undefined {
  const seen = new Set<number>();
  for (const a of abandonments) {
    if (!Number.isInteger(a.by) || a.by < 0 || a.by >= parties.length) return `abandonment by an unknown party ${a.by}`;
    if (a.by === self) return 'an abandonment by the discarding party itself does not count';
    if (seen.has(a.by)) return `party ${a.by} abandons twice`;
    seen.add(a.by);
    if (!verifyAbandonment(scope, sid, a, parties[a.by] as KeyObject))
      return `the abandonment is not signed by party ${a.by} for this run`;
  }
  const missing = parties.map((_, j) => j).filter((j) => j !== self && !seen.has(j));
  if (missing.length > 0)
    return `abandonments missing from parties ${missing.join(', ')}: every other party must abandon the run`;
  return undefined;
}
