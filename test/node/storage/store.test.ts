import test from 'ava';
import { randomBytes } from 'node:crypto';
import { copyFile, readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealRecord } from '../../../src/node/storage/envelope.js';
import { StorageError } from '../../../src/node/storage/errors.js';
import { RECORD_KINDS, RecordStore } from '../../../src/node/storage/store.js';
import { allFiles, openNode, tempDir } from '../../helpers/storage.js';

test('each kind round-trips; list, has, delete and overwrite', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  for (const kind of RECORD_KINDS) {
    const a = randomBytes(40);
    const b = randomBytes(7);
    await store.put(kind, 'id-a', a);
    await store.put(kind, 'ff00aa', b);
    t.deepEqual(Buffer.from((await store.get(kind, 'id-a'))!), a, kind);
    t.deepEqual(Buffer.from((await store.get(kind, 'ff00aa'))!), b, kind);
    t.deepEqual(await store.list(kind), ['ff00aa', 'id-a']);
    t.true(await store.has(kind, 'id-a'));
    t.is(await store.get(kind, 'missing'), undefined);
    t.false(await store.has(kind, 'missing'));
    await store.put(kind, 'id-a', b);
    t.deepEqual(Buffer.from((await store.get(kind, 'id-a'))!), b, 'overwritten');
    t.true(await store.delete(kind, 'id-a'));
    t.false(await store.delete(kind, 'id-a'));
    t.deepEqual(await store.list(kind), ['ff00aa']);
  }
});

test('records are 0600 files in 0700 directories', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  await store.put('keyshare', 'w1', randomBytes(32));
  t.is((await stat(store.pathOf('keyshare', 'w1'))).mode & 0o777, 0o600);
  t.is((await stat(store.dir)).mode & 0o777, 0o700);
  for (const kind of RECORD_KINDS) t.is((await stat(join(store.dir, kind))).mode & 0o777, 0o700);
});

test('ids that are not plain names are refused, as are unknown kinds', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  for (const id of ['../x', '..', '.', '../../etc/passwd', 'a/b', 'a\\b', 'a.b', '', 'a'.repeat(129), 'é', 'a\0b']) {
    const e = await t.throwsAsync(
      store.put('keyshare', id, Buffer.of(1)),
      { instanceOf: StorageError },
      JSON.stringify(id),
    );
    t.is(e?.code, 'invalid-id');
    await t.throwsAsync(store.get('keyshare', id), { instanceOf: StorageError });
    await t.throwsAsync(store.has('keyshare', id), { instanceOf: StorageError });
    await t.throwsAsync(store.delete('keyshare', id), { instanceOf: StorageError });
  }
  await t.notThrowsAsync(store.put('keyshare', 'a'.repeat(128), Buffer.of(1)));
  const e = await t.throwsAsync(store.put('../keyshare' as 'keyshare', 'x', Buffer.of(1)), {
    instanceOf: StorageError,
  });
  t.is(e?.code, 'invalid-kind');
  await t.throwsAsync(
    RecordStore.open({
      dir: join(store.dir, 'x'),
      nodeId: '../node',
      kms: (await openNode(await tempDir(t), 'n')).kms,
    }),
    { instanceOf: StorageError },
  );
});

test('one flipped byte anywhere in a record file is detected', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  await store.put('keyshare', 'w1', randomBytes(32));
  const path = store.pathOf('keyshare', 'w1');
  const good = await readFile(path);
  for (let i = 0; i < good.length; i++) {
    const bad = Buffer.from(good);
    bad[i]! ^= 0x10;
    await writeFile(path, bad);
    await t.throwsAsync(store.get('keyshare', 'w1'), undefined, `byte ${i}`);
  }
  await writeFile(path, good.subarray(0, good.length - 5));
  await t.throwsAsync(store.get('keyshare', 'w1'), { instanceOf: StorageError });
});

test('a record copied to another node, or renamed to another id or kind, is refused', async (t) => {
  const root = await tempDir(t);
  const n1 = await openNode(root, 'node_1');
  const n2 = await openNode(root, 'node_2');
  await n1.store.put('keyshare', 'w1', randomBytes(32));
  const src = n1.store.pathOf('keyshare', 'w1');

  await copyFile(src, n2.store.pathOf('keyshare', 'w1'));
  const e1 = await t.throwsAsync(n2.store.get('keyshare', 'w1'), { instanceOf: StorageError });
  t.is(e1?.code, 'context-mismatch');

  await copyFile(src, n1.store.pathOf('keyshare', 'w2'));
  const e2 = await t.throwsAsync(n1.store.get('keyshare', 'w2'), { instanceOf: StorageError });
  t.is(e2?.code, 'context-mismatch');

  await rename(src, n1.store.pathOf('presig', 'w1'));
  const e3 = await t.throwsAsync(n1.store.get('presig', 'w1'), { instanceOf: StorageError });
  t.is(e3?.code, 'context-mismatch');
  t.is(await n1.store.get('keyshare', 'w1'), undefined);

  // Same node id but another node's key (e.g. a store restored next to the wrong KMS).
  const impostor = await RecordStore.open({ dir: join(root, 'node_1-store'), nodeId: 'node_1', kms: n2.kms });
  await n1.store.put('aux', 'group', randomBytes(32));
  await t.throwsAsync(impostor.get('aux', 'group'), { message: /not available/ });
});

