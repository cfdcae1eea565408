/**
 * Disaster recovery from share backups (format.ts): the drill proves, wallet by wallet, that the
 * backups reconstruct the key — each opened x_i checked against its public share (x_i·G = X_i),
 * the public shares against one polynomial of degree t − 1 through Y, and the combination of t
 * shares against Y, on the public points (the drill never forms a key); `reconstruct` returns one wallet's private key for
 * a true disaster (the caller decides whether to print it).
 *
 * Shares of one epoch combine; shares of different epochs do not (a refresh re-randomises them),
 * so each wallet is recovered from its newest epoch with t usable backups.
 *
 * No I/O: the recovery command reads the files and the key.
 * @module
 */
import { assertKeyShare, type KeyShare } from '../protocol/keyshare.js';
import { interpolatePoints, lagrange } from '../curve/lagrange.js';
import { modq, mulG } from '../curve/secp256k1.js';
import { headerPoints, openBackup, type BackupFile, type BackupPrivateKey } from './format.js';

export interface FoundBackup {
  /** where it was found (for reports) */
  readonly source: string;
  readonly file: BackupFile;
}

export interface EpochReport {
  readonly epoch: number;
  /** node ids whose backup of this epoch opened and checked out */
  readonly usable: readonly string[];
  /** what was wrong with the others (no secret in them) */
  readonly problems: readonly string[];
  /** whether t usable shares combined to the public key */
  readonly reconstructs: boolean;
}

export interface WalletReport {
  readonly walletId: string;
  /** the wallet's public key (compressed, hex), as the newest epoch's backups state it */
  readonly publicKey: string;
  readonly t: number;
  /** newest epoch first */
  readonly epochs: readonly EpochReport[];
  /** the newest epoch that reconstructs, if any */
  readonly recoverableEpoch: number | undefined;
}

interface Opened {
  readonly nodeId: string;
  readonly share: KeyShare;
}

/** The wallets the backups hold, each with its backups by epoch. */
function byWallet(found: readonly FoundBackup[]): Map<string, Map<number, FoundBackup[]>> {
  const wallets = new Map<string, Map<number, FoundBackup[]>>();
  for (const f of found) {
    const h = f.file.header;
    const epochs = wallets.get(h.walletId) ?? new Map<number, FoundBackup[]>();
    epochs.set(h.epoch, [...(epochs.get(h.epoch) ?? []), f]);
    wallets.set(h.walletId, epochs);
  }
  return wallets;
}

/** Open and check every backup of one epoch; the usable shares (one per party) and the problems. */
async function openEpoch(
  backups: readonly FoundBackup[],
  key: BackupPrivateKey,
): Promise<{ opened: Opened[]; problems: string[] }> {
  const opened: Opened[] = [];
  const problems: string[] = [];
  const first = backups[0]?.file.header;
  for (const b of backups) {
    const h = b.file.header;
    const where = `${b.source} (${h.nodeId})`;
    if (
      first &&
      (h.publicKey !== first.publicKey ||
        h.t !== first.t ||
        h.n !== first.n ||
        h.publicShares.join() !== first.publicShares.join())
    ) {
      problems.push(`${where}: its public data differs from ${first.nodeId}'s backup of the same epoch`);
      continue;
    }
    if (opened.some((o) => o.share.public.i === h.index)) {
      problems.push(`${where}: a second backup of party ${h.index}`);
      continue;
    }
    try {
      const { Y, X } = headerPoints(h);
      if (X.length !== h.n || h.index >= h.n) throw new RangeError('the header is inconsistent (n, index)');
      const x = await openBackup(b.file, key);
      const share: KeyShare = { public: { n: h.n, t: h.t, i: h.index, Y, X }, secret: { x } };
      assertKeyShare(share); // x_i·G = X_i, and the X_j on one polynomial of degree t − 1 through Y
      opened.push({ nodeId: h.nodeId, share });
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
  }
  return { opened, problems };
}

/** x from t shares of one epoch (Lagrange at 0); checked against Y by the caller. */
function combine(shares: readonly KeyShare[]): bigint {
  const T = shares.map((s) => s.public.i);
  let x = 0n;
  for (const s of shares) x = modq(x + lagrange(T, s.public.i) * s.secret.x);
  return x;
}

/**
 * Whether t opened shares combine to the key of Y, shown on the public side so the drill never
 * forms the key: each x_i·G = X_i was checked when it was opened, so Σ λ_i·x_i·G = Σ λ_i·X_i,
 * and that sum must be Y.
 */
function reconstructsY(opened: readonly Opened[]): boolean {
  const t = opened[0]?.share.public.t ?? Infinity;
  if (opened.length < t) return false;
  const use = opened.slice(0, t).map((o) => o.share);
  const T = use.map((s) => s.public.i);
  const X = [...(use[0] as KeyShare).public.X];
  return interpolatePoints(T, X, 0n).equals((use[0] as KeyShare).public.Y);
}

/** Check every wallet in the backups; the key is never formed (see reconstructsY). Wallets sorted by id. */
export async function drill(found: readonly FoundBackup[], key: BackupPrivateKey): Promise<WalletReport[]> {
  const reports: WalletReport[] = [];
  for (const [walletId, epochs] of [...byWallet(found)].sort(([a], [b]) => a.localeCompare(b))) {
    const reportsByEpoch: EpochReport[] = [];
    const newestFirst = [...epochs].sort(([a], [b]) => b - a);
    for (const [epoch, backups] of newestFirst) {
      const { opened, problems } = await openEpoch(backups, key);
      reportsByEpoch.push({
        epoch,
        usable: opened.map((o) => o.nodeId).sort(),
        problems,
        reconstructs: reconstructsY(opened),
      });
    }
    const newest = newestFirst[0]?.[1][0]?.file.header;
    reports.push({
      walletId,
      publicKey: newest?.publicKey ?? '',
      t: newest?.t ?? 0,
      epochs: reportsByEpoch,
      recoverableEpoch: reportsByEpoch.find((e) => e.reconstructs)?.epoch,
    });
  }
  return reports;
}

/**
 * One wallet's private key from its backups: the newest epoch with t usable shares (or `epoch`),
 * checked against Y. Throws if none reconstructs.
 */
export async function reconstruct(
  found: readonly FoundBackup[],
  key: BackupPrivateKey,
  walletId: string,
  epoch?: number,
): Promise<{ x: bigint; epoch: number; publicKey: string; from: string[] }> {
  const epochs = byWallet(found).get(walletId);
  if (!epochs) throw new RangeError(`no backup of wallet ${walletId}`);
  for (const [e, backups] of [...epochs].sort(([a], [b]) => b - a)) {
    if (epoch !== undefined && e !== epoch) continue;
    const { opened } = await openEpoch(backups, key);
    const t = opened[0]?.share.public.t ?? Infinity;
    if (opened.length < t) continue;
    const use = opened.slice(0, t);
    const x = combine(use.map((o) => o.share));
    const Y = (use[0] as Opened).share.public.Y;
    if (!mulG(x).equals(Y)) continue;
    return { x, epoch: e, publicKey: Y.toHex(true), from: use.map((o) => o.nodeId) };
  }
  throw new RangeError(
    `wallet ${walletId}: no epoch${epoch === undefined ? '' : ` ${epoch}`} has t usable backups that reconstruct its key`,
  );
}
