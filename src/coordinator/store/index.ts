/**
 * The coordinator's shared store: PostgreSQL when COORDINATOR_DATABASE_URL is set, for any number
 * of coordinators at once. Without it the coordinator keeps its files (registry.ts, quarantine.ts,
 * the audit log) in its data directory, which its lock gives one process.
 * @module
 */
import type { Config } from '../../config/index.js';
import type { Logger } from '../../util/log.js';
import { Database } from './database.js';
import { CoordinatorInstances } from './instances.js';
import { Leases } from './leases.js';
import { PostgresWalletRegistry } from './postgres-wallets.js';

/** Background work one coordinator of the group does at a time. */
export const LEASES = ['refresh-schedule', 'reconciliation'] as const;

export interface SharedStore {
  readonly database: Database;
  readonly instances: CoordinatorInstances;
  readonly wallets: PostgresWalletRegistry;
  /** who runs the work of LEASES now */
  readonly leases: Leases;
  /** ends this instance's liveness and closes the pool (after the stores on it are closed) */
  close(): Promise<void>;
}

/**
 * Opens the database (schema brought up to date), registers this process as a live instance and
 * loads the wallet registry; undefined without COORDINATOR_DATABASE_URL.
 * @throws StoreUnavailableError, SchemaMismatchError
 */
export async function openSharedStore(config: Config, log: Logger): Promise<SharedStore | undefined> {
  const url = config.coordinator.databaseUrl;
  if (url === undefined) return undefined;
  const database = await Database.open({ url, applicationName: `mpc-engine ${config.coordinator.id}`, log });
  try {
    const instances = await CoordinatorInstances.start(database, { coordinatorId: config.coordinator.id, log });
    const wallets = await PostgresWalletRegistry.open(database, { instances, log });
    const leases = new Leases(database, LEASES, { log });
    await leases.start();
    log.info(
      { database: database.location, instance: database.instanceId, wallets: wallets.count },
      'shared store: PostgreSQL',
    );
    return {
      database,
      instances,
      wallets,
      leases,
      close: async () => {
        await leases.stop();
        await wallets.close();
        await instances.stop();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}
