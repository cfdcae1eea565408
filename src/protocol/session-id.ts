/**
 * The session id (sid) every participant of a session derives at `start`, from public inputs
 * only: the protocol, the coordinator's session id, the group's parties in index order, the
 * wallet, the participants (signers), every participant's fresh nonce, the state fingerprint
 * they agreed on and every participant's session key (so each party encrypts to the keys the
 * others actually hold: a relay that hands one node another key list splits the sid, and every
 * envelope between them is refused). The nodes bind every envelope and proof of the session to it; the coordinator
 * derives the same value to check each envelope's header, so an envelope of another session is
 * its sender's fault whoever speaks first.
 *
 * Pure: no I/O.
 * @module
 */
import { Transcript } from '../zk/transcript.js';

const SESSION_TAG = 'mpc-engine/v1/session';

export interface SessionIdInputs {
  readonly protocol: string;
  /** the coordinator's session id (prepare's `sessionId`) */
  readonly sessionId: string;
  /** every node of the group, in index order */
  readonly parties: readonly string[];
  /** keygen, presign, refresh: the wallet ('' for none) */
  readonly walletId: string | undefined;
  /** the participants' party indices, sorted */
  readonly participants: readonly number[];
  /** each participant's prepare nonce (32-byte hex), in participant order */
  readonly nonces: readonly string[];
  /** the agreed state fingerprint (32-byte hex) */
  readonly state: string;
  /** each participant's session public key (65-byte raw P-256 point, hex), in participant order */
  readonly sessionKeys: readonly string[];
}

export function deriveSessionId(i: SessionIdInputs): Uint8Array {
  return new Transcript(SESSION_TAG)
    .text('protocol', i.protocol)
    .text('session', i.sessionId)
    .byteList(
      'parties',
      i.parties.map((id) => new TextEncoder().encode(id)),
    )
    .text('wallet', i.walletId ?? '')
    .ints('signers', i.participants.map(BigInt))
    .byteList(
      'nonces',
      i.nonces.map((n) => Buffer.from(n, 'hex')),
    )
    .bytes('state', Buffer.from(i.state, 'hex'))
    .byteList(
      'session keys',
      i.sessionKeys.map((k) => Buffer.from(k, 'hex')),
    )
    .digest('sid');
}
