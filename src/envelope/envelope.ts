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
 *
 * This module is the layer's public face and holds EnvelopeSession; the parts live beside it:
 * types.ts (constants, error, shapes), wire.ts (encoding, decoding, signatures), parties.ts (the
 * session view and session keys checked), p2p.ts (encryption), evidence.ts (third-party checks).
 * @module
 */
import { equalBytes } from '@noble/curves/utils.js';
import { concatBytes } from '@noble/hashes/utils.js';
import type { KeyObject } from 'node:crypto';
import type { Expectation, Msg } from '../protocol/machine.js';
import { Writer } from '../protocol/codec.js';
import { SIGNATURE_BYTES, isP256PrivateKey, newEphemeralKey, samePublicKey, signLowS } from './session-keys.js';
import { checkView, isIndex, withSessionKeys, type SessionParty } from './parties.js';
import { openP2p, sealP2p } from './p2p.js';
import {
  DEFAULT_MAX_ENVELOPE_BYTES,
  EnvelopeError,
  MAX_ROUND_BYTES,
  MAX_SEQ,
  type EnvelopeContext,
  type EnvelopeKind,
  type Opened,
} from './types.js';
import {
  MIN_ENVELOPE_BYTES,
  checkText,
  decodeEnvelope,
  encodePrefix,
  sha256,
  signedData,
  slotKey,
  verifySignature,
} from './wire.js';

export {
  DEFAULT_MAX_ENVELOPE_BYTES,
  ENVELOPE_VERSION,
  EnvelopeError,
  TO_ALL,
  type DecodedEnvelope,
  type EnvelopeContext,
  type EnvelopeErrorCode,
  /** @public (DecodedEnvelope.kind) */ type EnvelopeKind,
  /** @public (verifyEquivocationEvidence) */ type EquivocationEvidence,
  type Opened,
  type PartyIdentity,
  /** @public (verifyEquivocationEvidence) */ type SessionView,
} from './types.js';
export { decodeEnvelope, encodeSignedEnvelope, openSignedHeader, type RawEnvelopeFields } from './wire.js';
export { openBroadcastEvidence, verifyEquivocationEvidence } from './evidence.js';

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
      payload = sealP2p(this, this.partyOf(this.me), this.myPrivateKey, to, eph, prefix, msg.body);
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
      const opened = openP2p(this, d, sender, this.partyOf(this.me), this.mySessionKey);
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
}
