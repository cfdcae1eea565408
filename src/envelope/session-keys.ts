/**
 * Key handling for node-to-node envelopes (docs/security.md, relay rules 1–3), on `node:crypto` only:
 *
 * - long-term node identity keys are P-256 `KeyObject`s (the node's TLS certificate key),
 *   pinned out of band;
 * - signatures are ECDSA-P256-SHA256 in IEEE P1363 form (r ‖ s, 64 bytes), normalised to low s
 *   and verified as low s only, so each (key, message, nonce k) has one signature encoding and a
 *   relay cannot re-encode a valid signature (s → n − s) into "different bytes";
 * - every party makes a fresh P-256 session key pair per session and vouches for its public half
 *   with an identity-key signature (signSessionKey), so a relay cannot substitute its own;
 * - point-to-point encryption keys come from ECDH(ephemeral, recipient session key) ‖ ECDH(sender
 *   identity, recipient session key) → HKDF-SHA256 → a 256-bit AES-GCM key that is used for
 *   exactly one message. No long-lived key decrypts anything (forward secrecy).
 *
 * Nothing here logs, and no error carries key material.
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { Writer } from '../protocol/codec.js';

/** Order of the P-256 group. */
export const P256_ORDER = 0xffffffff_00000000_ffffffff_ffffffff_bce6faad_a7179e84_f3b9cac2_fc632551n;
const HALF_ORDER = P256_ORDER >> 1n;

/** ECDSA P-256 signature, IEEE P1363 (r ‖ s). */
export const SIGNATURE_BYTES = 64;
/** Uncompressed SEC1 P-256 point (0x04 ‖ x ‖ y). */
export const RAW_PUBLIC_KEY_BYTES = 65;
export const AEAD_KEY_BYTES = 32;
export const AEAD_TAG_BYTES = 16;
export const AEAD_NONCE_BYTES = 12;

/** DER prefix of a SubjectPublicKeyInfo holding an uncompressed P-256 point (id-ecPublicKey, prime256v1). */
const SPKI_P256_PREFIX = Uint8Array.from(Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'));

export function isP256PublicKey(k: unknown): k is KeyObject {
  return (
    isKeyObject(k) &&
    k.type === 'public' &&
    k.asymmetricKeyType === 'ec' &&
    k.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  );
}

export function isP256PrivateKey(k: unknown): k is KeyObject {
  return (
    isKeyObject(k) &&
    k.type === 'private' &&
    k.asymmetricKeyType === 'ec' &&
    k.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  );
}

function isKeyObject(k: unknown): k is KeyObject {
  return (
    typeof k === 'object' &&
    k !== null &&
    typeof (k as KeyObject).export === 'function' &&
    typeof (k as KeyObject).type === 'string'
  );
}

/** The 65-byte uncompressed SEC1 encoding of a P-256 public key (or of a private key's public part). */
export function rawPublicKey(k: KeyObject): Uint8Array {
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string')
    throw new TypeError('not a P-256 key');
  const x = Buffer.from(jwk.x, 'base64url');
  const y = Buffer.from(jwk.y, 'base64url');
  if (x.length !== 32 || y.length !== 32) throw new TypeError('not a P-256 key');
  const out = new Uint8Array(RAW_PUBLIC_KEY_BYTES);
  out[0] = 0x04;
  out.set(x, 1);
  out.set(y, 33);
  return out;
}

/**
 * Parse a 65-byte uncompressed P-256 point into a public KeyObject. OpenSSL rejects points that
 * are not on the curve; the identity has no uncompressed encoding, and P-256 has cofactor 1.
 * Throws a TypeError (without the input bytes) on anything else.
 */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== RAW_PUBLIC_KEY_BYTES || raw[0] !== 0x04) throw new TypeError('not an uncompressed P-256 point');
  const der = new Uint8Array(SPKI_P256_PREFIX.length + raw.length);
  der.set(SPKI_P256_PREFIX, 0);
  der.set(raw, SPKI_P256_PREFIX.length);
  let k: KeyObject;
  try {
    k = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch {
    throw new TypeError('invalid P-256 point');
  }
  if (!isP256PublicKey(k)) throw new TypeError('invalid P-256 point');
  return k;
}

/** Whether two P-256 keys (public, or the public part of private) are the same point. */
export function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return Buffer.from(rawPublicKey(a)).equals(Buffer.from(rawPublicKey(b)));
}

