import test from 'ava';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PresignatureUsedError, SessionReplayError, StorageError } from '../../../src/node/storage/errors.js';
import { Presignatures, SeenSessions } from '../../../src/node/storage/presignatures.js';
import { RecordStore } from '../../../src/node/storage/store.js';
import { openNode, tempDir } from '../../helpers/storage.js';

function outcomes(results: PromiseSettledResult<unknown>[]): { ok: number; used: number; other: unknown[] } {
  const other: unknown[] = [];
  let ok = 0;
  let used = 0;
  for (const r of results) {
    if (r.status === 'fulfilled') ok++;
    else if (r.reason instanceof PresignatureUsedError && r.reason.message === 'presignature already used') used++;
    else other.push(r.reason);
  }
  return { ok, used, other };
}

test('save, load, consume: once consumed, the secret is gone and every later use refused', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  const secret = randomBytes(96);
  await presigs.save('p1', secret);
  t.false(await presigs.isUsed('p1'));
  t.deepEqual(Buffer.from(await presigs.load('p1')), secret);
  t.deepEqual(Buffer.from(await presigs.consume('p1')), secret);
  t.true(await presigs.isUsed('p1'));
  t.false(await store.has('presig', 'p1'), 'secret deleted after marking');
  await t.throwsAsync(presigs.load('p1'), { instanceOf: PresignatureUsedError });
  await t.throwsAsync(presigs.consume('p1'), { instanceOf: PresignatureUsedError });
  await t.throwsAsync(presigs.markUsed('p1'), {
    instanceOf: PresignatureUsedError,
    message: 'presignature already used',
  });
  await t.throwsAsync(
    presigs.save('p1', secret),
    { instanceOf: PresignatureUsedError },
    'a used id cannot be refilled',
  );
  const missing = await t.throwsAsync(presigs.load('p2'), { instanceOf: StorageError });
  t.is(missing?.code, 'not-found');
});

test('claim: the caller checks the secret before anything is marked; the marker is durable when it resolves, the secret deleted after', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  const secret = randomBytes(64);
  await presigs.save('p1', secret);
  await t.throwsAsync(
    presigs.claim('p1', () => {
      throw new Error('belongs to another wallet');
    }),
    { message: 'belongs to another wallet' },
  );
  t.false(await presigs.isUsed('p1'), 'a refused claim marks nothing');
  t.deepEqual(Buffer.from(await presigs.load('p1')), secret, 'and the presignature is still there');
  t.deepEqual(await readdir(join(store.dir, 'presig-used')), [], 'and no staged marker is left behind');

  let seen: Buffer | undefined;
  const claimed = await presigs.claim('p1', (s) => {
    seen = Buffer.from(s);
  });
  t.true(await presigs.isUsed('p1'), 'marked by the time the claim resolves');
  t.deepEqual(seen, secret);
  t.deepEqual(Buffer.from(claimed.secret), secret);
  t.true(await claimed.deleted);
  t.false(await store.has('presig', 'p1'), 'the secret is gone once `deleted` settles');
  await t.throwsAsync(presigs.claim('p1'), { instanceOf: PresignatureUsedError });
  await t.throwsAsync(presigs.claim('p9'), { instanceOf: StorageError, message: /no presignature/ });
  t.deepEqual(await readdir(join(store.dir, 'presig-used')), ['p1.rec'], 'only the marker: no temporary files');
});

test('20 concurrent claims of one presignature: exactly one succeeds, one marker, no temporary files', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  await presigs.save('p1', randomBytes(64));
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => presigs.claim('p1')));
  const won = results.filter(
    (r): r is PromiseFulfilledResult<Awaited<ReturnType<Presignatures['claim']>>> => r.status === 'fulfilled',
  );
  t.is(won.length, 1);
  for (const r of results)
    if (r.status === 'rejected')
      t.true(
        r.reason instanceof PresignatureUsedError ||
          (r.reason instanceof StorageError && r.reason.code === 'not-found'),
        String(r.reason),
      );
  await won[0]!.value.deleted;
  t.deepEqual(await readdir(join(store.dir, 'presig-used')), ['p1.rec']);
  t.deepEqual(await readdir(join(store.dir, 'presig')), []);
});

test('a used marker refuses loading even if the secret was left behind by a crash; sweep removes it', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  await presigs.save('p1', randomBytes(32));
  await presigs.save('p2', randomBytes(32));
  await store.create('presig-used', 'p1', Buffer.of(0)); // crash after the marker, before the delete
  await t.throwsAsync(presigs.load('p1'), { instanceOf: PresignatureUsedError });
  t.is(await presigs.sweep(), 1);
  t.deepEqual(await store.list('presig'), ['p2']);
});

test('20 concurrent markUsed of one id: exactly one succeeds (one store, and two stores on one directory)', async (t) => {
  const root = await tempDir(t);
  const { store, kms } = await openNode(root, 'node_1');
  const presigs = new Presignatures(store);
  const one = outcomes(await Promise.allSettled(Array.from({ length: 20 }, () => presigs.markUsed('p1'))));
  t.deepEqual(one, { ok: 1, used: 19, other: [] });

  // Separate instances have separate locks: only the file system's exclusive create decides.
  const other = new Presignatures(await RecordStore.open({ dir: store.dir, nodeId: 'node_1', kms }));
  const two = outcomes(
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? presigs : other).markUsed('p2'))),
  );
  t.deepEqual(two, { ok: 1, used: 19, other: [] });
  t.deepEqual((await readdir(join(store.dir, 'presig-used'))).sort(), ['p1.rec', 'p2.rec']);
});

