/**
 * Helpers for the storage tests: a fresh temporary directory per test (removed afterwards) holding
 * a local KMS root and one store per node.
 * @module
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { openLocalKms, type LocalKms } from '../../src/kms/local.js';
import { RecordStore } from '../../src/node/storage/store.js';

/** A temporary directory removed when the test ends. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mpc-storage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface NodeStorage {
  kms: LocalKms;
  store: RecordStore;
}

/** Open the KMS and the store of `nodeId` under `root` (`<root>/kms`, `<root>/<nodeId>-store`), on `clock` if given. */
export async function openNode(root: string, nodeId: string, clock?: () => number): Promise<NodeStorage> {
  const kms = await openLocalKms({ root: join(root, 'kms'), nodeId });
  const store = await RecordStore.open({
    dir: join(root, `${nodeId}-store`),
    nodeId,
    kms,
    ...(clock === undefined ? {} : { clock }),
  });
  return { kms, store };
}

/** Every file under dir, recursively. */
export async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}
