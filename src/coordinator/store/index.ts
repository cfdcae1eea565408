/**
 * The coordinator's state, opened from its configuration: the embedded files in its data
 * directory by default (no set-up), or the PostgreSQL database when COORDINATOR_DATABASE_URL is
 * set, which several coordinators share. Each part has one interface and the same rules for both
 * (docs/architecture.md, "Coordinator state"). `openSharedStore` opens the database with what only
 * a shared store has (this process's liveness, the wallet registry's copy, leases);
 * `openCoordinatorStore` the quarantine and the audit log, on the files or on that database.
 * @module
 */
import { join } from 'node:path';
import type { Config } from '../../config/index.js';
import { AuditLog } from '../../util/audit-log.js';
import type { Logger } from '../../util/log.js';
import { Quarantine } from '../quarantine.js';
import type { AuditSink } from '../wallets.js';
import { PgAuditLog } from './audit-pg.js';
import { Database } from './database.js';
import { CoordinatorInstances } from './instances.js';
import { Leases } from './leases.js';
import { PostgresWalletRegistry } from './postgres-wallets.js';
import { PgQuarantineJournal } from './quarantine-pg.js';

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

/** The audit log the coordinator writes: the file, or the shared chain in the database. */
export interface CoordinatorAudit extends AuditSink {
  /** where it is (a path, or the database's host and name: never a credential) */
  readonly location: string;
  /** records in the chain, as far as this process knows */
  readonly length: number;
  /** waits for appends under way */
  close(): Promise<void>;
}

export interface CoordinatorStore {
  readonly quarantine: Quarantine;
  readonly audit: CoordinatorAudit;
  /** the database, when COORDINATOR_DATABASE_URL is set (or one was passed in) */
  readonly database: Database | undefined;
  /** closes the quarantine and the audit log, and the database if this store opened it */
  close(): Promise<void>;
}

export interface CoordinatorStoreOptions {
  /** a database already open (its owner closes it); else one is opened from the configuration */
  readonly database?: Database;
  /** who writes the shared audit log (default the database's instance id) */
  readonly writer?: string;
  /** how often the quarantine looks for other coordinators' records (default 1 s) */
  readonly pollMs?: number;
}

/**
 * Opens the coordinator's quarantine and audit log. A damaged audit log (a changed, deleted or
 * inserted record) stops the start, naming it; nothing is modified.
 * @throws AuditLogCorruptError; StoreUnavailableError if the database cannot be reached
 */
export async function openCoordinatorStore(
  config: Config,
  log: Logger,
  o: CoordinatorStoreOptions = {},
): Promise<CoordinatorStore> {
  // A9: suspensions after verified offences are capped at t − 1 nodes (quarantine.ts)
  const maxFaulty = config.mpc.threshold - 1;
  const url = config.coordinator.databaseUrl;
  if (o.database === undefined && url === undefined) {
    const dir = config.coordinator.dataDir;
    const audit = await AuditLog.open(join(dir, 'audit.jsonl'), { log });
    let quarantine: Quarantine;
    try {
      quarantine = await Quarantine.open(join(dir, 'quarantine.jsonl'), { log, maxFaulty });
    } catch (e) {
      await audit.close();
      throw e;
    }
    return {
      quarantine,
      audit,
      database: undefined,
      close: async () => {
        quarantine.close();
        await audit.close();
      },
    };
  }
  const owned = o.database === undefined;
  const database = o.database ?? (await Database.open({ url: url as string, log }));
  try {
    const audit = await PgAuditLog.open(database, { writer: o.writer ?? database.instanceId, log });
    const quarantine = await Quarantine.openJournal(
      new PgQuarantineJournal(database, o.pollMs === undefined ? {} : { pollMs: o.pollMs }),
      { log, maxFaulty },
    );
    return {
      quarantine,
      audit,
      database,
      close: async () => {
        quarantine.close();
        await audit.close();
        if (owned) await database.close();
      },
    };
  } catch (e) {
    if (owned) await database.close();
    throw e;
  }
}
