/**
 * The envelope layer's constants, error and shapes (see envelope.ts for the design).
 * @module
 */
import type { KeyObject } from 'node:crypto';
import type { Msg } from '../protocol/machine.js';

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
