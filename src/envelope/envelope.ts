/**
 * Node-to-node message security over an untrusted relaying coordinator (docs/architecture.md,
 * "Trust model"; docs/security.md, "Relay rules"). Every protocol `Msg` a node sends becomes a signed envelope; the
 * coordinator only moves these bytes. It can still drop, delay, reorder, replay, duplicate or
 * misroute them, but it cannot read a point-to-point body, forge or alter any envelope, re-target
 * one to another recipient, round or session, or make an honest node accept two different
 * messages for one slot without that becoming signed evidence against the sender.
 *
 * Wire format, version 2 (big-endian; `bytes` = u32 length ‖ data, see protocol/codec.ts):
 *
 *     prefix  = u8 version (2) ‖ u8 kind (1 bcast, 2 p2p) ‖ bytes protocol (UTF-8, 1..64)
 *             ‖ bytes sid (1..64) ‖ bytes round (UTF-8, 1..64) ‖ u32 from
 *             ‖ u32 to (0xffffffff = all, iff bcast) ‖ u32 seq (per sender, per session)
 *             ‖ bytes ephemeral (empty for bcast; 65-byte uncompressed P-256 point for p2p)
 *     header  = prefix ‖ SHA-256(payload) (32 bytes)
 *     body    = header ‖ bytes payload (bcast: the Msg body; p2p: AES-256-GCM ciphertext ‖ tag)
 *     envelope = body ‖ signature (64 bytes, ECDSA-P256-SHA256 P1363, low s)
 *               over bytes("mpc-engine/v1/envelope/sig") ‖ body
 *
 * Decoding is strict: size cap before parsing, known version, every length bounded, no trailing
 * bytes, canonical UTF-8, kind/recipient/ephemeral consistent. So each envelope has one encoding
 * and any change to any byte is rejected (the tests mutate every byte).
 *
 * P2P encryption (encrypt-then-sign), to the recipient's session key: every party makes a fresh
 * P-256 key pair E for each session (at `prepare`, signed with its identity key so a relay cannot
 * substitute its own; every party's E is bound into the sid), keeps the private half in that
 * session's memory only and drops it when the session ends. Per message, a fresh ephemeral P-256
 * key e; k = HKDF-SHA256(ikm = ECDH(e, E_r) ‖ ECDH(S, E_r), salt = "", info = tag ‖ protocol ‖ sid
 * ‖ sender index, node id, identity key, session key ‖ recipient index, node id, identity key,
 * session key ‖ e_pub), where S is the sender's identity key; AES-256-GCM under k with the zero
 * nonce and the prefix (everything in the header except the hash of the ciphertext itself) as
 * associated data. The signature then covers the ciphertext and the whole header, so a relay
 * cannot re-target it, and the AAD binds the plaintext to the same header independently.
 *
 * Forward secrecy: nothing long-lived decrypts a p2p body. Version 1 encrypted to the recipient's
 * identity key R (ECDH(e, R) ‖ ECDH(S, R)), so whoever recorded the relayed traffic and later
 * stole one node's identity key read every share ever sent to it; version 1 is refused. Now a
 * stolen identity key gives the ECDH(S, E_r) half only: without E_r's private half, gone with its
 * session, past bodies stay sealed. It still lets the thief impersonate that node in new sessions.
 *
 * Attribution: a check that fails before the signature is verified (size, format, session,
 * unknown or own sender, wrong recipient, the signature itself) names nobody — anyone, the relay
 * included, can produce such bytes. A check that fails on a validly signed envelope (payload hash,
 * equivocation, wrong kind for the round, undecryptable or malformed ciphertext) names the sender,
 * who signed it.
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { createHash, type KeyObject } from 'node:crypto';
import type { Expectation, Msg } from '../protocol/machine.js';
import { DecodeError, Reader, Writer } from '../protocol/codec.js';
import {
  AEAD_TAG_BYTES,
  RAW_PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  aeadOpen,
  aeadSeal,
  deriveAeadKey,
  ecdh,
  isP256PrivateKey,
  isP256PublicKey,
  newEphemeralKey,
  publicKeyFromRaw,
  rawPublicKey,
  samePublicKey,
  signLowS,
  verifyLowS,
} from './session-keys.js';

/** 2: p2p bodies encrypted to per-session keys (forward secrecy); version 1 is refused. */
export const ENVELOPE_VERSION = 2;
/** Default total size cap of one envelope (aux-info rounds are ~100 KB; docs/security.md, relay rule 8). */
export const DEFAULT_MAX_ENVELOPE_BYTES = 1 << 20;
export const MAX_PROTOCOL_BYTES = 64;
export const MAX_SID_BYTES = 64;
export const MAX_ROUND_BYTES = 64;
export const MAX_NODE_ID_BYTES = 128;
/** `to` on the wire for a broadcast. */
export const TO_ALL = 0xffff_ffff;
/** Highest sequence number; a session that would need more refuses to seal. */
export const MAX_SEQ = 0xffff_fffe;

