/**
 * A node's side of the wallet reconciliation (src/coordinator/reconcile.ts): which wallet scopes
 * it holds records for, what they are, and archiving them.
 *
 * A key generation whose wallet the coordinator never recorded (its registry commit failed, the
 * coordinator stopped before it) leaves a committed key share, or a pending state of a run that
 * can no longer commit, that no wallet owns. Such records must stop being live — a share nobody
 * accounts for is a liability, and a pending state holds its scope — but secret material is never
 * destroyed automatically: archiving moves each record (key share, pending state, evidence) whole
 * into the `archived` kind, re-sealed under the node's KMS for its new place, with what it was and
 * why it was moved. Only an operator deletes archived records. The wallet's presignatures are
 * burnt (durably marked used, as at every epoch switch), so nothing of it can sign any more.
 *
 * Crash safety: each record is written to the archive (durably) before the original is removed,
 * so a crash leaves it in both places at worst, never in neither; archiving again moves what is
 * left (a second archived copy is harmless).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { decodeKeyShare } from '../protocol/storage-format.js';
import { pointToBytes } from '../curve/secp256k1.js';
import { MAX_WALLETS_PAGE, walletIdSchema } from '../rpc/messages.js';
import type { RpcErrorCode } from '../rpc/errors.js';
import type { Lifecycle } from './lifecycle.js';
import type { RecordKind, RecordStore } from './storage/store.js';
import { hex, pack } from './records.js';

/** The records of a wallet scope that are archived, in the order they are moved. */
const WALLET_KINDS = ['keyshare', 'pending', 'evidence'] as const satisfies readonly RecordKind[];
type WalletKind = (typeof WALLET_KINDS)[number];

export interface WalletEntry {
  readonly walletId: string;
  readonly committed: boolean;
  readonly pending: boolean;
}

/** Wallet scopes with a committed share or a pending state, sorted by id, after `after`, at most `limit`. */
export async function listWallets(
  store: RecordStore,
  after: string | undefined,
  limit = MAX_WALLETS_PAGE,
): Promise<{ wallets: WalletEntry[]; next?: string }> {
  const committed = new Set(await store.list('keyshare'));
  // the pending kind also holds the aux-info's scope, which is no wallet
  const pending = new Set((await store.list('pending')).filter((id) => walletIdSchema.safeParse(id).success));
  const ids = [...new Set([...committed, ...pending])].filter((id) => after === undefined || id > after).sort();
  const page = ids.slice(0, Math.min(limit, MAX_WALLETS_PAGE));
  const wallets = page.map((walletId) => ({
    walletId,
    committed: committed.has(walletId),
    pending: pending.has(walletId),
  }));
  return ids.length > page.length ? { wallets, next: page[page.length - 1] as string } : { wallets };
}

/** A wallet scope's committed share (public key, epoch, public shares) and pending run, as far as they exist. */
export async function describeWallet(lifecycle: Lifecycle, walletId: string): Promise<object> {
  const out: Record<string, unknown> = { walletId };
  const c = await lifecycle.committed(walletId);
  if (c) {
    const [pub, secret] = c.parts as [Uint8Array, Uint8Array];
    try {
      const share = decodeKeyShare(pub, secret);
      const { n, t, i, X } = share.public;
      out.committed = {
        publicKey: hex(pointToBytes(share.public.Y)),
        epoch: c.epoch,
        // the key's public shares in the group it was made or reshared in (a resharing's old key)
        key: { n, t, i, X: X.map((Xj) => hex(pointToBytes(Xj))) },
        ...(c.auxEpoch === undefined ? {} : { auxEpoch: c.auxEpoch }),
      };
    } finally {
      secret.fill(0);
    }
  }
  const p = await lifecycle.pending(walletId);
  if (p) {
    p.parts[1]?.fill(0);
    out.pending = { protocol: p.protocol, epoch: p.epoch, sid: hex(p.sid) };
  }
  return out;
}

export interface ArchiveDeps {
  readonly store: RecordStore;
  readonly lifecycle: Lifecycle;
  /** burns (durably marks used) every presignature of the wallet; returns how many */
  readonly burnPresignatures: (walletId: string) => Promise<number>;
  /** durably records that this node confirmed run `sid` of the wallet (SeenSessions.rememberConfirmed) */
  readonly rememberConfirmed: (walletId: string, sid: Uint8Array) => Promise<void>;
  readonly now?: () => number;
}

/**
 * Archiving refused: the wallet has a committed share. A commit needs every party's signed
 * confirmation, so the key generation finished everywhere and the wallet is (or should be) live: a
 * coordinator asking to archive it has a wrong registry or is hostile, and taking one node's share
 * out of use would stop the wallet from ever refreshing. Its records stay where they are; only
 * unfinished runs (pending states) are archived.
 */
export class ArchiveRefusedError extends Error {
  override readonly name = 'ArchiveRefusedError';
  readonly code: RpcErrorCode = 'archive-refused';
}

/** Where an archived record goes: unique, so archiving twice never overwrites a copy. */
function archiveId(walletId: string, kind: WalletKind, now: number): string {
  return `${walletId}-${kind[0] as string}-${now.toString(36)}${randomBytes(4).toString('hex')}`;
}

/**
 * Moves every record of `walletId` to the archive (under the scope's lock: no stage or commit of
 * it runs meanwhile) and burns its presignatures. Returns the kinds moved (none: nothing held).
 * @throws ArchiveRefusedError if the wallet has a committed share (nothing is moved)
 */
export async function archiveWallet(
  deps: ArchiveDeps,
  walletId: string,
  reason: string,
): Promise<{ archived: WalletKind[]; presignaturesBurnt: number }> {
  const now = deps.now ?? Date.now;
  const archived = await deps.lifecycle.exclusive(walletId, async () => {
    // under the scope's lock: no refresh commits between this check and the move
    const committed = await deps.lifecycle.committed(walletId);
    committed?.parts[1]?.fill(0);
    if (committed)
      throw new ArchiveRefusedError(
        `${walletId}: a committed key share (epoch ${committed.epoch}) is a finished key that every party confirmed; not archived`,
      );
    // a run this node confirmed must stay unabandonable once its pending state and evidence are gone
    for (const sid of await deps.lifecycle.confirmedSids(walletId)) await deps.rememberConfirmed(walletId, sid);
    const moved: WalletKind[] = [];
    for (const kind of WALLET_KINDS) {
      const record = await deps.store.get(kind, walletId);
      if (!record) continue;
      const at = now();
      const meta = new TextEncoder().encode(
        JSON.stringify({ kind, walletId, reason, archivedAt: new Date(at).toISOString() }),
      );
      const sealed = pack(meta, record);
      try {
        await deps.store.put('archived', archiveId(walletId, kind, at), sealed);
      } finally {
        record.fill(0);
        sealed.fill(0);
      }
      await deps.store.delete(kind, walletId);
      moved.push(kind);
    }
    return moved;
  });
  const presignaturesBurnt = await deps.burnPresignatures(walletId);
  return { archived, presignaturesBurnt };
}
