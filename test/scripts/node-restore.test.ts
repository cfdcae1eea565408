/**
 * `npm run node:restore`: on a stopped node restored from a copy, burns its presignatures, drops its
 * pending states and marks it restored, recorded in its audit log (chain intact); refuses without
 * the typed node id and while the node runs (its data-directory lock).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Lifecycle } from '../../src/node/lifecycle.js';
import { readRestored } from '../../src/node/restore.js';
import { Presignatures } from '../../src/node/storage/presignatures.js';
import { pack } from '../../src/node/records.js';
import { verifyAuditLog } from '../../src/util/audit-log.js';
import { LOCKED_EXIT_CODE, lockDirectory } from '../../src/util/dir-lock.js';
import { localNodeEnv } from '../helpers/node-env.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);
type Failed = { code: number; stdout: string; stderr: string };

test('npm run node:restore: burns, drops and marks with an audit record; refused unconfirmed or while the node runs', async (t) => {
  const root = await tempDir(t);
  const store = await localNodeEnv(root);
  const presigs = new Presignatures(store);
  await presigs.save(
    'ab'.repeat(32),
    pack(new TextEncoder().encode('w_restored01'), Uint8Array.of(1), Uint8Array.of(2)),
  );
  const lifecycle = new Lifecycle({ store, parties: [], beforeSwitch: () => Promise.resolve() });
  await lifecycle.stage(
    'w_restored01',
    {
      protocol: 'refresh',
      sid: randomBytes(32),
      round: 'keygen/confirm',
      c: randomBytes(32),
      epoch: 2,
      parts: [randomBytes(40), randomBytes(40)],
    },
    undefined,
  );
  const script = join(process.cwd(), 'dist', 'scripts', 'node-restore.js');
  const args = ['--env', 'test', '--node', 'node_1'];

  const wrong = (await run(process.execPath, [script, ...args, '--confirm', 'node_2'], { cwd: root }).catch(
    (e: unknown) => e,
  )) as Failed;
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /not confirmed: nothing changed/);
  t.is(await readRestored(store), undefined);
  t.false(await presigs.isUsed('ab'.repeat(32)));

  const node = await lockDirectory(join(root, 'data', 'node_1'), 'node node_1');
  const busy = (await run(process.execPath, [script, ...args, '--confirm', 'node_1'], { cwd: root }).catch(
    (e: unknown) => e,
  )) as Failed;
  t.is(busy.code, LOCKED_EXIT_CODE);
  t.false(await presigs.isUsed('ab'.repeat(32)), 'untouched while the node runs');
  await node.release();

  const done = await run(process.execPath, [script, ...args, '--confirm', 'node_1'], { cwd: root });
  t.regex(
    done.stdout,
    /node_1: marked restored .*1 presignature\(s\) burnt, 1 pending state\(s\) dropped \(w_restored01\)/,
  );
  t.true(await presigs.isUsed('ab'.repeat(32)));
  t.deepEqual(await store.list('pending'), []);
  t.truthy(await readRestored(store));
  const auditPath = join(root, 'data', 'node_1', 'audit.jsonl');
  t.like(await verifyAuditLog(auditPath), { ok: true, lines: 2 });
  const events = (await readFile(auditPath, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { event: Record<string, unknown> }).event);
  t.like(events[0], { type: 'node.restoring', by: 'operator' });
  t.like(events[1], {
    type: 'node.restored',
    again: false,
    presignaturesBurnt: 1,
    pendingDropped: ['w_restored01'],
    by: 'operator',
  });
});