const KIND_BCAST = 1;
const KIND_P2P = 2;
const SIGN_TAG = 'mpc-engine/v1/envelope/sig';
const KEY_TAG = 'mpc-engine/v2/envelope/p2p-key';
const HASH_BYTES = 32;
/** Smallest possible envelope: fixed fields, three 1-byte strings, empty payload, signature. */
const MIN_ENVELOPE_BYTES = 1 + 1 + (4 + 1) * 3 + 4 * 3 + 4 + HASH_BYTES + 4 + SIGNATURE_BYTES;

export type EnvelopeKind = 'bcast' | 'p2p';

/** Why an envelope was refused. See the module comment for which codes name a culprit. */
export type EnvelopeErrorCode =
  /** larger than the size cap (checked before parsing) */
  | 'too-large'
  /** not a well-formed envelope (truncated, trailing bytes, bad lengths, bad kind, …) */
  | 'malformed'
  /** a version this build does not speak */
  | 'unsupported-version'
  /** for another sid or protocol (a replay from another session) */
  | 'wrong-session'
  /** sender index not in the session's party list */
  | 'unknown-sender'
  /** claims to be from me (a reflected copy of my own message) */
  | 'own-message'
  /** p2p not addressed to me, or a broadcast with a recipient (cross-routing) */
  | 'wrong-recipient'
  /** signature does not verify under the claimed sender's pinned key */
  | 'bad-signature'
  /** validly signed, but the signed payload hash does not match the payload (sender) */
  | 'payload-hash-mismatch'
  /** two different validly signed envelopes for one slot (sender; evidence attached) */
  | 'equivocation'
  /** validly signed bcast for a p2p round or vice versa (sender) */
  | 'wrong-kind'
  /** validly signed, for a round the caller does not currently accept (stale or early) */
  | 'unexpected-round'
  /** validly signed p2p whose ciphertext or ephemeral key is invalid (sender) */
  | 'decrypt-failed'
  /** a set of envelopes offered as evidence (openBroadcastEvidence) does not prove what it should */
  | 'bad-evidence'
  /** a local programming or configuration error (bad context, bad outgoing Msg) */
  | 'bad-argument';

/** Two different envelopes, both validly signed by `culprit`, for the same slot or sequence number. */
export interface EquivocationEvidence {
  readonly culprit: number;
  /** 'slot': same (round, kind, recipient); 'seq': same per-sender sequence number */
  readonly conflict: 'slot' | 'seq';
  /** the envelope accepted first */
  readonly first: Uint8Array;
  /** the conflicting envelope */
  readonly second: Uint8Array;
}

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  /** the party that provably misbehaved, when one can be named */
  readonly culprit?: number;
  readonly evidence?: EquivocationEvidence;

  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
    extra: { readonly culprit?: number | undefined; readonly evidence?: EquivocationEvidence | undefined } = {},
  ) {
    super(`${code}: ${message}`);
    if (extra.culprit !== undefined) this.culprit = extra.culprit;
    if (extra.evidence !== undefined) this.evidence = extra.evidence;
  }
}

