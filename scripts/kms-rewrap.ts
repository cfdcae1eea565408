/**
 * `npm run kms:rewrap -- --env <name> --id <node> [--rotate]`: re-wraps every record of a stopped
 * node under its KMS's current master key. With `--rotate` (local KMS only) it first retires the
 * node's local master key and makes a new one. For a cloud KMS or an HSM, point the node's key
 * setting (NODE_KMS_*_KEY_ID / _KEY_LABEL) at the new key, keep the old one enabled, and run this;
 * disable the old key only after it reports every record current.
 *
 * Resumable: each record is replaced atomically, and a rerun skips records already re-wrapped.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, nodeEntry } from '../src/config/index.js';
import { openKms } from '../src/kms/open.js';
import { rotateLocalKms } from '../src/kms/local.js';
import { rewrapRecords } from '../src/node/storage/rewrap.js';
import { RecordStore } from '../src/node/storage/store.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      id: { type: 'string' },
      rotate: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || !values.id) {
    console.log('usage: npm run kms:rewrap -- --env <name> --id <node id> [--rotate]');
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ env: values.env });
  const self = nodeEntry(config, values.id);
  // The node must be stopped: it would go on using records this rewrites.
  const owner = await lockDirectory(self.dataDir, `kms:rewrap ${self.id}`);
  try {
    if (values.rotate) {
      if (self.kms.provider !== 'local') throw new Error(`--rotate makes a new local master key; node ${self.id} uses the ${self.kms.provider} KMS (point its key setting at the new key instead)`);
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
