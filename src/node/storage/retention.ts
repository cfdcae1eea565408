/**
 * Retention of single-use state: what a node deletes so that its stored presignatures, used-markers
 * and seen session ids stay bounded however long it runs, and never in a way that allows a second
 * use (the argument: docs/security.md, "Retention of single-use records").
 *
 * - An unused presignature older than PRESIGN_MAX_AGE is burnt (marked used, its secret deleted):
 *   it expired, or its coordinator forgot it (an orphan). The coordinators stop handing one out a
 *   margin before that age (src/coordinator/pool.ts).
 * - A used-marker whose secret is gone, and a seen session id, are deleted once older than the
 *   grace period: neither can refuse anything by then that another guard does not already refuse.
 * - Tombstones of confirmed runs, pending states and evidence stay: they are per key-lifecycle run
 *   (keygen, refresh, reshare), not per signature, and an abandonment must be refused for ever.
 *
 * Ages are the records' write times (RecordStore.writtenAt): a wrong clock shortens or lengthens a
 * record's life and never lets a presignature sign twice.
 * @module
 */
import type { Presignatures, SeenSessions } from './presignatures.js';

export interface RetentionPolicy {
  /** unused presignatures stored longer than this are burnt (PRESIGN_MAX_AGE) */
  readonly presignatureMaxAgeMs: number;
  /** used-markers without a secret and seen session ids are kept this long (≥ the session TTL) */
  readonly graceMs: number;
}

/** How long markers and seen sids stay: far beyond a session's life (10 min), short enough to stay small. */
export const DEFAULT_RETENTION_GRACE_MS = 60 * 60_000;
/** How often a running node prunes. */
export const RETENTION_INTERVAL_MS = 10 * 60_000;

export interface Pruned {
  /** unused presignatures burnt because they were older than PRESIGN_MAX_AGE */
  readonly expired: number;
  /** used-markers deleted */
  readonly markers: number;
  /** seen session ids deleted */
  readonly sessions: number;
}

/**
 * One pass at time `now` (ms since the epoch). Expiry runs first, so a presignature burnt now has
 * its marker kept for the grace period like any other. `onFailure` hears of each record that could
 * not be handled (the others are still pruned; the next pass tries again).
 */
export async function pruneSingleUse(
  presigs: Presignatures,
  seen: SeenSessions,
  policy: RetentionPolicy,
  now: number,
  onFailure?: (kind: string, id: string, err: Error) => void,
): Promise<Pruned> {
  const expired = await presigs.expire(now - policy.presignatureMaxAgeMs, (id, e) => onFailure?.('presig', id, e));
  const markers = await presigs.pruneMarkers(now - policy.graceMs, (id, e) => onFailure?.('presig-used', id, e));
  const sessions = await seen.prune(now - policy.graceMs, (id, e) => onFailure?.('sid-seen', id, e));
  return { expired, markers, sessions };
}