/** One session participant, with its pinned long-term identity key. */
export interface PartyIdentity {
  /** party index in the protocol (Msg.from / Msg.to) */
  readonly index: number;
  /** stable node identifier (e.g. the certificate subject), bound into p2p keys */
  readonly nodeId: string;
  /** pinned P-256 public key, provisioned out of band — never learned from the coordinator */
  readonly publicKey: KeyObject;
}

/** What everybody knows about a session (enough to check signatures and evidence). */
export interface SessionView {
  readonly sid: Uint8Array;
  readonly protocol: string;
  /** ordered by strictly increasing index */
  readonly parties: readonly PartyIdentity[];
}

/** One node's view of a session. */
export interface EnvelopeContext extends SessionView {
  readonly me: number;
  /** my long-term P-256 private key (matches my entry in `parties`): signs, never decrypts */
  readonly myPrivateKey: KeyObject;
  /** every party's session P-256 public key, in `parties` order (p2p bodies are encrypted to these) */
  readonly sessionKeys: readonly KeyObject[];
  /** my session private key (matches my entry in `sessionKeys`); dropped by dispose() */
  readonly mySessionKey: KeyObject;
  /** total envelope size cap, default DEFAULT_MAX_ENVELOPE_BYTES */
  readonly maxEnvelopeBytes?: number;
}

/** Result of `open`: a new message, or a byte-identical (signed-content-identical) repeat to ignore. */
export type Opened =
  | { readonly status: 'accepted'; readonly msg: Msg; readonly seq: number; readonly envelope: Uint8Array }
  | { readonly status: 'duplicate'; readonly from: number; readonly round: string; readonly seq: number };

/** A strictly decoded envelope (nothing verified but its form). */
export interface DecodedEnvelope {
  readonly version: number;
  readonly kind: EnvelopeKind;
  readonly protocol: string;
  readonly sid: Uint8Array;
  readonly round: string;
  readonly from: number;
  readonly to: number | 'all';
  readonly seq: number;
  /** raw ephemeral P-256 point (p2p) or empty (bcast) */
  readonly ephemeral: Uint8Array;
  readonly payloadHash: Uint8Array;
  /** bcast: the message body; p2p: ciphertext ‖ GCM tag */
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
  /** the AES-GCM associated data: the encoded prefix */
  readonly prefix: Uint8Array;
  /** everything the signature covers after the tag: the envelope without its signature */
  readonly body: Uint8Array;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function sha256(b: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(b).digest());
}

const SIGN_TAG_BYTES = new Writer().bytes(utf8.encode(SIGN_TAG)).finish();

