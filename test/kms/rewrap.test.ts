/**
 * Key rotation and re-wrapping: the local master key is retired and replaced; every record moves
 * to the new key; an interrupted run loses nothing and a rerun finishes it; the command refuses
 * to touch a running node's records.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  listRetiredLocalKeys,
  openLocalKms,
  removeRetiredLocalKey,
  RetiredKeyInUseError,
  rotateLocalKms,
} from '../../src/kms/local.js';
import { KmsError } from '../../src/kms/kms.js';
import { wrappedKeyOf } from '../../src/node/storage/envelope.js';
import { StorageError } from '../../src/node/storage/errors.js';
import { rewrapRecords } from '../../src/node/storage/rewrap.js';
import { RecordStore } from '../../src/node/storage/store.js';
import { LOCKED_EXIT_CODE, lockDirectory } from '../../src/util/dir-lock.js';
import { tempDir } from '../helpers/storage.js';

const run = promisify(execFile);

async function fill(store: RecordStore, n: number): Promise<Map<string, Buffer>> {
  const data = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const plain = randomBytes(64 + i);
    const [kind, id] = i % 2 === 0 ? (['keyshare', `w${i}`] as const) : (['presig', `p${i}`] as const);
    await store.put(kind, id, plain);
    data.set(`${kind}/${id}`, plain);
  }
  return data;
}

async function keyIds(store: RecordStore, kms: { keyIdOf(w: Uint8Array): string }): Promise<string[]> {
  const ids: string[] = [];
  for (const kind of ['keyshare', 'presig'] as const) {
    for (const id of await store.list(kind))
      ids.push(kms.keyIdOf(wrappedKeyOf(await readFile(store.pathOf(kind, id))).wrapped));
  }
  return ids;
}

test('rotation retires the old local key; re-wrapping moves every record to the new key; then the old key can go', async (t) => {
  const root = await tempDir(t);
  const kmsRoot = join(root, 'kms');
  const kms1 = await openLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  const store1 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms1 });
  const data = await fill(store1, 10);

  const r = await rotateLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  t.is(r.retired, kms1.keyId);
  t.not(r.current, r.retired);
  t.deepEqual(await readdir(join(kmsRoot, 'node_1', 'retired')), [`${r.retired}.key`]);
  t.is((await stat(join(kmsRoot, 'node_1', 'retired', `${r.retired}.key`))).mode & 0o777, 0o600);

  const kms2 = await openLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  t.is(kms2.keyId, r.current);
  const store2 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms2 });
  // Before re-wrapping, old records still open (retired key) and new ones use the new key.
  t.deepEqual(Buffer.from((await store2.get('keyshare', 'w0'))!), data.get('keyshare/w0'));
  t.deepEqual(new Set(await keyIds(store2, kms2)), new Set([r.retired]));

  const report = await rewrapRecords(store2, kms2);
  t.deepEqual(report, { rewrapped: 10, current: 0 });
  t.deepEqual(new Set(await keyIds(store2, kms2)), new Set([r.current]));
  t.deepEqual(await rewrapRecords(store2, kms2), { rewrapped: 0, current: 10 }, 'a rerun finds nothing to do');

  // Without the retired key every record still opens: nothing depends on it any more.
  const retiredPath = join(kmsRoot, 'node_1', 'retired', `${r.retired}.key`);
  const retiredKey = await readFile(retiredPath);
  await rm(retiredPath);
  const kms3 = await openLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  const store3 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms3 });
  for (const [key, plain] of data) {
    const [kind, id] = key.split('/') as ['keyshare' | 'presig', string];
    t.deepEqual(Buffer.from((await store3.get(kind, id))!), plain, key);
  }
  // A retired file whose content does not match its name is refused.
  retiredKey[0]! ^= 1;
  await writeFile(retiredPath, retiredKey, { mode: 0o600 });
  const e = await t.throwsAsync(openLocalKms({ root: kmsRoot, nodeId: 'node_1' }), { instanceOf: KmsError });
  t.is(e?.code, 'bad-key-file');
});

test('an interrupted re-wrap loses nothing and a rerun completes it', async (t) => {
  const root = await tempDir(t);
  const kmsRoot = join(root, 'kms');
  const store1 = await RecordStore.open({
    dir: join(root, 'store'),
    nodeId: 'node_1',
    kms: await openLocalKms({ root: kmsRoot, nodeId: 'node_1' }),
  });
  const data = await fill(store1, 12);
  await rotateLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  const kms = await openLocalKms({ root: kmsRoot, nodeId: 'node_1' });
  const store = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms });
  let n = 0;
  await t.throwsAsync(
    rewrapRecords(store, kms, {
      onRecord: () => {
        if (++n === 5) throw new Error('crash');
      },
    }),
    { message: 'crash' },
  );
  for (const [key, plain] of data) {
    const [kind, id] = key.split('/') as ['keyshare' | 'presig', string];
    t.deepEqual(Buffer.from((await store.get(kind, id))!), plain, key);
  }
  const second = await rewrapRecords(store, kms);
  t.is(second.rewrapped + second.current, 12);
  t.is(second.current, 5);
  t.deepEqual(new Set(await keyIds(store, kms)), new Set([kms.keyId]));
  for (const [key, plain] of data) {
    const [kind, id] = key.split('/') as ['keyshare' | 'presig', string];
    t.deepEqual(Buffer.from((await store.get(kind, id))!), plain, key);
  }
});

test('a rotation interrupted after the old key was retired can be rerun', async (t) => {
  const root = await tempDir(t);
  const kms = await openLocalKms({ root, nodeId: 'node_1' });
  const wrapped = await kms.wrapKey(randomBytes(32), { a: 'b' });
  // The first step of a rotation, as a crash would leave it: the retired copy exists, master.key is unchanged.
  await mkdir(join(root, 'node_1', 'retired'), { mode: 0o700 });
  await writeFile(
    join(root, 'node_1', 'retired', `${kms.keyId}.key`),
    await readFile(join(root, 'node_1', 'master.key')),
    { mode: 0o600 },
  );
  const r = await rotateLocalKms({ root, nodeId: 'node_1' });
  t.is(r.retired, kms.keyId);
  const after = await openLocalKms({ root, nodeId: 'node_1' });
  t.is(after.keyId, r.current);
  await t.notThrowsAsync(after.unwrapKey(wrapped, { a: 'b' }));
  t.deepEqual(await readdir(join(root, 'node_1', 'retired')), [`${r.retired}.key`]);
});

test('re-wrapping refuses records of another provider', async (t) => {
  const root = await tempDir(t);
  const kms = await openLocalKms({ root: join(root, 'kms'), nodeId: 'node_1' });
  const store = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms });
  await store.put('keyshare', 'w1', randomBytes(40));
  const other = {
    name: 'aws',
    keyId: 'k',
    keyIdOf: () => 'k',
    wrapKey: kms.wrapKey.bind(kms),
    unwrapKey: kms.unwrapKey.bind(kms),
    close: async () => {},
  };
  const e = await t.throwsAsync(rewrapRecords(store, other), { instanceOf: StorageError });
  t.is(e?.code, 'wrong-provider');
});

test('npm run kms:rewrap: --rotate then re-wrap a stopped node; refuses while the node runs', async (t) => {
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
  const data = await fill(store, 4);
  const script = join(process.cwd(), 'dist', 'scripts', 'kms-rewrap.js');
  const out = await run(process.execPath, [script, '--env', 'test', '--id', 'node_1', '--rotate'], { cwd: root });
  t.regex(out.stdout, /done: 4 re-wrapped, 0 already current/);
  const kms2 = await openLocalKms({ root: join(root, 'kms'), nodeId: 'node_1' });
  t.not(kms2.keyId, kms.keyId);
  const store2 = await RecordStore.open({ dir: join(root, 'data', 'node_1', 'records'), nodeId: 'node_1', kms: kms2 });
  t.deepEqual(new Set(await keyIds(store2, kms2)), new Set([kms2.keyId]));
  t.deepEqual(Buffer.from((await store2.get('presig', 'p1'))!), data.get('presig/p1'));

  // "the node is running": this process owns the node's directory
  const node = await lockDirectory(join(root, 'data', 'node_1'), 'node node_1');
  const busy = await run(process.execPath, [script, '--env', 'test', '--id', 'node_1'], { cwd: root }).catch(
    (e: { code: number; stderr: string }) => e,
  );
  t.is((busy as { code: number }).code, LOCKED_EXIT_CODE);
  t.regex(
    (busy as { stderr: string }).stderr,
    new RegExp(`in use by node node_1 \\(process ${process.pid}, since .*\\); stop it first`),
  );
  await node.release();
  const after = await run(process.execPath, [script, '--env', 'test', '--id', 'node_1'], { cwd: root });
  t.regex(after.stdout, /done: 0 re-wrapped, 4 already current/);
});

test('a retired local key is removed only when nothing uses it; never the current key', async (t) => {
  const root = await tempDir(t);
  const kmsRoot = join(root, 'kms');
  const node = { root: kmsRoot, nodeId: 'node_1' };
  const kms1 = await openLocalKms(node);
  const store1 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms1 });
  const data = await fill(store1, 6);
  const r = await rotateLocalKms(node);
  t.deepEqual(await listRetiredLocalKeys(node), [r.retired]);
  const retiredPath = join(kmsRoot, 'node_1', 'retired', `${r.retired}.key`);

  const kms2 = await openLocalKms(node);
  const store2 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms2 });
  const count = async (keyId: string): Promise<number> =>
    (await keyIds(store2, kms2)).filter((k) => k === keyId).length;
  const inUse = await t.throwsAsync(removeRetiredLocalKey(node, r.retired, count), {
    instanceOf: RetiredKeyInUseError,
  });
  t.is(inUse?.records, 6);
  await t.notThrowsAsync(stat(retiredPath), 'the key is still there');
  t.deepEqual(Buffer.from((await store2.get('keyshare', 'w0'))!), data.get('keyshare/w0'));

  // Malformed ids, unknown keys and the current key are refused before any count is asked for.
  let asked = 0;
  const counting = async (): Promise<number> => (asked++, 0);
  await t.throwsAsync(removeRetiredLocalKey(node, '../master', counting), { instanceOf: RangeError });
  const unknown = await t.throwsAsync(removeRetiredLocalKey(node, '0123456789abcdef', counting), {
    instanceOf: KmsError,
  });
  t.is(unknown?.code, 'unknown-key');
  await mkdir(join(kmsRoot, 'node_1', 'retired'), { recursive: true });
  await writeFile(
    join(kmsRoot, 'node_1', 'retired', `${r.current}.key`),
    await readFile(join(kmsRoot, 'node_1', 'master.key')),
    { mode: 0o600 },
  );
  const current = await t.throwsAsync(removeRetiredLocalKey(node, r.current, counting), { instanceOf: KmsError });
  t.regex(current.message, /current master key/);
  t.is(asked, 0);
  await rm(join(kmsRoot, 'node_1', 'retired', `${r.current}.key`));

  t.deepEqual(await rewrapRecords(store2, kms2), { rewrapped: 6, current: 0 });
  await removeRetiredLocalKey(node, r.retired, count);
  await t.throwsAsync(stat(retiredPath), { code: 'ENOENT' });
  t.deepEqual(await listRetiredLocalKeys(node), []);
  const kms3 = await openLocalKms(node);
  const store3 = await RecordStore.open({ dir: join(root, 'store'), nodeId: 'node_1', kms: kms3 });
  for (const [key, plain] of data) {
    const [kind, id] = key.split('/') as ['keyshare' | 'presig', string];
    t.deepEqual(Buffer.from((await store3.get(kind, id))!), plain, key);
  }
});

test('npm run kms:rewrap --remove-retired: refuses while a record still uses the key, succeeds after the re-wrap', async (t) => {
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
  const node = { root: join(root, 'kms'), nodeId: 'node_1' };
  const kms = await openLocalKms(node);
  const store = await RecordStore.open({ dir: join(root, 'data', 'node_1', 'records'), nodeId: 'node_1', kms });
  const data = await fill(store, 3);
  const r = await rotateLocalKms(node);
  const retiredPath = join(root, 'kms', 'node_1', 'retired', `${r.retired}.key`);
  const script = join(process.cwd(), 'dist', 'scripts', 'kms-rewrap.js');
  const remove = ['--env', 'test', '--id', 'node_1', '--remove-retired', r.retired];

  const refused = (await run(process.execPath, [script, ...remove], { cwd: root }).catch((e: unknown) => e)) as {
    code: number;
    stderr: string;
  };
  t.is(refused.code, 1);
  t.regex(refused.stderr, new RegExp(`retired master key ${r.retired} still wraps 3 record\\(s\\)`));
  await t.notThrowsAsync(stat(retiredPath), 'nothing was removed');

  const rewrap = await run(process.execPath, [script, '--env', 'test', '--id', 'node_1'], { cwd: root });
  t.regex(rewrap.stdout, /done: 3 re-wrapped, 0 already current/);
  t.regex(rewrap.stdout, new RegExp(`--remove-retired ${r.retired}`), 'the re-wrap says which key can go');

  const removed = await run(process.execPath, [script, ...remove], { cwd: root });
  t.regex(removed.stdout, new RegExp(`retired master key ${r.retired} of node_1 removed`));
  await t.throwsAsync(stat(retiredPath), { code: 'ENOENT' });
  const after = await openLocalKms(node);
  const store2 = await RecordStore.open({ dir: join(root, 'data', 'node_1', 'records'), nodeId: 'node_1', kms: after });
  for (const [key, plain] of data) {
    const [kind, id] = key.split('/') as ['keyshare' | 'presig', string];
    t.deepEqual(Buffer.from((await store2.get(kind, id))!), plain, key);
  }
});
