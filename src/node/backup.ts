/**
 * Writing share backups (backup/format.ts) when BACKUP_PUBLIC_KEY is set: after every commit of a
 * wallet's key share, this node's share of the new epoch, encrypted to the backup key, goes to
 *
 *   <BACKUP_DIR>/<nodeId>/<walletId>/epoch-<epoch>.json
 *
 * written whole (temporary file, fsync, rename, fsync of the directory) and never overwritten. A
 * crash between the commit and the write loses nothing: at start the node writes the backup of
 * every committed share that has none (`sweep`). Older epochs' files stay: they reconstruct the
 * same key (a refresh keeps it), and the operator decides when to prune them off-site.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { backupHeader, sealBackup, type BackupPublicKey } from '../backup/format.js';
import type { KeyShare } from '../protocol/keyshare.js';

export interface ShareBackupOptions {
  readonly nodeId: string;
  /** the backup directory (this node writes under `<dir>/<nodeId>`) */
  readonly dir: string;
  readonly publicKey: BackupPublicKey;
}

const SAFE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

export class ShareBackup {
  constructor(private readonly o: ShareBackupOptions) {}

  /** The file of `walletId`'s share at `epoch`. */
  path(walletId: string, epoch: number): string {
    // wallet ids are [A-Za-z0-9_-] (the API's pattern): checked again, a path must never escape the directory
    if (!SAFE_NAME.test(walletId)) throw new RangeError('backup: unexpected wallet id');
    return join(this.o.dir, this.o.nodeId, walletId, `epoch-${epoch}.json`);
  }

  async has(walletId: string, epoch: number): Promise<boolean> {
    try {
      await stat(this.path(walletId, epoch));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Write the backup of `share` at `epoch` unless it exists. True if written now. */
  async write(walletId: string, epoch: number, share: KeyShare): Promise<boolean> {
    const file = this.path(walletId, epoch);
    if (await this.has(walletId, epoch)) return false;
    const header = backupHeader(share, { walletId, epoch, nodeId: this.o.nodeId, kem: this.o.publicKey.kem });
    const body = JSON.stringify(await sealBackup(header, share, this.o.publicKey), null, 2) + '\n';
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    const d = await open(dirname(file), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    return true;
  }
}
