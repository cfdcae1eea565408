/**
 * The coordinator's PostgreSQL database (COORDINATOR_DATABASE_URL): a bounded connection pool,
 * the schema's versioned migrations applied at start under an advisory lock, transactions, and the
 * mapping of "the database cannot be reached" to one 503 error.
 *
 * Every coordinator of a group opens the same database; it is the only state they share. What one
 * coordinator writes the others read from here, never from each other.
 *
 * Errors: a failure to reach the database (refused, reset, timed out, the server shutting down or
 * starting, too many connections) becomes `StoreUnavailableError` — a 503 with Retry-After that
 * names no host, user or password. The URL itself is a secret (it may carry a password): it is
 * never logged nor put in an error; `location` is its host, port and database name only. Any
 * other error (a constraint, a bug) is passed on as it is, for the caller to map or report.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { silentLogger, type Logger } from '../../util/log.js';
import { ServiceError } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/** The database cannot be reached now: the request may be retried (here or at another coordinator). */
export class StoreUnavailableError extends ServiceError {
  override readonly name = 'StoreUnavailableError';
  readonly status = 503;
  readonly problem = 'store-unavailable';
  override readonly retryAfterS = 2;
  override get publicDetail(): string {
    return 'the coordinator cannot reach its database; retry shortly';
  }
}

/** The database's schema cannot be used by this coordinator (newer, or changed migrations). */
export class SchemaMismatchError extends Error {
  override readonly name = 'SchemaMismatchError';
}

export interface DatabaseOptions {
  /** postgres://user:password@host:port/database (a secret: never logged) */
  readonly url: string;
  /** connections at most (default 10) */
  readonly poolSize?: number;
  /** to open a connection (default 5 s) */
  readonly connectTimeoutMs?: number;
  /** any one statement (default 15 s): a statement stuck on a lock fails instead of holding a request */
  readonly statementTimeoutMs?: number;
  /** shown in pg_stat_activity (the coordinator's id) */
  readonly applicationName?: string;
  readonly log?: Logger;
  /** the schema (tests give others); default MIGRATIONS */
  readonly migrations?: readonly Migration[];
}

/**
 * SQLSTATE classes and codes that mean "not reachable now" rather than "this statement is wrong".
 * 57014 is the statement timeout: a statement that waited too long (for a lock, on a loaded server)
 * may well succeed when retried. 25006 is a write on a read-only server: a standby, reached during
 * a failover before the new primary takes its name. 28000/28P01 are a refused login: credentials
 * rotated on the server before the coordinators' configuration.
 */
const UNAVAILABLE_SQLSTATES = new Set([
  '57014',
  '25006',
  '28000',
  '28P01',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '53400',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
]);
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** messages node-postgres uses for a lost or never-made connection */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|connection timeout|terminating connection/i;

/** Whether `e` says the database cannot be reached now (so the operation may be retried later). */
export function isUnavailable(e: unknown): boolean {
  if (e instanceof StoreUnavailableError) return true;
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  return e instanceof Error && UNAVAILABLE_MESSAGE.test(e.message);
}

/** SQLSTATEs after which a transaction is run again from the start. */
const RETRY_SQLSTATES = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** One key per use of pg_advisory_lock, from a name, so that uses never collide by accident. */
export function advisoryKey(name: string): bigint {
  return createHash('sha256').update(`mpc-engine/advisory/${name}`).digest().readBigInt64BE(0);
}

