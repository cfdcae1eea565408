/**
 * Crash-safe files: a file appears under its final name only complete and on disk. Data goes to a
 * temporary file in the same directory, which is fsynced and then renamed over the target
 * (replace) or hard-linked to it (exclusive create); the directory is fsynced so the name itself
 * survives a power cut. A crash leaves the old file or the new one, plus perhaps a temporary file,
 * which readers never see: temporary names start with "." and end in ".tmp".
 * @module
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `.<target name>.<writer pid>.<random>.tmp` */
const TEMP_NAME = /^\..+\.(\d{1,10})\.[0-9a-f]{16}\.tmp$/;

type ErrnoError = Error & { code?: string };

export function errorCode(e: unknown): string | undefined {
  return e instanceof Error ? (e as ErrnoError).code : undefined;
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(8).toString('hex')}.tmp`);
}

/** fsync a directory, so that names created, renamed or removed in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Windows cannot open or fsync a directory; NTFS journals the metadata instead.
    if (process.platform === 'win32' && ['EISDIR', 'EPERM', 'EACCES', 'EBADF'].includes(errorCode(e) ?? '')) return;
    throw e;
  } finally {
    await fh?.close();
  }
}

/** Create a directory (and missing parents) with the given mode, durably. */
export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (first !== undefined) await fsyncDir(dirname(first));
}

/**
 * Write data to a fresh temporary file next to `path` and fsync it; returns its path. With
 * `mtimeMs`, that is the file's modification time (a writer on a clock of its own: the time its
 * readers age the file by), set before the fsync so it is as durable as the data.
 */
async function writeTemp(path: string, data: Uint8Array, mode: number, mtimeMs?: number): Promise<string> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      if (mtimeMs !== undefined) await fh.utimes(mtimeMs / 1000, mtimeMs / 1000);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return tmp;
}

/** Replace (or create) `path` with `data`: readers see the old content or the new, never a mix. */
export async function writeFileAtomic(path: string, data: Uint8Array, mode = 0o600, mtimeMs?: number): Promise<void> {
  const tmp = await writeTemp(path, data, mode, mtimeMs);
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dirname(path));
}

/**
 * Create `path` with `data` only if no file of that name exists: of any number of concurrent
 * callers, in this process or others, exactly one gets true. link() is the exclusive step (it fails
 * with EEXIST like open with O_CREAT|O_EXCL, the `wx` flag) and publishes a file that is already
 * complete and fsynced. Returns once the new name is durable.
 */
export async function createFileExclusive(
  path: string,
  data: Uint8Array,
  mode = 0o600,
  mtimeMs?: number,
): Promise<boolean> {
  return (await stageFileExclusive(path, data, mode, mtimeMs)).publish();
}

/**
 * createFileExclusive in two steps, so the slow half can overlap other work: the data is written
 * to a temporary file and fsynced first; nothing is visible under `path` until publish().
 */
export interface StagedFile {
  /**
   * The exclusive step (link, or `wx` where there are no hard links) and the directory fsync: true
   * if this call created `path`, false if it existed. Once only; the temporary file is removed
   * either way.
   */
  publish(): Promise<boolean>;
  /** Give up without publishing: removes the temporary file. */
  discard(): Promise<void>;
}

/** Writes and fsyncs `data` next to `path`, ready to be published by exclusive create. `data` must stay unchanged until publish() settles. */
export async function stageFileExclusive(
  path: string,
  data: Uint8Array,
  mode = 0o600,
  mtimeMs?: number,
): Promise<StagedFile> {
  const tmp = await writeTemp(path, data, mode, mtimeMs);
  let done = false;
  const once = (): void => {
    if (done) throw new Error('staged file already published or discarded');
    done = true;
  };
  return {
    async publish(): Promise<boolean> {
      once();
      let created: boolean;
      try {
        await link(tmp, path);
        created = true;
      } catch (e) {
        const code = errorCode(e);
        if (code === 'EEXIST') created = false;
        else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS')
          created = await createWithOpenExclusive(path, data, mode, mtimeMs);
        else throw e;
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      await fsyncDir(dirname(path));
      return created;
    },
    async discard(): Promise<void> {
      once();
      await unlink(tmp).catch(() => undefined);
    },
  };
}

/**
 * For file systems without hard links: `wx` on the final name. Exclusive all the same, but a crash
 * mid-write can leave a short file; callers that use the name as a marker treat any file as present.
 */
async function createWithOpenExclusive(
  path: string,
  data: Uint8Array,
  mode: number,
  mtimeMs?: number,
): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', mode);
  } catch (e) {
    if (errorCode(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    await fh.writeFile(data);
    if (mtimeMs !== undefined) await fh.utimes(mtimeMs / 1000, mtimeMs / 1000);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** Remove `path` durably; false if it did not exist. */
export async function removeFileDurable(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return false;
    throw e;
  }
  await fsyncDir(dirname(path));
  return true;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errorCode(e) === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Delete temporary files left in `dir` by a crashed writer: those whose writer process is gone, or
 * older than maxAgeMs (a pid can be reused, e.g. pid 1 in a restarted container). Files of live
 * writers are left alone, so two processes may share the directory. Returns how many were removed.
 */
export async function removeStaleTemps(dir: string, maxAgeMs = 10 * 60_000): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    let stale = !processAlive(Number(m[1]));
    if (!stale) {
      try {
        stale = Date.now() - (await stat(path)).mtimeMs > maxAgeMs;
      } catch {
        continue; // already gone
      }
    }
    if (stale) {
      await unlink(path).catch(() => undefined);
      removed++;
    }
  }
  if (removed > 0) await fsyncDir(dir);
  return removed;
}