test('a crash mid-write (leftover or truncated temp files) never corrupts or shadows a record', async (t) => {
  const root = await tempDir(t);
  const { store, kms } = await openNode(root, 'node_1');
  const old = randomBytes(32);
  await store.put('keyshare', 'w1', old);
  const dir = join(store.dir, 'keyshare');
  const sealedNew = await sealRecord(kms, { nodeId: 'node_1', kind: 'keyshare', id: 'w1' }, randomBytes(32));
  // What a writer killed before rename leaves: a complete temp file and a torn one, from a dead pid,
  // plus a recent one from a live process (this one), which must not be removed under its writer.
  const deadPid = 4_000_000_000;
  const complete = join(dir, `.w1.rec.${deadPid}.0123456789abcdef.tmp`);
  const torn = join(dir, `.w1.rec.${deadPid}.fedcba9876543210.tmp`);
  const oldLive = join(dir, `.w2.rec.${process.pid}.aaaaaaaaaaaaaaaa.tmp`);
  const live = join(dir, `.w3.rec.${process.pid}.bbbbbbbbbbbbbbbb.tmp`);
  await writeFile(complete, sealedNew);
  await writeFile(torn, sealedNew.subarray(0, 20));
  await writeFile(oldLive, sealedNew.subarray(0, 20));
  await writeFile(live, sealedNew.subarray(0, 20));
  const hourAgo = new Date(Date.now() - 3_600_000);
  await utimes(oldLive, hourAgo, hourAgo);

  t.deepEqual(Buffer.from((await store.get('keyshare', 'w1'))!), old);
  t.deepEqual(await store.list('keyshare'), ['w1']);
  t.false(await store.has('keyshare', 'w2'));

  const reopened = await RecordStore.open({ dir: store.dir, nodeId: 'node_1', kms });
  t.deepEqual(await readdir(dir).then((l) => l.sort()), [`.w3.rec.${process.pid}.bbbbbbbbbbbbbbbb.tmp`, 'w1.rec']);
  t.deepEqual(Buffer.from((await reopened.get('keyshare', 'w1'))!), old);

  // A temp file for a record that was never completed leaves no record at all.
  await writeFile(join(dir, `.w9.rec.${deadPid}.0000000000000000.tmp`), sealedNew);
  t.is(await reopened.get('keyshare', 'w9'), undefined);
  t.deepEqual(await reopened.list('keyshare'), ['w1']);
});

test('stageCreate: nothing is visible until publish, which creates exclusively; discard leaves nothing', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const dir = join(store.dir, 'presig-used');
  const a = await store.stageCreate('presig-used', 'm1', Buffer.of(1));
  const b = await store.stageCreate('presig-used', 'm1', Buffer.of(2));
  t.false(await store.has('presig-used', 'm1'), 'staged, not published');
  t.deepEqual(await store.list('presig-used'), []);
  t.is((await readdir(dir)).length, 2, 'two complete temporary files');
  t.true(await a.publish());
  t.false(await b.publish(), 'exclusive: the second publisher finds the record there');
  t.deepEqual(Buffer.from((await store.get('presig-used', 'm1'))!), Buffer.of(1));
  await t.throwsAsync(a.publish(), { message: /already published/ });
  const c = await store.stageCreate('presig-used', 'm2', Buffer.of(3));
  await c.discard();
  await t.throwsAsync(c.publish(), { message: /already published or discarded/ });
  t.false(await store.has('presig-used', 'm2'));
  t.deepEqual(await readdir(dir), ['m1.rec'], 'no temporary file left behind');
});

test('concurrent writers of one record serialise; the result is one whole version', async (t) => {
  const { store } = await openNode(await tempDir(t), 'node_1');
  const versions = Array.from({ length: 20 }, () => randomBytes(64));
  await Promise.all(versions.map((v) => store.put('aux', 'group', v)));
  const got = Buffer.from((await store.get('aux', 'group'))!);
  t.true(versions.some((v) => v.equals(got)));
  t.deepEqual(got, versions[19], 'writers of one id run in call order');
  t.deepEqual(await readdir(join(store.dir, 'aux')), ['group.rec'], 'no temporary files left');
});

test('a known secret never appears in clear in any file of the store', async (t) => {
  const root = await tempDir(t);
  const { store } = await openNode(root, 'node_1');
  const secret = Buffer.concat([Buffer.from('KNOWN-SECRET-'), randomBytes(32)]);
  for (const kind of RECORD_KINDS) await store.put(kind, 'ab12', secret);
  const needles = [
    secret,
    secret.subarray(13),
    Buffer.from(secret.toString('hex')),
    Buffer.from(secret.subarray(13).toString('hex')),
    Buffer.from(secret.subarray(13).toString('base64')),
  ];
  const files = await allFiles(store.dir);
  t.is(files.length, RECORD_KINDS.length);
  for (const f of files) {
    const content = await readFile(f);
    for (const n of needles) t.is(content.indexOf(n), -1, f);
    t.is(content.indexOf(Buffer.from('KNOWN-SECRET')), -1, f);
  }
});
