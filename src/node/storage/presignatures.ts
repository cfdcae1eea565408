/**
 * Single use, as storage. A presignature signs at most one message, across crashes and concurrent
 * requests (SECURITY.md A9, A10): its used-marker is created durably with exclusive-create
 * semantics before a partial signature may be released, and a presignature with a marker is never
 * handed out again. Session ids get the same treatment (transcript rule 6): a repeated sid is refused.
 *
 * Signing goes through consume(): it is the only call whose success authorises releasing σ_i.
 * @module
 */
import { createHash } from 'node:crypto';
import { PresignatureUsedError, SessionReplayError, StorageError } from './errors.js';
import { assertRecordId, type RecordStore } from './store.js';

/** Marker content: when it was used (ms since the epoch). Public; the marker's existence is what counts. */
function timestamp(): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Date.now()));
  return b;
}

export class Presignatures {
  constructor(private readonly store: RecordStore) {}

  /** Store a new presignature's secret. Refused for an id already used. */
  async save(presigId: string, secret: Uint8Array): Promise<void> {
    assertRecordId(presigId);
    if (await this.isUsed(presigId)) throw new PresignatureUsedError();
    await this.store.put('presig', presigId, secret);
  }

  /** Whether the presignature has a used-marker (a damaged marker still counts). */
  async isUsed(presigId: string): Promise<boolean> {
    return this.store.has('presig-used', presigId);
  }

  /**
   * Durably mark a presignature used. Of concurrent callers (in this process or others) exactly one
   * succeeds; the others get PresignatureUsedError. The secret is then deleted, best effort: the
   * marker is what refuses a second use.
   */
  async markUsed(presigId: string): Promise<void> {
    if (!(await this.store.create('presig-used', presigId, timestamp()))) throw new PresignatureUsedError();
    await this.store.delete('presig', presigId).catch(() => undefined);
  }

  /**
   * The secret of an unused presignature, without claiming it (e.g. to check the pool). Refused once
   * used. Holding it does not authorise a partial signature: use consume() for that.
   */
  async load(presigId: string): Promise<Uint8Array> {
    if (await this.isUsed(presigId)) throw new PresignatureUsedError();
    const secret = await this.store.get('presig', presigId);
    if (secret === undefined) throw new StorageError('not-found', `no presignature ${presigId}`);
    return secret;
  }

  /**
   * Claim a presignature for one signature: load its secret, durably mark it used, delete the
   * secret, return it. Only a caller whose consume() resolved may release a partial signature made
   * with it, and it must do so whether or not the signature then verifies (A9). The caller zeroises
   * the secret after computing σ_i.
   */
  async consume(presigId: string): Promise<Uint8Array> {
    const secret = await this.load(presigId);
    try {
      await this.markUsed(presigId);
    } catch (e) {
      secret.fill(0);
      throw e;
    }
    return secret;
  }

  /** Delete secrets whose marker exists (left by a crash between marking and deleting). Returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const id of await this.store.list('presig')) {
      if ((await this.isUsed(id)) && (await this.store.delete('presig', id))) removed++;
    }
    return removed;
  }
}

/** Session ids seen by this node, persisted so a restart does not forget them. */
export class SeenSessions {
  constructor(private readonly store: RecordStore) {}

  /** Record a session id; throws SessionReplayError if it was seen before (also by a concurrent caller). */
  async rememberSid(sid: Uint8Array): Promise<void> {
    if (!(await this.store.create('sid', sidRecordId(sid), timestamp()))) throw new SessionReplayError();
  }

  async hasSeen(sid: Uint8Array): Promise<boolean> {
    return this.store.has('sid', sidRecordId(sid));
  }
}

/** Sids are arbitrary bytes; the record id is their SHA-256 in hex (fixed length, filename-safe). */
function sidRecordId(sid: Uint8Array): string {
  if (!(sid instanceof Uint8Array) || sid.length === 0 || sid.length > 1024) throw new RangeError('sid must be 1 to 1024 bytes');
  return createHash('sha256').update('mpc-engine/v1/sid\0').update(sid).digest('hex');
}
