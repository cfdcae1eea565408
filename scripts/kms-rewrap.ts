/**
 * `npm run kms:rewrap -- --env <name> --id <node> [--rotate]`: re-wraps every record of a stopped
 * node under its KMS's current master key. With `--rotate` (local KMS only) it first retires the
 * node's local master key and makes a new one. For a cloud KMS or an HSM, point the node's key
 * setting (NODE_KMS_*_KEY_ID / _KEY_LABEL) at the new key, keep the old one enabled, and run this;
 * disable the old key only after it reports every record current.
 *
 * Resumable: each record is replaced atomically, and a rerun skips records already re-wrapped.
 *
 * `npm run kms:rewrap -- --env <name> --id <node> --remove-retired <key id>` (local KMS only)
 * deletes one retired local master key once no record needs it: it scans every record of the
 * stopped node and refuses, deleting nothing, while any is still wrapped under that key or cannot
 * be read far enough to tell.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeEntry } from '../src/config/index.js';
import type { Kms } from '../src/kms/kms.js';
import { openKms } from '../src/kms/open.js';
import { listRetiredLocalKeys, removeRetiredLocalKey, rotateLocalKms } from '../src/kms/local.js';
import { errorCode } from '../src/util/durable-file.js';
import { wrappedKeyOf } from '../src/node/storage/envelope.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';
import { rewrapRecords } from '../src/node/storage/rewrap.js';
import { RECORD_KINDS, RecordStore } from '../src/node/storage/store.js';

/**
 * How many records are wrapped under `keyId`. A record this cannot attribute (unreadable header,
 * another provider) stops the count: deleting a key on a guess could lose that record for good.
 */
async function recordsUnder(store: RecordStore, kms: Kms, keyId: string): Promise<number> {
  let n = 0;
  for (const kind of RECORD_KINDS) {
    for (const id of await store.list(kind)) {
      let sealed: Buffer;
      try {
        sealed = await readFile(store.pathOf(kind, id));
      } catch (e) {
        if (errorCode(e) === 'ENOENT') continue;
        throw e;
      }
      let wrapped: { provider: string; wrapped: Uint8Array };
      try {
        wrapped = wrappedKeyOf(sealed);
      } catch (e) {
        throw new Error(`cannot tell which key record ${kind}/${id} uses (${(e as Error).message}); nothing removed`, {
          cause: e,
        });
      }
      if (wrapped.provider !== kms.name)
        throw new Error(
          `record ${kind}/${id} was sealed by KMS "${wrapped.provider}", not "${kms.name}"; nothing removed`,
        );
      if (kms.keyIdOf(wrapped.wrapped) === keyId) n++;
    }
  }
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      id: { type: 'string' },
      rotate: { type: 'boolean', default: false },
      'remove-retired': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || !values.id) {
    console.log('usage: npm run kms:rewrap -- --env <name> --id <node id> [--rotate]');
    console.log('       npm run kms:rewrap -- --env <name> --id <node id> --remove-retired <key id>');
    return values.help ? 0 : 2;
  }
  const removing = values['remove-retired'];
  if (removing !== undefined && values.rotate)
    throw new Error('--remove-retired and --rotate are separate steps: rotate and re-wrap first, then remove');
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.id);
  // The node must be stopped: it would go on using records this rewrites.
  const owner = await lockDirectory(self.dataDir, `kms:rewrap ${self.id}`);
  try {
    if (removing !== undefined) {
      if (self.kms.provider !== 'local')
        throw new Error(
          `--remove-retired deletes a local master key; node ${self.id} uses the ${self.kms.provider} KMS (disable the old key in the provider instead)`,
        );
      const local = { root: self.kms.root, nodeId: self.id };
      const kms = await openKms(self.kms, self.id);
      try {
        const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: self.id, kms });
        await removeRetiredLocalKey(local, removing, (keyId) => recordsUnder(store, kms, keyId));
      } finally {
        await kms.close();
      }
      console.log(`retired master key ${removing} of ${self.id} removed: no record uses it`);
      return 0;
    }
    if (values.rotate) {
      if (self.kms.provider !== 'local')
        throw new Error(
          `--rotate makes a new local master key; node ${self.id} uses the ${self.kms.provider} KMS (point its key setting at the new key instead)`,
        );
      const r = await rotateLocalKms({ root: self.kms.root, nodeId: self.id });
      console.log(`local master key of ${self.id}: ${r.retired} retired, ${r.current} current`);
    }
    const kms = await openKms(self.kms, self.id);
    try {
      const store = await RecordStore.open({ dir: join(self.dataDir, 'records'), nodeId: self.id, kms });
      console.log(`re-wrapping the records of ${self.id} under ${kms.name} key ${kms.keyId}`);
      let n = 0;
      const report = await rewrapRecords(store, kms, {
        onRecord: () => {
          if (++n % 100 === 0) console.log(`  ${n} records checked`);
        },
      });
      console.log(`done: ${report.rewrapped} re-wrapped, ${report.current} already current`);
      if (self.kms.provider === 'local') {
        // Every record is now under the current key, so no retired key is needed by this node's records.
        for (const keyId of (await listRetiredLocalKeys({ root: self.kms.root, nodeId: self.id })).filter(
          (k) => k !== kms.keyId,
        )) {
          console.log(
            `retired key ${keyId} is no longer used; remove it with: npm run kms:rewrap -- --env ${values.env} --id ${self.id} --remove-retired ${keyId}`,
          );
        }
      }
    } finally {
      await kms.close();
    }
  } finally {
    await owner.release();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `kms:rewrap: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof DirectoryLockError && e.code === 'locked' ? LOCKED_EXIT_CODE : 1);
  },
);
