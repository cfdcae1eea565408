/**
 * Echo broadcast (reliable broadcast for 3 or more parties, docs/security.md, relay rule 4): after a
 * broadcast round every party sends h_i = H(sid, round, msg_0, …, msg_{n−1}) over the messages it
 * received (its own included, in index order); all h_j must equal h_i. A coordinator or party that
 * shows different broadcasts to different parties is caught here, before anything depends on them.
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { Transcript } from '../zk/transcript.js';

export const ECHO_TAG = 'mpc-engine/v1/echo';

/** h = H(sid, round, bodies in index order). */
export function echoHash(sid: Uint8Array, round: string, bodies: readonly Uint8Array[]): Uint8Array {
  return new Transcript(ECHO_TAG).bytes('sid', sid).text('round', round).byteList('bodies', bodies).digest('h');
}

/** Parties whose echo differs from ours. */
export function echoMismatches(mine: Uint8Array, theirs: ReadonlyMap<number, Uint8Array>): number[] {
  const out: number[] = [];
  for (const [j, h] of theirs) if (!equalBytes(h, mine)) out.push(j);
  return out.sort((a, b) => a - b);
}
