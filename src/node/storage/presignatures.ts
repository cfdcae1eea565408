/**
 * Single use, as storage. A presignature signs at most one message, across crashes and concurrent
 * requests (docs/security.md A9, A10): its used-marker is created durably with exclusive-create
 * semantics before a partial signature may be released, and a presignature with a marker is never
 * handed out again. Session ids get the same treatment (docs/security.md, transcript rule 6): a repeated sid is refused.
 *
 * Signing goes through claim() (or consume()): only a caller whose claim resolved may release σ_i.
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

/** A claimed presignature: its secret, and the deletion of the stored copy, under way. */
export interface Claimed {
  /** the stored record's plaintext; the caller zeroises it after computing σ_i */
  readonly secret: Uint8Array;
  /**
   * Settles once the stored secret is deleted (true) or could not be (false; sweep() removes it
   * later). Never rejects. Nothing waits for it to refuse a second use: the marker does that.
   */
  readonly deleted: Promise<boolean>;
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
   * succeeds; the others get PresignatureUsedError. The secret is then deleted, tried a few times:
   * the marker is what refuses a second use, but a burnt secret must not stay on disk. Resolves
   * false if it could not be deleted (the caller logs it; removeUsed() or the start's sweep() does
   * it later).
   */
  async markUsed(presigId: string): Promise<boolean> {
    await this.#mark(presigId);
    return this.removeUsed(presigId);
  }

  /**
   * Burn one presignature: durably mark it used and delete its secret, whether or not this call
   * made the marker (a marker that already existed gets the deletion retried: its secret may have
   * been left behind by a failed deletion). `marked`: this call made the marker; `deleted`: no
   * secret is left. A secret that could not be deleted refuses every use anyway (the marker), and
   * removeUsed() or sweep() removes it later. The one way presignatures are taken out of use
   * outside signing (epoch switches, archiving, a node restored from a copy).
   */
  async burn(presigId: string): Promise<{ marked: boolean; deleted: boolean }> {
    try {
      return { marked: true, deleted: await this.markUsed(presigId) };
    } catch (err) {
      if (!(err instanceof PresignatureUsedError)) throw err;
      return { marked: false, deleted: await this.removeUsed(presigId) };
    }
  }

  /**
   * Delete the stored secret of a presignature that has its used-marker (a no-op without one),
   * tried up to `attempts` times. True once no secret is left.
   */
  async removeUsed(presigId: string, attempts = 3): Promise<boolean> {
    if (!(await this.isUsed(presigId))) return false;
    for (let k = 0; k < attempts; k++) {
      if (await this.#deleteSecret(presigId)) return true;
    }
    return false;
  }

  /** The durable, exclusive used-marker: resolves only for the one caller that created it, once it is on disk. */
  async #mark(presigId: string): Promise<void> {
    if (!(await this.store.create('presig-used', presigId, timestamp()))) throw new PresignatureUsedError();
  }

  /** True once the stored secret is gone (also if something else removed it first), false if deleting failed. */
  #deleteSecret(presigId: string): Promise<boolean> {
    return this.store.delete('presig', presigId).then(
      () => true,
      () => false,
    );
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
   * with it, and it must do so whether or not the signature then verifies (docs/security.md A9). The caller zeroises
   * the secret after computing σ_i.
   */
  async consume(presigId: string): Promise<Uint8Array> {
    const { secret, deleted } = await this.claim(presigId);
    await deleted;
    return secret;
  }