/** host:port/database of a URL, without user or password, for logs. */
export function locationOf(url: string): string {
  try {
    const u = new URL(url);
    return `postgresql ${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'postgresql (unparsable URL)';
  }
}

export type Queryable = Pick<pg.PoolClient, 'query'>;

export class Database {
  /** host, port and database (no credentials) */
  readonly location: string;
  /** this process's id in the database (leases and running key generations name it) */
  readonly instanceId = randomUUID();
  private closed = false;

  private constructor(
    readonly pool: pg.Pool,
    private readonly log: Logger,
    url: string,
  ) {
    this.location = locationOf(url);
  }

  /**
   * Connects and brings the schema up to date (under an advisory lock, so coordinators starting
   * together apply each migration once).
   * @throws StoreUnavailableError if the database cannot be reached, SchemaMismatchError if its schema is newer or was changed
   */
  static async open(options: DatabaseOptions): Promise<Database> {
    const log = options.log ?? silentLogger();
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      idleTimeoutMillis: 30_000,
      application_name: options.applicationName ?? 'mpc-engine coordinator',
      keepAlive: true,
    });
    // An idle connection lost (the server restarted) is an event, not a crash: the pool drops it
    // and the next query opens a new one.
    pool.on('error', (e) => log.warn({ err: e.message }, 'database: an idle connection was lost'));
    const db = new Database(pool, log, options.url);
    try {
      await db.migrate(options.migrations ?? MIGRATIONS);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw isUnavailable(e) ? new StoreUnavailableError(`database ${db.location} unreachable: ${describe(e)}`) : e;
    }
    return db;
  }

  /** One statement on a pooled connection. @throws StoreUnavailableError */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: readonly unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values as unknown[]);
    } catch (e) {
      throw this.mapped(e);
    }
  }

  /**
   * Runs `body` in one transaction (READ COMMITTED unless `serializable`), committed if it returns
   * and rolled back if it throws. A serialization failure or deadlock runs it again (up to 5 times),
   * so `body` must do nothing but queries on `client`.
   * @throws StoreUnavailableError, or what `body` throws
   */
  async transaction<T>(body: (client: Queryable) => Promise<T>, options: { serializable?: boolean } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw this.mapped(e);
      }
      let broken = false;
      const unguard = guard(client, () => {
        broken = true;
      });
      try {
        await client.query(options.serializable ? 'BEGIN ISOLATION LEVEL SERIALIZABLE' : 'BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        return result;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && RETRY_SQLSTATES.has(code) && attempt < 5) continue;
        throw this.mapped(e);
      } finally {
        unguard();
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private mapped(e: unknown): unknown {
    if (e instanceof StoreUnavailableError || !isUnavailable(e)) return e;
    this.log.warn({ err: describe(e), database: this.location }, 'database unreachable');
    return new StoreUnavailableError(`database ${this.location} unreachable: ${describe(e)}`);
  }

  /**
   * Applies the migrations the database lacks, in order, each in its own transaction, holding a
   * session advisory lock for the whole run. A recorded migration whose text differs from ours, or
   * a version we do not know, stops the start: this coordinator would misread that schema.
   */
  private async migrate(migrations: readonly Migration[]): Promise<void> {
    const client = await this.pool.connect();
    let broken = false;
    const unguard = guard(client, () => {
      broken = true;
    });
    try {
      await client.query('SELECT pg_advisory_lock($1)', [advisoryKey('migrations').toString()]);
      try {
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
        const applied = new Map(
          (
            await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations')
          ).rows.map((r) => [r.version, r.checksum]),
        );
        const known = new Set(migrations.map((m) => m.version));
        const newer = [...applied.keys()].filter((v) => !known.has(v));
        if (newer.length > 0)
          throw new SchemaMismatchError(
            `database ${this.location} has schema version ${Math.max(...newer)}, which this coordinator does not know (it knows up to ${Math.max(0, ...known)}): run the newer coordinator, or restore the database`,
          );
        for (const m of migrations) {
          const sum = checksum(m);
          const recorded = applied.get(m.version);
          if (recorded !== undefined) {
            if (recorded !== sum)
              throw new SchemaMismatchError(
                `database ${this.location}: migration ${m.version} (${m.name}) was applied with other text than this coordinator's; the schema cannot be trusted`,
              );
            continue;
          }
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
              m.version,
              m.name,
              sum,
            ]);
            await client.query('COMMIT');
          } catch (e) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw e;
          }
          this.log.info({ version: m.version, name: m.name, database: this.location }, 'database: migration applied');
        }
      } finally {
        await client
          .query('SELECT pg_advisory_unlock($1)', [advisoryKey('migrations').toString()])
          .catch(() => undefined);
      }
    } finally {
      unguard();
      client.release(broken);
    }
  }
}

/**
 * Listens for `error` on a client checked out of the pool, until the returned function is called.
 * The pool listens only on idle clients; a checked-out client whose connection is lost (the server
 * restarted, a failover) emits `error` besides failing its query, and an `error` event nobody
 * listens to ends the process — every coordinator at once when the database restarts.
 */
function guard(client: pg.PoolClient, onLost: () => void): () => void {
  const listener = (): void => onLost();
  client.on('error', listener);
  return () => client.off('error', listener);
}

function checksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex');
}

function describe(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  // node-postgres messages name no password; the code is the most useful part
  const code = typeof err.code === 'string' ? `${err.code} ` : '';
  return `${code}${typeof err.message === 'string' ? err.message : String(e)}`.slice(0, 300);
}