/** ECDSA-P256-SHA256 over `data`, P1363 encoded, s normalised to the lower half. */
export function signLowS(data: Uint8Array, privateKey: KeyObject): Uint8Array {
  const sig = Uint8Array.from(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  if (sig.length !== SIGNATURE_BYTES) throw new Error('unexpected ECDSA signature length');
  const s = bytesToBigInt(sig.subarray(32));
  if (s > HALF_ORDER) sig.set(bigIntTo32(P256_ORDER - s), 32);
  return sig;
}

/** Verify a low-s P1363 ECDSA-P256-SHA256 signature. Never throws on bad input; returns false. */
export function verifyLowS(data: Uint8Array, sig: Uint8Array, publicKey: KeyObject): boolean {
  if (sig.length !== SIGNATURE_BYTES) return false;
  const r = bytesToBigInt(sig.subarray(0, 32));
  const s = bytesToBigInt(sig.subarray(32));
  if (r === 0n || r >= P256_ORDER || s === 0n || s > HALF_ORDER) return false;
  try {
    return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

/** A fresh ephemeral P-256 key pair; the public half as its raw 65-byte point. */
export function newEphemeralKey(): { privateKey: KeyObject; raw: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, raw: rawPublicKey(publicKey) };
}

const SESSION_KEY_TAG = 'mpc-engine/v1/session-key';

/** What a party vouches for when it hands out a session key (at `prepare`). */
export interface SessionKeyClaim {
  readonly protocol: string;
  /** the coordinator's session id */
  readonly sessionId: string;
  /** the party's index and node id */
  readonly index: number;
  readonly nodeId: string;
  /** the party's prepare nonce (hex) */
  readonly nonce: string;
  /** the session public key, raw 65-byte point */
  readonly key: Uint8Array;
}

function claimBytes(c: SessionKeyClaim): Uint8Array {
  const utf8 = new TextEncoder();
  return new Writer()
    .bytes(utf8.encode(SESSION_KEY_TAG))
    .bytes(utf8.encode(c.protocol))
    .bytes(utf8.encode(c.sessionId))
    .u32(c.index)
    .bytes(utf8.encode(c.nodeId))
    .bytes(Buffer.from(c.nonce, 'hex'))
    .bytes(c.key)
    .finish();
}

/** The identity key's signature over a session key claim (64 bytes, low s). */
export function signSessionKey(c: SessionKeyClaim, identityKey: KeyObject): Uint8Array {
  return signLowS(claimBytes(c), identityKey);
}

/** Whether `sig` is the party's identity-key signature over the claim. Never throws. */
export function verifySessionKey(c: SessionKeyClaim, sig: Uint8Array, identityKey: KeyObject): boolean {
  return verifyLowS(claimBytes(c), sig, identityKey);
}

/** Raw ECDH shared secret (x-coordinate, 32 bytes). */
export function ecdh(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  return Uint8Array.from(diffieHellman({ privateKey, publicKey }));
}

/**
 * HKDF-SHA256(ikm = ecdhEphemeral ‖ ecdhStatic, salt = empty, info) → 32-byte AES-256-GCM key.
 * `info` must already bind the context (sid, protocol, both indices and node ids, the ephemeral
 * key); node caps it at 1024 bytes. The caller should zero the returned key after use.
 */
export function deriveAeadKey(ecdhEphemeral: Uint8Array, ecdhStatic: Uint8Array, info: Uint8Array): Uint8Array {
  if (info.length > 1024) throw new RangeError('HKDF info longer than 1024 bytes');
  const ikm = new Uint8Array(ecdhEphemeral.length + ecdhStatic.length);
  ikm.set(ecdhEphemeral, 0);
  ikm.set(ecdhStatic, ecdhEphemeral.length);
  try {
    return new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), info, AEAD_KEY_BYTES));
  } finally {
    ikm.fill(0);
  }
}

/**
 * The fixed all-zero nonce. Safe only because every AEAD key encrypts exactly one message: the
 * key is derived from a fresh ephemeral ECDH secret (and the ephemeral public key is in the HKDF
 * info), so a (key, nonce) pair repeats only if an ephemeral key repeats (probability ≈ 2^-128).
 */
const ZERO_NONCE = new Uint8Array(AEAD_NONCE_BYTES);

/** AES-256-GCM under a single-use key: ciphertext ‖ 16-byte tag. */
export function aeadSeal(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, ZERO_NONCE, { authTagLength: AEAD_TAG_BYTES });
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  return Uint8Array.from(body);
}

/** Inverse of aeadSeal; returns undefined when the tag does not verify. */
export function aeadOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < AEAD_TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, ZERO_NONCE, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
    return Uint8Array.from(Buffer.concat([d.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES)), d.final()]));
  } catch {
    return undefined;
  }
}

function bytesToBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

function bigIntTo32(x: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
}
