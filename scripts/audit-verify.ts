/**
 * `npm run audit:verify -- <file>` or `npm run audit:verify -- --env <name>`: checks an audit log's
 * hash chain (src/util/audit-log.ts) without changing it. With `--env`, the coordinator's log of
 * that env file: the table `audit_log` of COORDINATOR_DATABASE_URL when it is set (one chain for
 * every coordinator, src/coordinator/store/audit-pg.ts), else DATA_DIR/coordinator/audit.jsonl.
 * Exit code 0 when every record continues the chain (it prints the record count and the last
 * hash, which an operator may keep elsewhere to notice records cut off the end later); 1 naming
 * the first record that does not, or when the log cannot be read; 2 for bad arguments.
 *
 * The database is only read: no migration is applied, nothing is written.
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { verifyPgAuditLog } from '../src/coordinator/store/audit-pg.js';
import { locationOf } from '../src/coordinator/store/database.js';
import { verifyAuditLog, type AuditVerification } from '../src/util/audit-log.js';

const USAGE = 'usage: npm run audit:verify -- <audit.jsonl> | --env <name>';

/** The chain in the database: read in one read-only transaction, so it is one consistent snapshot. */
async function verifyDatabase(url: string): Promise<AuditVerification> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // a lost connection is reported by the query that needed it
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    // node-postgres names no password; the URL itself is never printed
    throw new Error(`${locationOf(url)} unreachable: ${(e as Error).message}`, { cause: e });
  }
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await verifyPgAuditLog(client);
    await client.query('COMMIT');
    return result;
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    options: { env: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length + (values.env === undefined ? 0 : 1) !== 1) {
    (values.help ? console.log : console.error)(USAGE);
    return values.help ? 0 : 2;
  }
  let path: string;
  let result: AuditVerification;
  let unit = 'line';
  if (values.env === undefined) {
    path = positionals[0] as string;
    result = await verifyAuditLog(path);
  } else {
    const config = loadConfig({ env: values.env });
    const url = config.coordinator.databaseUrl;
    if (url === undefined) {
      path = join(config.coordinator.dataDir, 'audit.jsonl');
      result = await verifyAuditLog(path);
    } else {
      path = `${locationOf(url)} (audit_log)`;
      unit = 'record';
      result = await verifyDatabase(url);
    }
  }
  if (!result.ok) {
    console.error(`${path}: ${unit} ${result.line}: ${result.reason}`);
    console.error(`audit log NOT intact: ${unit}s from this one on cannot be trusted`);
    return 1;
  }
  console.log(
    `${path}: ok, ${result.lines} ${unit}${result.lines === 1 ? '' : 's'}${result.lastTime === undefined ? '' : `, last at ${result.lastTime}`}`,
  );
  console.log(`last hash ${result.lastHash}`);
  if (result.tornTailBytes > 0) {
    console.log(
      `note: ${result.tornTailBytes} bytes after line ${result.lines} are an incomplete line (an append interrupted by a crash; cut when the log is next opened)`,
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ConfigError ? e.message : `audit:verify: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
