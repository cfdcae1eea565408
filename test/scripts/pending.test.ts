/**
 * `npm run pending`: lists a stopped node's pending states and drops one by scope and session id,
 * recorded in the node's audit log (chain intact); refuses a wrong session id, and refuses to touch
 * a running node's records (its data-directory lock).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openLocalKms } from '../../src/kms/local.js';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { RecordStore } from '../../src/node/storage/store.js';
import { verifyAuditLog } from '../../src/util/audit-log.js';
import { LOCKED_EXIT_CODE, lockDirectory } from '../../src/util/dir-lock.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);
type Failed = { code: number; stdout: string; stderr: string };

test('npm run pending: list, drop by scope and session id with an audit record; refused for another run or while the node runs', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'env'));
  await writeFile(
    join(root, 'env', '.env.test'),
    [
      'COORDINATOR_PLATFORM=LOCAL',
      'COORDINATOR_LOCAL_KMS_PATH=kms',
      'NODE_IDS=node_1,node_2,node_3',
      'NODE_HOSTS=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      'NODE_PLATFORMS=LOCAL,LOCAL,LOCAL',
      'MPC_THRESHOLD=2',
      'MPC_TOTAL_SHARDS=3',
      'DATA_DIR=data',
    ].join('\n'),
  );
  const kms = await openLocalKms({ root: join(root, 'kms'), nodeId: 'node_1' });
  const store = await RecordStore.open({ dir: join(root, 'data', 'node_1', 'records'), nodeId: 'node_1', kms });
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
  const sid = randomBytes(32);
  const scope = 'w_pendingwallet';
  await lifecycle.stage(
    scope,
    {
      protocol: 'refresh',
      sid,
      round: 'keygen/confirm',
      c: randomBytes(32),
      epoch: 4,
      parts: [randomBytes(40), randomBytes(40)],
    },
    undefined,
  );
  const script = join(process.cwd(), 'dist', 'scripts', 'pending.js');
  const args = ['--env', 'test', '--node', 'node_1'];

  const listed = await run(process.execPath, [script, ...args, 'list'], { cwd: root });
  t.regex(
    listed.stdout,
    new RegExp(`${scope}: refresh run ${sid.toString('hex')}, pending epoch 4 \\(committed: none\\)`),
  );

  const wrong = (await run(process.execPath, [script, ...args, 'drop', '--scope', scope, '--sid', 'ab'.repeat(32)], {
    cwd: root,
  }).catch((e: unknown) => e)) as Failed;
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /belongs to run .*nothing dropped/);
  t.truthy(await lifecycle.pending(scope), 'still pending');

  // "the node is running": this process owns the node's directory
  const node = await lockDirectory(join(root, 'data', 'node_1'), 'node node_1');
  const busy = (await run(process.execPath, [script, ...args, 'drop', '--scope', scope, '--sid', sid.toString('hex')], {
    cwd: root,
  }).catch((e: unknown) => e)) as Failed;
  t.is(busy.code, LOCKED_EXIT_CODE);
  t.regex(busy.stderr, /stop it first/);
  t.truthy(await lifecycle.pending(scope), 'untouched while the node runs');
  await node.release();

  const dropped = await run(
    process.execPath,
    [script, ...args, 'drop', '--scope', scope, '--sid', sid.toString('hex')],
    { cwd: root },
  );
  t.regex(dropped.stdout, /dropped; drop it on every other node that holds it too/);
  t.is(await lifecycle.pending(scope), undefined);
  const auditPath = join(root, 'data', 'node_1', 'audit.jsonl');
  t.like(await verifyAuditLog(auditPath), { ok: true, lines: 1 });
  const line = JSON.parse((await readFile(auditPath, 'utf8')).trim()) as { event: Record<string, unknown> };
  t.like(line.event, {
    type: 'state.dropped',
    scope,
    sid: sid.toString('hex'),
    protocol: 'refresh',
    epoch: 4,
    by: 'operator',
  });
  t.regex((await run(process.execPath, [script, ...args, 'list'], { cwd: root })).stdout, /node_1: no pending state/);
});
