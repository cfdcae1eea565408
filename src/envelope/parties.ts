/**
 * A session's parties as the envelope layer checks them: the public view (indices, node ids,
 * pinned identity keys) and, for a running session, every party's session key.
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import type { KeyObject } from 'node:crypto';
import { isP256PublicKey, rawPublicKey } from './session-keys.js';
import {
  EnvelopeError,
  MAX_NODE_ID_BYTES,
  MAX_PROTOCOL_BYTES,
  MAX_SID_BYTES,
  TO_ALL,
  type SessionView,
} from './types.js';
import { checkText } from './wire.js';

export function isIndex(i: unknown): i is number {
  return typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < TO_ALL;
}

export interface PartyState {
  readonly index: number;
  readonly nodeId: Uint8Array;
  readonly publicKey: KeyObject;
  readonly raw: Uint8Array;
}

/** A party of a running session: its identity and its session key. */
export interface SessionParty extends PartyState {
  readonly sessionKey: KeyObject;
  readonly sessionRaw: Uint8Array;
}

/** Pair each party with its session key: P-256, distinct, none an identity key. Throws EnvelopeError('bad-argument'). */
export function withSessionKeys(
  parties: Map<number, PartyState>,
  keys: readonly KeyObject[],
): Map<number, SessionParty> {
  if (!Array.isArray(keys) || keys.length !== parties.size)
    throw new EnvelopeError('bad-argument', 'one session key per party is needed');
  const list: readonly unknown[] = keys;
  const seen = [...parties.values()].map((p) => p.raw);
  const out = new Map<number, SessionParty>();
  let k = 0;
  for (const p of parties.values()) {
    const key = list[k++];
    if (!isP256PublicKey(key))
      throw new EnvelopeError('bad-argument', `party ${p.index}: session key must be a P-256 public key`);
    const sessionRaw = rawPublicKey(key);
    if (seen.some((r) => equalBytes(r, sessionRaw)))
      throw new EnvelopeError(
        'bad-argument',
        `party ${p.index}: session key repeats another party's or an identity key`,
      );
    seen.push(sessionRaw);
    out.set(p.index, { ...p, sessionKey: key, sessionRaw });
  }
  return out;
}

/** Validate a session view; returns parties by index. Throws EnvelopeError('bad-argument'). */
export function checkView(view: SessionView): Map<number, PartyState> {
  checkText(view.protocol, MAX_PROTOCOL_BYTES, 'protocol');
  if (!(view.sid instanceof Uint8Array) || view.sid.length === 0 || view.sid.length > MAX_SID_BYTES) {
    throw new EnvelopeError('bad-argument', `sid must be 1..${MAX_SID_BYTES} bytes`);
  }
  if (view.parties.length < 2) throw new EnvelopeError('bad-argument', 'a session needs at least two parties');
  const out = new Map<number, PartyState>();
  const ids = new Set<string>();
  const keys: Uint8Array[] = [];
  let last = -1;
  for (const p of view.parties) {
    if (!isIndex(p.index) || p.index <= last)
      throw new EnvelopeError('bad-argument', 'party indices must be distinct, increasing, non-negative integers');
    last = p.index;
    const nodeId = checkText(p.nodeId, MAX_NODE_ID_BYTES, 'node id');
    if (ids.has(p.nodeId)) throw new EnvelopeError('bad-argument', `duplicate node id for party ${p.index}`);
    ids.add(p.nodeId);
    if (!isP256PublicKey(p.publicKey))
      throw new EnvelopeError('bad-argument', `party ${p.index}: identity key must be a P-256 public key`);
    const raw = rawPublicKey(p.publicKey);
    if (keys.some((k) => equalBytes(k, raw)))
      throw new EnvelopeError('bad-argument', `party ${p.index}: identity key shared with another party`);
    keys.push(raw);
    out.set(p.index, { index: p.index, nodeId, publicKey: p.publicKey, raw });
  }
  return out;
}