  /**
   * Claim a presignature for one signature, reading it once: load its secret, let `accept` inspect
   * it (throwing refuses the claim and marks nothing: a request for the wrong wallet does not burn
   * the presignature), durably mark it used, and return it. The deletion of the stored secret is
   * started, not awaited, so it stays off the signing path; the marker, durable before this
   * resolves, is what refuses every later use. Only a caller whose claim resolved may release a
   * partial signature made with it, whether or not the signature then verifies (docs/security.md A9).
   *
   * The marker is sealed, written and fsynced while the secret is read; what waits for the checks
   * is only its publication under its final name (the exclusive link and the directory fsync),
   * which is what makes it count. Until then nothing is marked.
   */
  async claim(presigId: string, accept?: (secret: Uint8Array) => void): Promise<Claimed> {
    const staging = this.store.stageCreate('presig-used', presigId, timestamp());
    staging.catch(() => undefined); // awaited below; meanwhile a failure is not an unhandled rejection
    const discard = (): Promise<void> =>
      staging.then(
        (s) => s.discard(),
        () => undefined,
      );
    let secret: Uint8Array;
    try {
      secret = await this.load(presigId);
    } catch (e) {
      await discard();
      throw e;
    }
    try {
      accept?.(secret);
    } catch (e) {
      secret.fill(0);
      await discard();
      throw e;
    }
    try {
      if (!(await (await staging).publish())) throw new PresignatureUsedError();
      // The secret must still be there now that our marker is: an earlier use deletes the secret
      // before its marker may be pruned (pruneMarkers), so a claim that read the secret before
      // that use and published after the pruning finds it gone and is refused (docs/security.md,
      // retention of single-use records).
      if (!(await this.store.has('presig', presigId))) throw new PresignatureUsedError();
    } catch (e) {
      secret.fill(0);
      throw e;
    }
    return { secret, deleted: this.#deleteSecret(presigId) };
  }

  /**
   * Burn every unused presignature stored before `before` (ms since the epoch, by the store's
   * record times): it expired (PRESIGN_MAX_AGE), or nobody asked for it (an orphan). Burning is
   * the same durable marker as a use, so an expiry racing a sign leaves exactly one of them.
   * Returns how many this call burnt; one it could not is reported to `onFailure`.
   */
  async expire(before: number, onFailure?: (presigId: string, err: Error) => void): Promise<number> {
    let burnt = 0;
    for (const id of await this.store.list('presig')) {
      try {
        const at = await this.store.writtenAt('presig', id);
        if (at === undefined || at >= before) continue;
        const { marked, deleted } = await this.burn(id);
        if (marked) burnt++;
        if (!deleted) onFailure?.(id, new Error('the secret could not be deleted'));
      } catch (e) {
        onFailure?.(id, e as Error);
      }
    }
    return burnt;
  }

  /**
   * Delete the used-markers written before `before` whose secret is gone. Safe at any age (the
   * argument is in docs/security.md, retention of single-use records): without its secret a
   * presignature cannot sign (claim reads the secret first, and re-checks it after publishing its
   * own marker), and its id can never be stored again, because it is the hash of a session whose
   * sid holds this node's one-time nonce. `before` only keeps markers long enough to read them in
   * logs and audits. A marker whose secret is still there (a failed deletion) is kept. Returns
   * how many were deleted.
   */
  async pruneMarkers(before: number, onFailure?: (presigId: string, err: Error) => void): Promise<number> {
    let pruned = 0;
    for (const id of await this.store.list('presig-used')) {
      try {
        const at = await this.store.writtenAt('presig-used', id);
        if (at === undefined || at >= before || (await this.store.has('presig', id))) continue;
        if (await this.store.delete('presig-used', id)) pruned++;
      } catch (e) {
        onFailure?.(id, e as Error);
      }
    }
    return pruned;
  }

  /**
   * Delete secrets whose marker exists (left by a crash between marking and deleting, or a failed
   * deletion). One that cannot be deleted now is reported to `onFailure` and the others are still
   * swept: it refuses every use anyway. Returns how many were removed.
   */
  async sweep(onFailure?: (presigId: string, err: Error) => void): Promise<number> {
    let removed = 0;
    for (const id of await this.store.list('presig')) {
      try {
        if ((await this.isUsed(id)) && (await this.store.delete('presig', id))) removed++;
      } catch (e) {
        onFailure?.(id, e as Error);
      }
    }
    return removed;
  }
}

/** Session ids seen by this node, persisted so a restart does not forget them. */
export class SeenSessions {
  constructor(private readonly store: RecordStore) {}

  /**
   * Record a session id; throws SessionReplayError if it was seen before (also by a concurrent
   * caller, or, in a store written before seen sids had a kind of their own, as a legacy record).
   */
  async rememberSid(sid: Uint8Array): Promise<void> {
    const id = sidRecordId(sid);
    if (await this.store.has('sid', id)) throw new SessionReplayError();
    if (!(await this.store.create('sid-seen', id, timestamp()))) throw new SessionReplayError();
  }

  async hasSeen(sid: Uint8Array): Promise<boolean> {
    const id = sidRecordId(sid);
    return (await this.store.has('sid-seen', id)) || this.store.has('sid', id);
  }

  /**
   * Delete the seen-sid records written before `before`. A sid holds this node's nonce from one
   * prepare, which lives in memory only, admits one start and is dropped after the session TTL, so
   * no start can present a sid older than that again (docs/security.md, retention of single-use
   * records): the record is a second line of defence that need outlive it only. Tombstones of
   * confirmed runs are another kind and stay. Returns how many were deleted.
   */
  async prune(before: number, onFailure?: (recordId: string, err: Error) => void): Promise<number> {
    let pruned = 0;
    for (const id of await this.store.list('sid-seen')) {
      try {
        const at = await this.store.writtenAt('sid-seen', id);
        if (at !== undefined && at < before && (await this.store.delete('sid-seen', id))) pruned++;
      } catch (e) {
        onFailure?.(id, e as Error);
      }
    }
    return pruned;
  }

  /**
   * Tombstone: this node confirmed run `sid` of `scope`. Written before the run's pending state or
   * evidence leaves (archiving), so the node still refuses to sign an abandonment of it afterwards.
   */
  async rememberConfirmed(scope: string, sid: Uint8Array): Promise<void> {
    await this.store.create('sid', sidRecordId(sid, scope), timestamp()); // false: already there
    await this.store.create('sid', sidRecordId(sid, ANY_SCOPE), timestamp());
  }

  /**
   * Whether this node confirmed run `sid`, in `scope` or in any other: an abandonment names a scope,
   * but a confirmation envelope does not (its sid binds the wallet only through the run's inputs), so
   * an abandonment of a confirmed run under another scope's name would read as a lie beside it.
   */
  async wasConfirmed(scope: string, sid: Uint8Array): Promise<boolean> {
    return (await this.store.has('sid', sidRecordId(sid, ANY_SCOPE))) || this.store.has('sid', sidRecordId(sid, scope));
  }
}

/** The tombstone of a confirmed run whatever its scope (a scope id never holds a NUL byte). */
const ANY_SCOPE = '\0any';

/**
 * Sids are arbitrary bytes; the record id is their SHA-256 in hex (fixed length, filename-safe).
 * With a scope: a confirmation tombstone, hashed under its own tag so it never reads as a seen sid.
 */
function sidRecordId(sid: Uint8Array, confirmedIn?: string): string {
  if (!(sid instanceof Uint8Array) || sid.length === 0 || sid.length > 1024)
    throw new RangeError('sid must be 1 to 1024 bytes');
  if (confirmedIn === undefined) return createHash('sha256').update('mpc-engine/v1/sid\0').update(sid).digest('hex');
  return createHash('sha256')
    .update('mpc-engine/v1/confirmed-sid\0')
    .update(confirmedIn)
    .update('\0')
    .update(sid)
    .digest('hex');
}
