/**
 * Re-wrapping a node's records under its KMS's current master key, after a rotation: every record
 * whose data key is wrapped under another key is opened and sealed again (fresh data key, same
 * context) and atomically replaces the old file. Each record is replaced whole or not at all, and
 * old and new records are both readable (the old key stays available until this finishes), so a
 * crash at any point loses nothing and a rerun resumes: records already under the current key are
 * skipped. Run it with the node stopped (the caller holds the directory lock).
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Kms } from '../../kms/kms.js';
import { writeFileAtomic, errorCode } from '../../util/durable-file.js';
import { openRecord, sealRecord, wrappedKeyOf } from './envelope.js';
import { StorageError } from './errors.js';
import { RECORD_KINDS, type RecordStore } from './store.js';

export interface RewrapReport {
  /** records re-wrapped now */
  rewrapped: number;
  /** records already under the current key */
  current: number;
}

export interface RewrapOptions {
  /** called after each record, for progress */
  onRecord?: (kind: string, id: string, action: 'rewrapped' | 'current') => void;
}

/** Re-wrap every record of `store` under `kms.keyId`. */
export async function rewrapRecords(store: RecordStore, kms: Kms, options: RewrapOptions = {}): Promise<RewrapReport> {
  const report: RewrapReport = { rewrapped: 0, current: 0 };
  for (const kind of RECORD_KINDS) {
    for (const id of await store.list(kind)) {
      const path = store.pathOf(kind, id);
      let sealed: Buffer;
      try {
        sealed = await readFile(path);
      } catch (e) {
        if (errorCode(e) === 'ENOENT') continue;
        throw e;
      }
      const { provider, wrapped } = wrappedKeyOf(sealed);
      if (provider !== kms.name)
        throw new StorageError(
          'wrong-provider',
          `record ${kind}/${id} was sealed by KMS "${provider}", not "${kms.name}"`,
        );
      if (kms.keyIdOf(wrapped) === kms.keyId) {
        report.current++;
        options.onRecord?.(kind, id, 'current');
        continue;
      }
      const ctx = { nodeId: store.nodeId, kind, id };
      const plain = await openRecord(kms, ctx, sealed);
      try {
        await writeFileAtomic(path, await sealRecord(kms, ctx, plain));
      } finally {
        plain.fill(0);
      }
      report.rewrapped++;
      options.onRecord?.(kind, id, 'rewrapped');
    }
  }
  return report;
}
