/**
 * The envelope wire format (see envelope.ts for the format and its rules): strict encoding and
 * decoding of the header, and the signature over it.
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { createHash, type KeyObject } from 'node:crypto';
import { DecodeError, Reader, Writer } from '../protocol/codec.js';
import { AEAD_TAG_BYTES, RAW_PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signLowS, verifyLowS } from './session-keys.js';
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  ENVELOPE_VERSION,
  EnvelopeError,
  MAX_PROTOCOL_BYTES,
  MAX_ROUND_BYTES,
  MAX_SID_BYTES,
  TO_ALL,
  type DecodedEnvelope,
  type EnvelopeKind,
} from './types.js';

const KIND_BCAST = 1;
const KIND_P2P = 2;
const SIGN_TAG = 'mpc-engine/v1/envelope/sig';
const HASH_BYTES = 32;
/** Smallest possible envelope: fixed fields, three 1-byte strings, empty payload, signature. */
export const MIN_ENVELOPE_BYTES = 1 + 1 + (4 + 1) * 3 + 4 * 3 + 4 + HASH_BYTES + 4 + SIGNATURE_BYTES;

export const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function sha256(b: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(b).digest());
}

const SIGN_TAG_BYTES = new Writer().bytes(utf8.encode(SIGN_TAG)).finish();

export function signedData(body: Uint8Array): Uint8Array {
  return concatBytes(SIGN_TAG_BYTES, body);
}

function readText(r: Reader, max: number, what: string): string {
  const b = r.bytes(max, what);
  if (b.length === 0) throw new DecodeError(`empty ${what}`);
  let s: string;
  try {
    s = strictUtf8.decode(b);
  } catch {
    throw new DecodeError(`${what} is not valid UTF-8`);
  }
  if (!equalBytes(utf8.encode(s), b)) throw new DecodeError(`${what} is not canonical UTF-8`);
  return s;
}

interface PrefixFields {
  readonly kind: EnvelopeKind;
  readonly protocol: string;
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  readonly to: number | 'all';
  readonly seq: number;
  readonly ephemeral: Uint8Array;
}

export function encodePrefix(f: PrefixFields): Uint8Array {
  return new Writer()
    .u8(ENVELOPE_VERSION)
    .u8(f.kind === 'bcast' ? KIND_BCAST : KIND_P2P)
    .bytes(utf8.encode(f.protocol))
    .bytes(f.sid)
    .bytes(utf8.encode(f.round))
    .u32(f.from)
    .u32(f.to === 'all' ? TO_ALL : f.to)
    .u32(f.seq)
    .bytes(f.ephemeral)
    .finish();
}

/**
 * Strictly decode an envelope without verifying anything cryptographic. Public so a router (the
 * coordinator) can read the header to route, and so evidence can be re-checked; the header it
 * returns is only trustworthy after the signature check that `EnvelopeSession.open` performs.
 * Throws EnvelopeError ('too-large' | 'malformed' | 'unsupported-version').
 */
