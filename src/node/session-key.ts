/**
 * A node's per-session encryption key (forward secrecy for point-to-point envelopes,
 * src/envelope/envelope.ts): made fresh at `prepare`, its public half handed out with an
 * identity-key signature over the session it belongs to; at `start` every other party's key is
 * checked against that party's pinned identity key, and ours must be at our position. The private
 * half lives in the session's memory only and goes with it.
 * @module
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { publicKeyFromRaw, rawPublicKey, signSessionKey, verifySessionKey } from '../envelope/session-keys.js';
import type { GroupMember } from './service.js';

/** A session key as `prepare` answers it and `start` lists it (hex). */
export interface SessionKeyAnswer {
  readonly key: string;
  readonly signature: string;
}

export interface SessionKeyPair {
  /** taken (and cleared here) by the session that uses it: no other reference stays behind */
  privateKey: KeyObject | undefined;
  readonly answer: SessionKeyAnswer;
}

/** The private half, once: the holder is emptied, so only the caller keeps it. */
export function takeSessionKey(pair: SessionKeyPair): KeyObject {
  const key = pair.privateKey;
  pair.privateKey = undefined;
  if (key === undefined) throw new Error('the session key was already taken');
  return key;
}

interface Context {
  readonly protocol: string;
  readonly sessionId: string;
}

/** A fresh session key pair for party `index`, its public half signed with the identity key. */
export function newSessionKey(
  ctx: Context,
  index: number,
  nodeId: string,
  nonce: string,
  identityKey: KeyObject,
): SessionKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = rawPublicKey(publicKey);
  const signature = signSessionKey({ ...ctx, index, nodeId, nonce, key }, identityKey);
  return {
    privateKey,
    answer: { key: Buffer.from(key).toString('hex'), signature: Buffer.from(signature).toString('hex') },
  };
}

/**
 * The participants' session public keys, in participant order, or why `start`'s list is refused:
 * one per participant, ours (`mine`) at our position, every other one signed by its party's pinned
 * identity key for this session and that party's nonce. A bad key names nobody: the relay hands the
 * list over and could have altered any entry.
 */
export function checkSessionKeys(
  ctx: Context,
  listed: readonly SessionKeyAnswer[],
  participants: readonly number[],
  nonces: readonly string[],
  group: readonly GroupMember[],
  me: number,
  mine: SessionKeyAnswer,
): KeyObject[] | string {
  if (listed.length !== participants.length || nonces.length !== participants.length)
    return 'one session key per participant is needed';
  const at = participants.indexOf(me);
  const own = listed[at];
  if (own?.key !== mine.key) return 'session keys do not include ours at our position';
  const keys: KeyObject[] = [];
  for (const [k, index] of participants.entries()) {
    const entry = listed[k] as SessionKeyAnswer;
    const member = group[index] as GroupMember;
    const raw = Uint8Array.from(Buffer.from(entry.key, 'hex'));
    let key: KeyObject;
    try {
      key = publicKeyFromRaw(raw);
    } catch {
      return `the session key listed for party ${index} is not a P-256 point`;
    }
    if (
      k !== at &&
      !verifySessionKey(
        { ...ctx, index, nodeId: member.nodeId, nonce: nonces[k] as string, key: raw },
        Uint8Array.from(Buffer.from(entry.signature, 'hex')),
        member.publicKey,
      )
    ) {
      return `the session key listed for party ${index} is not signed by it for this session`;
    }
    keys.push(key);
  }
  if (new Set(listed.map((e) => e.key)).size !== listed.length) return 'session keys repeat';
  // a party that hands out its identity key as its session key would give up forward secrecy for every body sent to it
  const identities = new Set(group.map((m) => Buffer.from(rawPublicKey(m.publicKey)).toString('hex')));
  if (listed.some((e) => identities.has(e.key))) return 'a session key is an identity key';
  return keys;
}