test('20 concurrent consume of one presignature: exactly one gets the secret', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  const secret = randomBytes(64);
  await presigs.save('p1', secret);
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => presigs.consume('p1')));
  const got = results.filter((r): r is PromiseFulfilledResult<Uint8Array> => r.status === 'fulfilled');
  t.is(got.length, 1);
  t.deepEqual(Buffer.from(got[0]!.value), secret);
  for (const r of results)
    if (r.status === 'rejected')
      t.true(
        r.reason instanceof PresignatureUsedError ||
          (r.reason instanceof StorageError && r.reason.code === 'not-found'),
        String(r.reason),
      );
});

test('markUsed racing from two processes: exactly one succeeds, for each of 30 ids', async (t) => {
  const root = await tempDir(t);
  await openNode(root, 'node_1'); // create the KMS key and the store up front
  const ids = Array.from({ length: 30 }, (_, i) => `presig-${i}`);
  const script = fileURLToPath(new URL('../../helpers/mark-used.js', import.meta.url));
  const children = [0, 1].map(() =>
    fork(script, [root, 'node_1', ...ids], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null) c.kill();
  });
  const message = (c: (typeof children)[number], key: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>): void => {
        if (key in m) {
          c.off('message', onMessage);
          resolve(m);
        }
      };
      c.on('message', onMessage);
      c.once('exit', (code) => reject(new Error(`child exited with ${code} before sending ${key}`)));
    });
  await Promise.all(children.map((c) => message(c, 'ready')));
  const replies = Promise.all(children.map((c) => message(c, 'results')));
  for (const c of children) c.send('go');
  const [a, b] = (await replies).map((m) => m.results as string[]) as [string[], string[]];
  ids.forEach((id, i) => t.deepEqual([a[i], b[i]].sort(), ['ok', 'presignature already used'], id));
  const presigs = new Presignatures((await openNode(root, 'node_1')).store);
  for (const id of ids) t.true(await presigs.isUsed(id));
});

test('rememberSid refuses a repeat, also after a restart and under concurrency', async (t) => {
  const root = await tempDir(t);
  const sessions = new SeenSessions((await openNode(root, 'node_1')).store);
  const sid = randomBytes(32);
  t.false(await sessions.hasSeen(sid));
  await sessions.rememberSid(sid);
  t.true(await sessions.hasSeen(sid));
  await t.throwsAsync(sessions.rememberSid(sid), {
    instanceOf: SessionReplayError,
    message: 'session id already seen',
  });
  await t.throwsAsync(sessions.rememberSid(Uint8Array.from(sid)), { instanceOf: SessionReplayError });

  const restarted = new SeenSessions((await openNode(root, 'node_1')).store);
  await t.throwsAsync(restarted.rememberSid(sid), { instanceOf: SessionReplayError });

  const fresh = randomBytes(32);
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? sessions : restarted).rememberSid(fresh)),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  t.true(results.every((r) => r.status === 'fulfilled' || r.reason instanceof SessionReplayError));
  await t.throwsAsync(sessions.rememberSid(new Uint8Array(0)), { instanceOf: RangeError });
});

test('presignature ids with path tricks are refused', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  for (const id of ['../p1', '..', 'a/b', 'p.1']) {
    await t.throwsAsync(presigs.markUsed(id), { instanceOf: StorageError, message: /record id/ });
    await t.throwsAsync(presigs.save(id, Buffer.of(1)), { instanceOf: StorageError });
    await t.throwsAsync(presigs.load(id), { instanceOf: StorageError });
  }
});

test('a burnt presignature whose secret fails to delete: retried, reported, removed later; the start sweep survives a failing deletion', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const presigs = new Presignatures(store);
  const realDelete = store.delete.bind(store);
  let failures = 0;
  store.delete = async (kind, id) => {
    if (kind === 'presig' && failures > 0) {
      failures--;
      throw new Error('EIO: disk says no');
    }
    return realDelete(kind, id);
  };
  // one failed deletion: retried at once
  await presigs.save('p1', randomBytes(32));
  failures = 1;
  t.true(await presigs.markUsed('p1'));
  t.false(await store.has('presig', 'p1'), 'deleted on a retry');
  // deletion keeps failing: reported, the marker refuses use, removeUsed() does it later
  await presigs.save('p2', randomBytes(32));
  failures = 100;
  t.false(await presigs.markUsed('p2'), 'the caller is told the secret is still there');
  t.true(await presigs.isUsed('p2'));
  t.true(await store.has('presig', 'p2'));
  failures = 0;
  t.true(await presigs.removeUsed('p2'));
  t.false(await store.has('presig', 'p2'));
  t.false(await presigs.removeUsed('p9'), 'never deletes a secret without its marker');
  // the start sweep: a deletion that fails is reported and the others are still removed
  await presigs.save('p3', randomBytes(32));
  await presigs.save('p4', randomBytes(32));
  failures = 100;
  await presigs.markUsed('p3');
  await presigs.markUsed('p4');
  failures = 1; // the first deletion of the sweep (p3) fails
  const failed: string[] = [];
  t.is(await presigs.sweep((id) => failed.push(id)), 1);
  t.deepEqual(failed, ['p3']);
  t.true(await store.has('presig', 'p3'));
  t.false(await store.has('presig', 'p4'));
  t.is(await presigs.sweep(), 1);
  t.false(await store.has('presig', 'p3'));
});