export function decodeEnvelope(input: Uint8Array, maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES): DecodedEnvelope {
  if (input.length > maxEnvelopeBytes)
    throw new EnvelopeError('too-large', `envelope of ${input.length} bytes exceeds the cap of ${maxEnvelopeBytes}`);
  if (input.length < MIN_ENVELOPE_BYTES) throw new EnvelopeError('malformed', 'envelope too short');
  const version = input[0] as number;
  if (version !== ENVELOPE_VERSION)
    throw new EnvelopeError('unsupported-version', `envelope version ${version} is not supported`);
  const body = input.subarray(0, input.length - SIGNATURE_BYTES);
  const signature = input.subarray(input.length - SIGNATURE_BYTES);
  try {
    const r = new Reader(body);
    r.u8('version');
    const kindByte = r.u8('kind');
    if (kindByte !== KIND_BCAST && kindByte !== KIND_P2P) throw new DecodeError(`unknown envelope kind ${kindByte}`);
    const kind: EnvelopeKind = kindByte === KIND_BCAST ? 'bcast' : 'p2p';
    const protocol = readText(r, MAX_PROTOCOL_BYTES, 'protocol');
    const sid = r.bytes(MAX_SID_BYTES, 'sid');
    if (sid.length === 0) throw new DecodeError('empty sid');
    const round = readText(r, MAX_ROUND_BYTES, 'round');
    const from = r.u32('from');
    const toRaw = r.u32('to');
    const seq = r.u32('seq');
    const ephemeral = r.bytes(RAW_PUBLIC_KEY_BYTES, 'ephemeral key');
    const payloadHash = r.fixed(HASH_BYTES, 'payload hash');
    const payload = r.bytes(maxEnvelopeBytes, 'payload');
    r.end('envelope');
    if (from === TO_ALL) throw new DecodeError('sender index out of range');
    if (kind === 'bcast') {
      if (toRaw !== TO_ALL) throw new DecodeError('broadcast with a recipient');
      if (ephemeral.length !== 0) throw new DecodeError('broadcast with an ephemeral key');
    } else {
      if (toRaw === TO_ALL) throw new DecodeError('point-to-point message without a recipient');
      if (toRaw === from) throw new DecodeError('point-to-point message to its sender');
      if (ephemeral.length !== RAW_PUBLIC_KEY_BYTES || ephemeral[0] !== 0x04)
        throw new DecodeError('bad ephemeral key encoding');
      if (payload.length < AEAD_TAG_BYTES) throw new DecodeError('ciphertext shorter than its tag');
    }
    const prefixEnd = body.length - 4 - payload.length - HASH_BYTES;
    return {
      version,
      kind,
      protocol,
      sid,
      round,
      from,
      to: kind === 'bcast' ? 'all' : toRaw,
      seq,
      ephemeral,
      payloadHash,
      payload,
      signature,
      prefix: body.subarray(0, prefixEnd),
      body,
    };
  } catch (e) {
    if (e instanceof DecodeError) throw new EnvelopeError('malformed', e.message);
    throw e;
  }
}

/** Header fields and payload of an envelope to sign as-is (see encodeSignedEnvelope). */
export interface RawEnvelopeFields {
  readonly kind: EnvelopeKind;
  readonly protocol: string;
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  readonly to: number | 'all';
  readonly seq: number;
  /** empty for bcast, 65-byte point for p2p */
  readonly ephemeral: Uint8Array;
  /** the payload exactly as carried (p2p: ciphertext ‖ tag) */
  readonly payload: Uint8Array;
  /** defaults to SHA-256(payload) */
  readonly payloadHash?: Uint8Array;
}

/**
 * Low level, for tests and tools (e.g. a malicious-node harness): encode and sign the given
 * fields verbatim with `privateKey`, with no validation and no encryption. Production code seals
 * through EnvelopeSession.seal.
 */
export function encodeSignedEnvelope(f: RawEnvelopeFields, privateKey: KeyObject): Uint8Array {
  const body = new Writer()
    .fixed(encodePrefix(f))
    .fixed(f.payloadHash ?? sha256(f.payload))
    .bytes(f.payload)
    .finish();
  return concatBytes(body, signLowS(signedData(body), privateKey));
}

export function checkText(s: unknown, max: number, what: string): Uint8Array {
  if (typeof s !== 'string' || s.length === 0)
    throw new EnvelopeError('bad-argument', `${what} must be a non-empty string`);
  const b = utf8.encode(s);
  if (b.length > max) throw new EnvelopeError('bad-argument', `${what} longer than ${max} bytes`);
  if (strictUtf8.decode(b) !== s) throw new EnvelopeError('bad-argument', `${what} is not well-formed Unicode`);
  return b;
}

/**
 * Decode an envelope and check its signature under `key` (its claimed sender's pinned key): the
 * header, undefined if it does not decode or is not validly signed. For a party's signed word held
 * outside a session (e.g. a confirmation it later denies).
 */
export function openSignedHeader(input: Uint8Array, key: KeyObject): DecodedEnvelope | undefined {
  let d: DecodedEnvelope;
  try {
    d = decodeEnvelope(input);
  } catch {
    return undefined;
  }
  return verifySignature(d, key) && equalBytes(sha256(d.payload), d.payloadHash) ? d : undefined;
}

export function verifySignature(d: DecodedEnvelope, key: KeyObject): boolean {
  return verifyLowS(signedData(d.body), d.signature, key);
}

export function slotKey(from: number, kind: EnvelopeKind, to: number | 'all', round: string): string {
  return JSON.stringify([from, kind, to, round]);
}
