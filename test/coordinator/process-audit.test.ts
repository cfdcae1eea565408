/**
 * The coordinator process (`node dist/src/coordinator/main.js local`, no nodes needed) with its
 * audit log and registry: a start and a clean stop are recorded in a chain that verifies, with
 * the credential's public id and the key generations a previous run left uncommitted, and never
 * the token; a registry whose complete last line does not validate, or an audit log with a changed
 * line, stops the start with the file and line named, and the file is left as it was; an
 * operator's release (`npm run quarantine -- --release`, another process) is audited; archiving a
 * wallet through the admin API is recorded in the registry and the audit log, and its signing is
 * refused.
 */
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verifyAuditLog } from '../../src/util/audit-log.js';
import { GENERATOR_HEX } from '../helpers/coordinator.js';
import { Cluster, TOKEN } from '../helpers/processes.js';

const PENDING =
  JSON.stringify({ v: 2, state: 'pending', walletId: 'w_interrupted1', startedAt: '2030-01-01T00:00:00.000Z' }) + '\n';

async function coordinatorDir(cluster: Cluster): Promise<string> {
  const dir = join(cluster.env['DATA_DIR'] as string, 'coordinator');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

test.serial('a start and a clean stop are audited; uncommitted key generations are reported', async (t) => {
  const cluster = await Cluster.create();
  t.teardown(() => cluster.close());
  const dir = await coordinatorDir(cluster);
  await writeFile(join(dir, 'wallets.jsonl'), PENDING, { mode: 0o600 });
  cluster.startCoordinator();
  await cluster.until(
    'the API',
    async () => (cluster.allLogs().includes('wallet API listening') ? true : undefined),
    60_000,
    100,
  );
  t.is(await cluster.stop('coordinator'), 0, cluster.allLogs());
  const path = join(dir, 'audit.jsonl');
  t.like(await verifyAuditLog(path), { ok: true, lines: 2 });
  const text = await readFile(path, 'utf8');
  const events = text
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  t.like(events[0], { type: 'coordinator.started', wallets: 0, pendingWallets: ['w_interrupted1 (interrupted)'] });
  t.regex(String(events[0]?.['credentialId']), /^cred_[A-Za-z0-9_-]{22}$/);
  t.like(events[1], { type: 'coordinator.stopped', signal: 'SIGTERM' });
  t.false(text.includes(TOKEN.slice(7)), 'never the token');
  t.regex(cluster.allLogs(), /key generations that never completed/);
  t.is(await readFile(join(dir, 'wallets.jsonl'), 'utf8'), PENDING);
});

test.serial(
  'a registry whose complete last line does not validate stops the start; the file is untouched',
  async (t) => {
    const cluster = await Cluster.create();
    t.teardown(() => cluster.close());
    const dir = await coordinatorDir(cluster);
    const content = PENDING + JSON.stringify({ v: 3, state: 'committed', walletId: 'w_fromthefuture' }) + '\n';
    const path = join(dir, 'wallets.jsonl');
    await writeFile(path, content, { mode: 0o600 });
    const child = cluster.startCoordinator();
    const [code] = (await once(child, 'exit')) as [number];
    t.is(code, 1);
    const logs = cluster.allLogs();
    t.true(logs.includes(`${path}: line 2 is format version 3`), logs);
    t.is(await readFile(path, 'utf8'), content, 'not truncated');
  },
);

test.serial('an audit log with a changed line stops the start, naming the line; the file is untouched', async (t) => {
  const cluster = await Cluster.create();
  t.teardown(() => cluster.close());
  const dir = await coordinatorDir(cluster);
  cluster.startCoordinator();
  await cluster.until(
    'the API',
    async () => (cluster.allLogs().includes('wallet API listening') ? true : undefined),
    60_000,
    100,
  );
  t.is(await cluster.stop('coordinator'), 0, cluster.allLogs());
  const path = join(dir, 'audit.jsonl');
  const changed = (await readFile(path, 'utf8')).replace('"wallets":0', '"wallets":7');
  await writeFile(path, changed);
  const child = cluster.startCoordinator();
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 1);
  t.regex(cluster.allLogs(), /audit\.jsonl: line 1: hash does not match/);
  t.is(await readFile(path, 'utf8'), changed);
});

