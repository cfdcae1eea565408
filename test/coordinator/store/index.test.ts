/**
 * openCoordinatorStore: the files in the data directory without COORDINATOR_DATABASE_URL (as
 * before), the shared database with it; the URL, a secret, appears in no enumeration of the
 * configuration; a damaged audit chain in the database stops the open.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/index.js';
import { openCoordinatorStore } from '../../../src/coordinator/store/index.js';
import { Database } from '../../../src/coordinator/store/database.js';
import { AuditLogCorruptError } from '../../../src/util/audit-log.js';
import { silentLogger } from '../../../src/util/log.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/storage.js';

const ENV = {
  COORDINATOR_PLATFORM: 'LOCAL',
  NODE_IDS: 'node_1,node_2,node_3',
  NODE_HOSTS: '127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
  NODE_PLATFORMS: 'LOCAL,LOCAL,LOCAL',
  MPC_THRESHOLD: '2',
  MPC_TOTAL_SHARDS: '3',
};

let server: PostgresServer;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

test('without a database URL: quarantine.jsonl and audit.jsonl in the data directory', async (t) => {
  const root = await tempDir(t);
  const config = parseConfig(ENV, { rootDir: root });
  t.is(config.coordinator.databaseUrl, undefined);
  const store = await openCoordinatorStore(config, silentLogger());
  t.is(store.database, undefined);
  await store.quarantine.record({ nodeId: 'node_2', protocol: 'sign', reason: 'x' });
  await store.audit.append({ type: 'coordinator.started' });
  await store.close();
  const dir = config.coordinator.dataDir;
  t.regex(await readFile(join(dir, 'quarantine.jsonl'), 'utf8'), /"nodeId":"node_2"/);
  t.regex(await readFile(join(dir, 'audit.jsonl'), 'utf8'), /coordinator\.started/);
  t.is(store.audit.location, join(dir, 'audit.jsonl'));
});

test('with COORDINATOR_DATABASE_URL: both in the database; the URL is never enumerated', async (t) => {
  const root = await tempDir(t);
  const url = await server.createDatabase();
  const password = decodeURIComponent(new URL(url).password);
  const config = parseConfig({ ...ENV, COORDINATOR_DATABASE_URL: url }, { rootDir: root });
  t.is(config.coordinator.databaseUrl, url);
  t.false(JSON.stringify(config).includes(password), 'not in a serialised configuration');
  t.throws(() => parseConfig({ ...ENV, COORDINATOR_DATABASE_URL: `mysql://u:${password}@h/db` }), {
    message: (m: string) => /COORDINATOR_DATABASE_URL/.test(m) && !m.includes(password),
  });

  const store = await openCoordinatorStore(config, silentLogger());
  t.truthy(store.database);
  t.false(store.audit.location.includes(password));
  await store.quarantine.record({ nodeId: 'node_2', protocol: 'sign', reason: 'x' });
  await store.audit.append({ type: 'coordinator.started' });
  await store.close();
  const db = await Database.open({ url });
  t.teardown(() => db.close());
  t.is((await db.query('SELECT 1 FROM quarantine_journal')).rowCount, 1);
  t.is((await db.query('SELECT 1 FROM audit_log')).rowCount, 1);

  // a damaged chain stops the start, as the file does
  await db.query(`UPDATE audit_log SET event = replace(event, 'started', 'stopped')`);
  await t.throwsAsync(openCoordinatorStore(config, silentLogger()), { instanceOf: AuditLogCorruptError });
});
