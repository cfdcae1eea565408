/**
 * Reconciliation with real processes (three nodes over mutual TLS, their protocol workers, the
 * coordinator): a key generation a previous coordinator left interrupted — its pending registry
 * record without an outcome, and no node holding anything of it — is resolved once every node is
 * connected: the registry records it, and the audit log says what was done.
 */
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyAuditLog } from '../../src/util/audit-log.js';
import { Cluster, NODE_IDS } from '../helpers/processes.js';

const PENDING =
  JSON.stringify({ v: 2, state: 'pending', walletId: 'w_interrupted1', startedAt: '2030-01-01T00:00:00.000Z' }) + '\n';

test('an interrupted key generation that left nothing on the nodes is resolved when the group connects', async (t) => {
  const cluster = await Cluster.create();
  t.teardown(() => cluster.close());
  const dir = join(cluster.env['DATA_DIR'] as string, 'coordinator');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const registryPath = join(dir, 'wallets.jsonl');
  await writeFile(registryPath, PENDING, { mode: 0o600 });
  for (const id of NODE_IDS) cluster.startNode(id);
  cluster.startCoordinator();
  await cluster.until(
    'the reconciliation',
    async () => ((await readFile(registryPath, 'utf8')).includes('"state":"resolved"') ? true : undefined),
    180_000,
    250,
  );
  t.is(
    await readFile(registryPath, 'utf8'),
    PENDING + JSON.stringify({ v: 2, state: 'resolved', walletId: 'w_interrupted1' }) + '\n',
  );
  t.is(await cluster.stop('coordinator'), 0, cluster.allLogs());
  const auditPath = join(dir, 'audit.jsonl');
  t.like(await verifyAuditLog(auditPath), { ok: true });
  const events = (await readFile(auditPath, 'utf8'))
    .split('\n')
    .slice(0, -1)
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  t.like(
    events.find((e) => e['type'] === 'wallet.resolved'),
    { walletId: 'w_interrupted1', registry: 'interrupted', archived: {} },
  );
  t.notRegex(cluster.allLogs(), /reconciliation did not finish/);
});