test.serial("an operator's release of a suspended node is audited", async (t) => {
  const cluster = await Cluster.create();
  t.teardown(() => cluster.close());
  const dir = await coordinatorDir(cluster);
  const offence = {
    type: 'offence',
    nodeId: 'node_2',
    protocol: 'sign',
    reason: 'partial signature failed its check',
    verified: true,
    at: Date.parse('2030-01-01T00:00:00Z'),
  };
  await writeFile(join(dir, 'quarantine.jsonl'), JSON.stringify(offence) + '\n', { mode: 0o600 });
  cluster.startCoordinator();
  await cluster.until(
    'the API',
    async () => (cluster.allLogs().includes('wallet API listening') ? true : undefined),
    60_000,
    100,
  );
  const script = fileURLToPath(new URL('../../scripts/quarantine.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, '--release', 'node_2'], {
    env: { ...process.env, ...cluster.env },
    cwd: fileURLToPath(new URL('../../../', import.meta.url)),
  });
  t.regex(stdout, /node_2 released/);
  const path = join(dir, 'audit.jsonl');
  const released = await cluster.until(
    'the release in the audit log',
    async () => ((await readFile(path, 'utf8')).includes('"node.released"') ? true : undefined),
    30_000,
    200,
  );
  t.true(released);
  t.is(await cluster.stop('coordinator'), 0, cluster.allLogs());
  const events = (await readFile(path, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  t.like(events[0], { type: 'coordinator.started', suspendedNodes: ['node_2'] });
  t.deepEqual(events[1], {
    type: 'node.released',
    nodeId: 'node_2',
    verified: true,
    since: '2030-01-01T00:00:00.000Z',
  });
  t.like(await verifyAuditLog(path), { ok: true, lines: 3 });
});

test.serial('archiving a wallet through the admin API is durable and audited; signing it is refused', async (t) => {
  const adminToken = 'Bearer admin_process_token_0004';
  const cluster = await Cluster.create({ COORDINATOR_ADMIN_TOKEN: adminToken });
  t.teardown(() => cluster.close());
  const dir = await coordinatorDir(cluster);
  const walletId = 'w_archivedinprocess1';
  const committed =
    JSON.stringify({
      v: 2,
      state: 'committed',
      walletId,
      publicKey: GENERATOR_HEX,
      createdAt: '2030-01-01T00:00:00.000Z',
    }) + '\n';
  await writeFile(join(dir, 'wallets.jsonl'), committed, { mode: 0o600 });
  cluster.startCoordinator();
  await cluster.until(
    'the API',
    async () => ((await cluster.http('GET', '/v1/wallets')).status === 200 ? true : undefined),
    60_000,
    100,
  );
  const refused = await cluster.http('DELETE', `/v1/wallets/${walletId}`);
  t.is(refused.status, 401, 'not with the wallet server credential');
  const archived = await cluster.http('DELETE', `/v1/wallets/${walletId}`, undefined, { authorization: adminToken });
  t.is(archived.status, 200, archived.text);
  t.like(archived.body, { walletId, status: 'archived' });
  const sign = await cluster.http('POST', `/v1/wallets/${walletId}/sign`, { digest: 'ab'.repeat(32) });
  t.is(sign.status, 409, sign.text);
  t.like(sign.body, { type: 'urn:mpc-engine:problem:wallet-archived' });
  t.is(await cluster.stop('coordinator'), 0, cluster.allLogs());
  const lines = (await readFile(join(dir, 'wallets.jsonl'), 'utf8')).split('\n').slice(0, -1);
  t.like(JSON.parse(lines[1] as string), { v: 2, state: 'archived', walletId });
  const path = join(dir, 'audit.jsonl');
  t.like(await verifyAuditLog(path), { ok: true });
  const events = (await readFile(path, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  const event = events.find((e) => e['type'] === 'wallet.archived');
  t.like(event, { walletId });
  t.regex(String(event?.['credentialId']), /^cred_[A-Za-z0-9_-]{22}$/);
  t.false(JSON.stringify(events).includes(adminToken.slice(7)), 'never the token');
});