function signedData(body: Uint8Array): Uint8Array {
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

function encodePrefix(f: PrefixFields): Uint8Array {
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

function checkText(s: unknown, max: number, what: string): Uint8Array {
  if (typeof s !== 'string' || s.length === 0)
    throw new EnvelopeError('bad-argument', `${what} must be a non-empty string`);
  const b = utf8.encode(s);
  if (b.length > max) throw new EnvelopeError('bad-argument', `${what} longer than ${max} bytes`);
  if (strictUtf8.decode(b) !== s) throw new EnvelopeError('bad-argument', `${what} is not well-formed Unicode`);
  return b;
}

function isIndex(i: unknown): i is number {
  return typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < TO_ALL;
}

interface PartyState {
  readonly index: number;
  readonly nodeId: Uint8Array;
  readonly publicKey: KeyObject;
  readonly raw: Uint8Array;
}

/** A party of a running session: its identity and its session key. */
interface SessionParty extends PartyState {
  readonly sessionKey: KeyObject;
  readonly sessionRaw: Uint8Array;
}

/** Pair each party with its session key: P-256, distinct, none an identity key. Throws EnvelopeError('bad-argument'). */
function withSessionKeys(parties: Map<number, PartyState>, keys: readonly KeyObject[]): Map<number, SessionParty> {
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
function checkView(view: SessionView): Map<number, PartyState> {
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

function verifySignature(d: DecodedEnvelope, key: KeyObject): boolean {
  return verifyLowS(signedData(d.body), d.signature, key);
}

function slotKey(from: number, kind: EnvelopeKind, to: number | 'all', round: string): string {
  return JSON.stringify([from, kind, to, round]);
}

interface Seen {
  readonly body: Uint8Array;
  readonly envelope: Uint8Array;
}

/**
 * One node's envelope layer for one session: seals its outgoing messages, opens incoming ones,
 * and remembers what each sender has sent (duplicate and equivocation detection).
 *
 * Seal each outgoing Msg exactly once and retransmit the sealed bytes: sealing the same Msg again
 * makes a different envelope (new sequence number, new ephemeral key) which receivers treat as
 * equivocation.
 */
export class EnvelopeSession {
  readonly sid: Uint8Array;
  readonly protocol: string;
  readonly me: number;
  readonly maxEnvelopeBytes: number;
  private readonly parties: Map<number, SessionParty>;
  private readonly myPrivateKey: KeyObject;
  /** undefined once the session ended (dispose): its p2p bodies can no longer be opened by anyone */
  private mySessionKey: KeyObject | undefined;
  private readonly bySlot = new Map<string, Seen>();
  private readonly bySeq = new Map<string, Seen>();
  private nextSeq = 0;

  constructor(ctx: EnvelopeContext) {
    this.parties = withSessionKeys(checkView(ctx), ctx.sessionKeys);
    if (!isIndex(ctx.me) || !this.parties.has(ctx.me))
      throw new EnvelopeError('bad-argument', 'me is not in the party list');
    if (!isP256PrivateKey(ctx.myPrivateKey))
      throw new EnvelopeError('bad-argument', 'my identity key must be a P-256 private key');
    const mine = this.parties.get(ctx.me) as SessionParty;
    if (!samePublicKey(ctx.myPrivateKey, mine.publicKey))
      throw new EnvelopeError('bad-argument', 'my private key does not match my pinned public key');
    if (!isP256PrivateKey(ctx.mySessionKey) || !samePublicKey(ctx.mySessionKey, mine.sessionKey))
      throw new EnvelopeError('bad-argument', 'my session private key does not match my session key');
    const max = ctx.maxEnvelopeBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
    if (!Number.isInteger(max) || max < MIN_ENVELOPE_BYTES || max > 0x7fff_ffff)
      throw new EnvelopeError('bad-argument', 'bad envelope size cap');
    this.sid = Uint8Array.from(ctx.sid);
    this.protocol = ctx.protocol;
    this.me = ctx.me;
    this.myPrivateKey = ctx.myPrivateKey;
    this.mySessionKey = ctx.mySessionKey;
    this.maxEnvelopeBytes = max;
  }

  /** Seal one outgoing protocol message (from = me). */
  seal(msg: Msg): Uint8Array {
    if (msg.from !== this.me)
      throw new EnvelopeError('bad-argument', `message from ${String(msg.from)} sealed by party ${this.me}`);
    checkText(msg.round, MAX_ROUND_BYTES, 'round');
    if (!(msg.body instanceof Uint8Array)) throw new EnvelopeError('bad-argument', 'body must be bytes');
    let kind: EnvelopeKind;
    let to: SessionParty | undefined;
    if (msg.to === 'all') {
      kind = 'bcast';
    } else {
      to = isIndex(msg.to) ? this.parties.get(msg.to) : undefined;
      if (!to || msg.to === this.me)
        throw new EnvelopeError('bad-argument', `recipient ${String(msg.to)} is not another party of the session`);
      kind = 'p2p';
    }
    if (msg.body.length > this.maxEnvelopeBytes)
      throw new EnvelopeError('bad-argument', `body of ${msg.body.length} bytes exceeds the envelope cap`);
    if (this.nextSeq > MAX_SEQ) throw new EnvelopeError('bad-argument', 'sequence numbers exhausted');
    if (this.mySessionKey === undefined) throw new EnvelopeError('bad-argument', 'the session has ended');
    const seq = this.nextSeq++;
    let prefix: Uint8Array;
    let payload: Uint8Array;
    if (to === undefined) {
      prefix = encodePrefix({
        kind,
        protocol: this.protocol,
        sid: this.sid,
        round: msg.round,
        from: this.me,
        to: 'all',
        seq,
        ephemeral: new Uint8Array(0),
      });
      payload = Uint8Array.from(msg.body);
    } else {
      const eph = newEphemeralKey();
      prefix = encodePrefix({
        kind,
        protocol: this.protocol,
        sid: this.sid,
        round: msg.round,
        from: this.me,
        to: to.index,
        seq,
        ephemeral: eph.raw,
      });
      const ssE = ecdh(eph.privateKey, to.sessionKey);
      const ssS = ecdh(this.myPrivateKey, to.sessionKey);
      const key = deriveAeadKey(ssE, ssS, this.keyInfo(this.partyOf(this.me), to, eph.raw));
      ssE.fill(0);
      ssS.fill(0);
      try {
        payload = aeadSeal(key, prefix, msg.body);
      } finally {
        key.fill(0);
      }
    }
    const body = new Writer().fixed(prefix).fixed(sha256(payload)).bytes(payload).finish();
    if (body.length + SIGNATURE_BYTES > this.maxEnvelopeBytes) {
      throw new EnvelopeError(
        'bad-argument',
        `sealed message of ${body.length + SIGNATURE_BYTES} bytes exceeds the cap of ${this.maxEnvelopeBytes}`,
      );
    }
    return concatBytes(body, signLowS(signedData(body), this.myPrivateKey));
  }

  /**
   * Open one incoming envelope. `expects` lists the rounds (and kinds) the caller accepts right
   * now — include future rounds it buffers, so a reordered message is not refused. Returns the
   * protocol Msg (with the sealed bytes, to keep as evidence), or 'duplicate' for a repeat of an
   * envelope already accepted (ignore it). Throws EnvelopeError otherwise; `culprit` is set only
   * when the sender provably misbehaved (see the module comment).
   */
  open(input: Uint8Array, expects: readonly Expectation[]): Opened {
    if (this.mySessionKey === undefined) throw new EnvelopeError('bad-argument', 'the session has ended');
    if (input.length > this.maxEnvelopeBytes)
      throw new EnvelopeError(
        'too-large',
        `envelope of ${input.length} bytes exceeds the cap of ${this.maxEnvelopeBytes}`,
      );
    const envelope = Uint8Array.from(input); // our own copy: the caller's buffer may be reused
    const d = decodeEnvelope(envelope, this.maxEnvelopeBytes);
    if (d.protocol !== this.protocol || !equalBytes(d.sid, this.sid))
      throw new EnvelopeError('wrong-session', 'envelope belongs to another session or protocol');
    const sender = this.parties.get(d.from);
    if (!sender) throw new EnvelopeError('unknown-sender', `sender index ${d.from} is not in the session`);
    if (d.from === this.me) throw new EnvelopeError('own-message', 'envelope claims to come from this node');
    if (d.kind === 'p2p' ? d.to !== this.me : d.to !== 'all')
      throw new EnvelopeError('wrong-recipient', `envelope addressed to ${String(d.to)}, not to party ${this.me}`);
    if (!verifySignature(d, sender.publicKey))
      throw new EnvelopeError('bad-signature', `signature does not verify under party ${d.from}'s pinned key`);

    // From here on the sender signed exactly these bytes: every failure is the sender's.
    const culprit = d.from;
    if (!equalBytes(sha256(d.payload), d.payloadHash))
      throw new EnvelopeError(
        'payload-hash-mismatch',
        `party ${culprit} signed a header whose payload hash does not match`,
        { culprit },
      );

    const slot = slotKey(d.from, d.kind, d.to, d.round);
    const seqKey = `${d.from}/${d.seq}`;
    const prevSlot = this.bySlot.get(slot);
    const prevSeq = this.bySeq.get(seqKey);
    if (prevSlot && equalBytes(prevSlot.body, d.body))
      return { status: 'duplicate', from: d.from, round: d.round, seq: d.seq };
    if (prevSlot) {
      throw new EnvelopeError(
        'equivocation',
        `party ${culprit} signed two different ${d.kind} messages for round ${JSON.stringify(d.round)}`,
        {
          culprit,
          evidence: { culprit, conflict: 'slot', first: prevSlot.envelope, second: envelope },
        },
      );
    }
    if (prevSeq) {
      throw new EnvelopeError(
        'equivocation',
        `party ${culprit} signed two different messages with sequence number ${d.seq}`,
        {
          culprit,
          evidence: { culprit, conflict: 'seq', first: prevSeq.envelope, second: envelope },
        },
      );
    }

    const forRound = expects.filter((e) => e.round === d.round);
    if (forRound.length === 0)
      throw new EnvelopeError(
        'unexpected-round',
        `round ${JSON.stringify(d.round)} from party ${d.from} is not expected now`,
      );
    if (!forRound.some((e) => e.broadcast === (d.kind === 'bcast'))) {
      throw new EnvelopeError(
        'wrong-kind',
        `party ${culprit} sent a ${d.kind} message for round ${JSON.stringify(d.round)}`,
        { culprit },
      );
    }

    let body: Uint8Array;
    if (d.kind === 'bcast') {
      body = Uint8Array.from(d.payload);
    } else {
      const opened = this.decrypt(d, sender, this.mySessionKey);
      if (!opened)
        throw new EnvelopeError('decrypt-failed', `party ${culprit}'s point-to-point ciphertext does not decrypt`, {
          culprit,
        });
      body = opened;
    }
    const seen: Seen = { body: d.body, envelope };
    this.bySlot.set(slot, seen);
    this.bySeq.set(seqKey, seen);
    return { status: 'accepted', msg: { from: d.from, to: d.to, round: d.round, body }, seq: d.seq, envelope };
  }

  /**
   * Drop my session private key (call when the session ends: done, aborted, cancelled, expired).
   * Afterwards nothing can seal or open, and the session's p2p bodies, wherever recorded, can no
   * longer be decrypted with anything this node keeps.
   */
  dispose(): void {
    this.mySessionKey = undefined;
  }

  private partyOf(i: number): SessionParty {
    return this.parties.get(i) as SessionParty;
  }

  private keyInfo(from: SessionParty, to: SessionParty, ephemeral: Uint8Array): Uint8Array {
    return new Writer()
      .bytes(utf8.encode(KEY_TAG))
      .bytes(utf8.encode(this.protocol))
      .bytes(this.sid)
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

  private decrypt(d: DecodedEnvelope, sender: SessionParty, mySessionKey: KeyObject): Uint8Array | undefined {
    let ephKey: KeyObject;
    try {
      ephKey = publicKeyFromRaw(d.ephemeral);
    } catch {
      return undefined;
    }
    const ssE = ecdh(mySessionKey, ephKey);
    const ssS = ecdh(mySessionKey, sender.publicKey);
    const key = deriveAeadKey(ssE, ssS, this.keyInfo(sender, this.partyOf(this.me), d.ephemeral));
    ssE.fill(0);
    ssS.fill(0);
    try {
      return aeadOpen(key, d.prefix, d.payload);
    } finally {
      key.fill(0);
    }
  }
}

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
