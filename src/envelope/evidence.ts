/**
 * Envelopes as transferable evidence, checked by a third party: equivocation (two signed messages
 * for one slot) and a round's broadcasts from every party (the confirmation that lets a node commit).
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { checkView, type PartyState } from './parties.js';
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  EnvelopeError,
  type DecodedEnvelope,
  type EquivocationEvidence,
  type SessionView,
} from './types.js';
import { decodeEnvelope, sha256, slotKey, verifySignature } from './wire.js';

/**
 * Check equivocation evidence as a third party (another node, an auditor): both envelopes decode,
 * belong to this session, are validly signed by the culprit's pinned key, differ in signed
 * content, and share a slot (round, kind, recipient) or a sequence number. A relay cannot make
 * this true for an honest node: it cannot sign, and byte re-encodings (high s) are rejected.
 */
export function verifyEquivocationEvidence(
  view: SessionView,
  ev: EquivocationEvidence,
  maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES,
): boolean {
  let parties: Map<number, PartyState>;
  try {
    parties = checkView(view);
  } catch {
    return false;
  }
  const culprit = parties.get(ev.culprit);
  if (!culprit) return false;
  let a: DecodedEnvelope;
  let b: DecodedEnvelope;
  try {
    a = decodeEnvelope(ev.first, maxEnvelopeBytes);
    b = decodeEnvelope(ev.second, maxEnvelopeBytes);
  } catch {
    return false;
  }
  for (const d of [a, b]) {
    if (d.protocol !== view.protocol || !equalBytes(d.sid, view.sid) || d.from !== ev.culprit) return false;
    if (!verifySignature(d, culprit.publicKey)) return false;
  }
  if (equalBytes(a.body, b.body)) return false;
  if (ev.conflict === 'slot') return slotKey(a.from, a.kind, a.to, a.round) === slotKey(b.from, b.kind, b.to, b.round);
  return a.seq === b.seq;
}

/**
 * Check a set of broadcast envelopes as transferable evidence that every party of a session sent
 * a message for one round (the confirmation that lets a node commit a new epoch): each envelope
 * decodes, belongs to this session and round, is a broadcast validly signed by its sender's pinned
 * key with a matching payload hash, and the set holds exactly one envelope from every party of the
 * view. Anyone can check it; nobody but the parties can make it, so a relay that hands it to a
 * node which missed the last message cannot forge a commit. Returns each party's message body, or
 * throws EnvelopeError ('bad-evidence' unless the view itself is bad).
 */
export function openBroadcastEvidence(
  view: SessionView,
  round: string,
  envelopes: readonly Uint8Array[],
  maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES,
): Map<number, Uint8Array> {
  const parties = checkView(view);
  if (envelopes.length !== parties.size)
    throw new EnvelopeError('bad-evidence', `evidence holds ${envelopes.length} envelopes for ${parties.size} parties`);
  const bodies = new Map<number, Uint8Array>();
  for (const bytes of envelopes) {
    const d = decodeEnvelope(bytes, maxEnvelopeBytes);
    if (d.protocol !== view.protocol || !equalBytes(d.sid, view.sid) || d.round !== round || d.kind !== 'bcast') {
      throw new EnvelopeError('bad-evidence', 'an evidence envelope belongs to another session, round or kind');
    }
    const sender = parties.get(d.from);
    if (!sender || bodies.has(d.from))
      throw new EnvelopeError('bad-evidence', `evidence sender ${d.from} is unknown or repeated`);
    if (!verifySignature(d, sender.publicKey))
      throw new EnvelopeError('bad-evidence', `evidence from party ${d.from} is not validly signed`);
    if (!equalBytes(sha256(d.payload), d.payloadHash))
      throw new EnvelopeError('bad-evidence', `evidence from party ${d.from} has a payload hash mismatch`);
    bodies.set(d.from, Uint8Array.from(d.payload));
  }
  return bodies;
}
