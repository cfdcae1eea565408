/**
 * Purging a wallet at one node: its key share destroyed for good, by the operator of that node only
 * (`npm run wallet:purge`, offline, under the data directory's lock). Never on a network request: a
 * compromised coordinator that could ask every node to delete a wallet's shares would destroy its
 * funds; archiving (archive.ts) only ever moves records.
 *
 * What goes: the committed key share (the only record of any epoch: a commit replaces the previous
 * one), the pending state, the commit evidence, every archived record of the wallet, and its
 * presignatures (burnt: durable used-marker, then the secret deleted, as at every epoch switch).
 * What stays: the session-id tombstones. The runs the wallet's pending state and evidence show
 * confirmed are remembered first, so that after the purge this node still refuses to sign an
 * abandonment of a run it confirmed (docs/security.md, "State switches: epochs and an atomic
 * commit").
 *
 * Order, crash-safe: tombstones, then presignatures, then the records; a crash half way leaves a
 * wallet partly purged, and running the purge again finishes it (idempotent).
 * @module
 */
import { confirmedSidsOfRecord } from './lifecycle.js';
import { unpack, unpackVersioned } from './records.js';
import { Presignatures, SeenSessions } from './storage/presignatures.js';
import type { RecordStore } from './storage/store.js';

export interface PurgeOutcome {
  /** the kinds of the wallet's live records deleted (keyshare, pending, evidence) */
  readonly deleted: readonly ('keyshare' | 'pending' | 'evidence')[];
  /** archived records of the wallet deleted */
  readonly archivedDeleted: number;
  /** presignatures of the wallet newly burnt */
  readonly presignaturesBurnt: number;
  /** presignatures that could not be read (left alone: they may belong to another wallet) */
  readonly presignaturesUnreadable: number;
}

/** The wallet id an archived record belongs to (its meta), or undefined if it does not read. */
function archivedWallet(rec: Uint8Array): { walletId: string; kind: unknown; record: Uint8Array } | undefined {
  try {
    const [meta, record] = unpack(rec, 2, 'archived') as [Uint8Array, Uint8Array];
    const m = JSON.parse(new TextDecoder().decode(meta)) as { walletId?: unknown; kind?: unknown };
    return typeof m.walletId === 'string' ? { walletId: m.walletId, kind: m.kind, record } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Destroy every record of `walletId` at this node but its tombstones (see the module comment).
 * `n`: the group's size (to read stored evidence). The node must not run meanwhile.
 */
export async function purgeWallet(store: RecordStore, walletId: string, n: number): Promise<PurgeOutcome> {
  const seen = new SeenSessions(store);
  const remember = async (kind: 'pending' | 'evidence', rec: Uint8Array): Promise<void> => {
    try {
      for (const sid of confirmedSidsOfRecord(kind, rec, n)) await seen.rememberConfirmed(walletId, sid);
    } catch {
      // unreadable: nothing to remember from it
    }
  };
  for (const kind of ['pending', 'evidence'] as const) {
    const rec = await store.get(kind, walletId);
    if (rec) await remember(kind, rec);
    rec?.fill(0);
  }
  const archived: string[] = [];
  for (const id of await store.list('archived')) {
    // an archive id starts with its wallet id; the meta inside says for sure
    if (!id.startsWith(`${walletId}-`)) continue;
    const rec = await store.get('archived', id).catch(() => undefined);
    const a = rec && archivedWallet(rec);
    if (a?.walletId !== walletId) continue;
    if (a.kind === 'pending' || a.kind === 'evidence') await remember(a.kind, a.record);
    a.record.fill(0);
    rec?.fill(0);
    archived.push(id);
  }

  const presigs = new Presignatures(store);
  let presignaturesBurnt = 0;
  let presignaturesUnreadable = 0;
  for (const id of await store.list('presig')) {
    let rec: Uint8Array | undefined;
    try {
      rec = await store.get('presig', id);
    } catch {
      presignaturesUnreadable++;
      continue;
    }
    if (!rec) continue;
    let of: string | undefined;
    try {
      const parts = unpackVersioned(rec, 4, 'presignature');
      of = new TextDecoder().decode(parts[0]);
      for (const p of parts) p.fill(0);
    } catch {
      presignaturesUnreadable++;
    } finally {
      rec.fill(0);
    }
    if (of === walletId && (await presigs.burn(id)).marked) presignaturesBurnt++;
  }

  const deleted: PurgeOutcome['deleted'][number][] = [];
  for (const kind of ['keyshare', 'pending', 'evidence'] as const)
    if (await store.delete(kind, walletId)) deleted.push(kind);
  let archivedDeleted = 0;
  for (const id of archived) if (await store.delete('archived', id)) archivedDeleted++;
  return { deleted, archivedDeleted, presignaturesBurnt, presignaturesUnreadable };
}
