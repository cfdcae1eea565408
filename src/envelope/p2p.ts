/**
 * Point-to-point encryption (see envelope.ts, "P2P encryption"): the AES-256-GCM key of one
 * message from ECDH with the recipient's session key, bound to the session, both parties and the
 * message's ephemeral key; the envelope's prefix is the associated data.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { Writer } from '../protocol/codec.js';
import type { SessionParty } from './parties.js';
import { aeadOpen, aeadSeal, deriveAeadKey, ecdh, publicKeyFromRaw } from './session-keys.js';
import type { DecodedEnvelope } from './types.js';
import { utf8 } from './wire.js';

const KEY_TAG = 'mpc-engine/v2/envelope/p2p-key';

/** The session a p2p body belongs to. */
export interface P2pSession {
  readonly protocol: string;
  readonly sid: Uint8Array;
}

function keyInfo(s: P2pSession, from: SessionParty, to: SessionParty, ephemeral: Uint8Array): Uint8Array {
  return new Writer()
    .bytes(utf8.encode(KEY_TAG))
    .bytes(utf8.encode(s.protocol))
    .bytes(s.sid)
    .u32(from.index)
    .bytes(from.nodeId)
    .bytes(from.raw)
    .bytes(from.sessionRaw)
    .u32(to.index)
    .bytes(to.nodeId)
    .bytes(to.raw)
    .bytes(to.sessionRaw)
    .bytes(ephemeral)
    .finish();
}

/**
 * Encrypt `body` from `from` (identity private key `fromKey`) to `to`'s session key under the
 * fresh ephemeral key `eph`, with `prefix` as associated data: ciphertext ‖ tag.
 */
export function sealP2p(
  s: P2pSession,
  from: SessionParty,
  fromKey: KeyObject,
  to: SessionParty,
  eph: { readonly privateKey: KeyObject; readonly raw: Uint8Array },
  prefix: Uint8Array,
  body: Uint8Array,
): Uint8Array {
  const ssE = ecdh(eph.privateKey, to.sessionKey);
  const ssS = ecdh(fromKey, to.sessionKey);
  const key = deriveAeadKey(ssE, ssS, keyInfo(s, from, to, eph.raw));
  ssE.fill(0);
  ssS.fill(0);
  try {
    return aeadSeal(key, prefix, body);
  } finally {
    key.fill(0);
  }
}

/** Decrypt the p2p body of `d` from `sender` to `me` with my session private key; undefined if it does not open. */
export function openP2p(
  s: P2pSession,
  d: DecodedEnvelope,
  sender: SessionParty,
  me: SessionParty,
  mySessionKey: KeyObject,
): Uint8Array | undefined {
  let ephKey: KeyObject;
  try {
    ephKey = publicKeyFromRaw(d.ephemeral);
  } catch {
    return undefined;
  }
  const ssE = ecdh(mySessionKey, ephKey);
  const ssS = ecdh(mySessionKey, sender.publicKey);
  const key = deriveAeadKey(ssE, ssS, keyInfo(s, sender, me, d.ephemeral));
  ssE.fill(0);
  ssS.fill(0);
  try {
    return aeadOpen(key, d.prefix, d.payload);
  } finally {
    key.fill(0);
  }
}
