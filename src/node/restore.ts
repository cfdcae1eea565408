/**
 * A node whose data directory was restored from a copy (a file backup, a disk snapshot). Such a
 * copy is older than the node's last state, and three things in it are dangerous
 * (docs/security.md, "A node restored from a copy"):
 *
 *   1. presignatures whose used-marker was written after the copy read as unused again: a second
 *      partial signature with one presignature reveals the key share;
 *   2. the sid tombstones and pending states written after the copy are missing, so the node could
 *      sign an abandonment of a run it confirmed, and its confirmation beside that abandonment
 *      reads as a lie (docs/security.md, "State switches: epochs and an atomic commit");
 *   3. its committed epochs may be older than its peers' (it missed a refresh or an aux-info run):
 *      its old share must never be used with their newer ones.
 *
 * `markRestored` (run offline by `npm run node:restore`, under the data directory's lock) burns every
 * presignature (the same burn as an epoch switch: durable used-marker, then the secret deleted),
 * drops every pending state (a copy's pending state must never be committed) after writing the
 * tombstones of the runs it shows confirmed, drops the stored safe primes (primes taken for a run
 * after the copy would be presented again), and writes the *restored* marker first, so a crash
 * half way still leaves the node marked; running it again finishes the job (idempotent).
 *
 * While the marker is there the node takes part in no session and signs no abandonment
 * (service.ts); its `info` says `restored`. The coordinator compares the node's committed epochs
 * with its peers' and, only where all match, sends `reconciled` (clearReconciled), which removes
 * the marker. A node left behind stays marked and out of use until its share is reshared; the
 * operator is told.
 * @module
 */
import { confirmedSidsOfRecord } from './lifecycle.js';
import { Presignatures, SeenSessions } from './storage/presignatures.js';
import type { RecordStore } from './storage/store.js';

/** The marker's record id (kind `restored`). */
const RESTORED_RECORD = 'node';
/** The safe primes waiting for an aux-info run (src/node/primes.ts stores them under the aux kind). */
const PRIMES_RECORD = 'pending-primes';

export interface RestoredMarker {
  /** ISO 8601: when `node:restore` first marked the node */
  readonly restoredAt: string;
}

export interface RestoreOutcome {
  /** the marker as stored (its time is the first run's when run again) */
  readonly marker: RestoredMarker;
  /** false: the node was already marked (a second run finishes what the first left) */
  readonly newlyMarked: boolean;
  /** presignatures newly marked used */
  readonly presignaturesBurnt: number;
  /** presignatures whose secret could not be deleted (each refuses every use: its marker) */
  readonly secretsLeft: number;
  /** the scopes whose pending state was dropped */
  readonly pendingDropped: readonly string[];
  /** whether stored safe primes were dropped */
  readonly primesDropped: boolean;
}

function encodeMarker(m: RestoredMarker): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

/** The restored marker, or undefined. A marker that does not read still counts: it is the file that marks. */
export async function readRestored(store: RecordStore): Promise<RestoredMarker | undefined> {
  if (!(await store.has('restored', RESTORED_RECORD))) return undefined;
  try {
    const rec = await store.get('restored', RESTORED_RECORD);
    const m = JSON.parse(new TextDecoder().decode(rec)) as { restoredAt?: unknown };
    if (typeof m.restoredAt === 'string') return { restoredAt: m.restoredAt };
  } catch {
    // damaged: still marked
  }
  return { restoredAt: 'unknown' };
}

/**
 * Make a node restored from a copy safe to start (see the module comment). `n`: the group's size
 * (to read the parties' confirmations in stored evidence). The node must not run meanwhile.
 */
export async function markRestored(
  store: RecordStore,
  n: number,
  now: () => number = Date.now,
): Promise<RestoreOutcome> {
  const marker: RestoredMarker = { restoredAt: new Date(now()).toISOString() };
  // first: from here on, whatever fails, the node refuses sessions and abandonments when it starts
  const newlyMarked = await store.create('restored', RESTORED_RECORD, encodeMarker(marker));
  const stored = (await readRestored(store)) ?? marker;

  const presigs = new Presignatures(store);
  let presignaturesBurnt = 0;
  let secretsLeft = 0;
  // every presignature, read or not: a used-marker written after the copy is missing here
  for (const id of await store.list('presig')) {
    const { marked, deleted } = await presigs.burn(id);
    if (marked) presignaturesBurnt++;
    if (!deleted) secretsLeft++;
  }

  // tombstones before the records that show them go: a run this node confirmed stays unabandonable
  const seen = new SeenSessions(store);
  const pendingDropped: string[] = [];
  for (const kind of ['evidence', 'pending'] as const) {
    for (const scope of await store.list(kind)) {
      const rec = await store.get(kind, scope).catch(() => undefined);
      if (!rec) continue;
      try {
        for (const sid of confirmedSidsOfRecord(kind, rec, n)) await seen.rememberConfirmed(scope, sid);
      } catch {
        // unreadable: nothing to remember from it
      } finally {
        rec.fill(0);
      }
    }
  }
  for (const scope of await store.list('pending')) {
    if (await store.delete('pending', scope)) pendingDropped.push(scope);
  }
  const primesDropped = await store.delete('aux', PRIMES_RECORD);
  return { marker: stored, newlyMarked, presignaturesBurnt, secretsLeft, pendingDropped, primesDropped };
}

/** Remove the restored marker (the coordinator found every epoch in line). False: there was none. */
export function clearRestored(store: RecordStore): Promise<boolean> {
  return store.delete('restored', RESTORED_RECORD);
}
