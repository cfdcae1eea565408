/**
 * One process at a time owns a node's state directory: the node itself, or an offline tool such
 * as the re-wrap command. The owner holds `<dir>/owner.pid` (created exclusively, holding its pid);
 * a file whose process is gone is stale (a crash) and is taken over. This keeps a tool from
 * rewriting a record the running node is consuming.
 * @module
 */
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileExclusive, ensureDir, errorCode } from '../../util/durable-file.js';
import { StorageError } from './errors.js';

export interface DirectoryLock {
  readonly path: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM'; // exists, owned by another user
  }
}

/**
 * Take ownership of `dir` for this process, naming `who` in the error if another live process
 * owns it.
 */
export async function lockDirectory(dir: string, who: string): Promise<DirectoryLock> {
  await ensureDir(dir, 0o700);
  const path = join(dir, 'owner.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createFileExclusive(path, Buffer.from(`${process.pid}\n`), 0o600)) {
      return {
        path,
        release: async () => {
          try {
            if ((await readFile(path, 'utf8')).trim() === String(process.pid)) await unlink(path);
          } catch (e) {
            if (errorCode(e) !== 'ENOENT') throw e;
          }
        },
      };
    }
    let owner: number;
    try {
      owner = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    } catch (e) {
      if (errorCode(e) === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new StorageError('locked', `${who} state in ${dir} is in use by process ${owner}; stop it first`);
    }
    await unlink(path).catch((e: unknown) => {
      if (errorCode(e) !== 'ENOENT') throw e;
    });
  }
  throw new StorageError('locked', `could not take ownership of ${dir}`);
}
