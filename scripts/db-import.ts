/**
 * `npm run db:import -- --env <name> [--id <coordinator id>]`: moves a STOPPED embedded
 * coordinator's wallet registry (DATA_DIR/<id>/wallets.jsonl) into the PostgreSQL database of
 * COORDINATOR_DATABASE_URL, in one transaction (src/coordinator/store/import.ts). Run it once when
 * a deployment moves from one coordinator on files to coordinators on PostgreSQL; running it again
 * changes nothing. The file is left as it was: keep it as a backup, and start the coordinators with
 * COORDINATOR_DATABASE_URL set from then on.
 *
 * It takes the coordinator's data directory lock, so it refuses while that coordinator runs.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, coordinatorEntry, loadConfig } from '../src/config/index.js';
import { WalletRegistry } from '../src/coordinator/registry.js';
import { Database, SchemaMismatchError, StoreUnavailableError } from '../src/coordinator/store/database.js';
import { ImportConflictError, importRegistry } from '../src/coordinator/store/import.js';
import { DirectoryLockError, LOCKED_EXIT_CODE, lockDirectory } from '../src/util/dir-lock.js';

const USAGE = 'usage: npm run db:import -- --env <name> [--id <coordinator id>]';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      env: { type: 'string', default: 'local' },
      id: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length > 0) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ env: values.env });
  const self = coordinatorEntry(config, values.id ?? config.coordinator.id);
  const url = self.databaseUrl;
  if (url === undefined) {
    console.error(
      `COORDINATOR_DATABASE_URL is not set in ${config.envFile ?? 'the environment'}: nowhere to import to`,
    );
    return 2;
  }
  const owner = await lockDirectory(self.dataDir, 'db:import');
  try {
    const registry = await WalletRegistry.open(join(self.dataDir, 'wallets.jsonl'));
    try {
      const db = await Database.open({ url, applicationName: 'mpc-engine db:import' });
      try {
        const result = await importRegistry(db, registry);
        console.log(
          `${registry.location} → ${db.location}: ${result.imported} wallets imported, ${result.skipped} already there, ` +
            `${result.unfinished} unfinished key generations left for reconciliation`,
        );
        return 0;
      } finally {
        await db.close();
      }
    } finally {
      await registry.close();
    }
  } finally {
    await owner.release();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof DirectoryLockError && e.code === 'locked') {
      console.error(`${e.message} (stop the coordinator first)`);
      process.exitCode = LOCKED_EXIT_CODE;
      return;
    }
    const known =
      e instanceof ConfigError ||
      e instanceof ImportConflictError ||
      e instanceof StoreUnavailableError ||
      e instanceof SchemaMismatchError;
    console.error(known ? (e as Error).message : e);
    process.exitCode = 1;
  },
);
