import test from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeContext, KmsError } from '../../src/kms/kms.js';
import { openLocalKms } from '../../src/kms/local.js';
import { tempDir } from '../helpers/storage.js';
import { kmsConformance } from '../helpers/kms-conformance.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const ctx = { node: 'node_1', kind: 'keyshare', id: 'wallet-1' };

test('the master key is created 0600 in a 0700 directory on first use, then reused', async (t) => {
  const root = join(await tempDir(t), 'kmsNodes');
  const a = await openLocalKms({ root, nodeId: 'node_1' });
  const path = join(root, 'node_1', 'master.key');
  const st = await stat(path);
  t.is(st.mode & 0o777, 0o600);
  t.is(st.size, 32);
  t.is((await stat(join(root, 'node_1'))).mode & 0o777, 0o700);
  t.is((await stat(root)).mode & 0o777, 0o700);
  const before = await readFile(path);

  const dataKey = randomBytes(32);
  const wrapped = await a.wrapKey(dataKey, ctx);
  const b = await openLocalKms({ root, nodeId: 'node_1' });
  t.is(b.keyId, a.keyId);
  t.deepEqual(Buffer.from(await b.unwrapKey(wrapped, ctx)), dataKey);
  t.deepEqual(await readFile(path), before, 'the key file is not rewritten');
  t.deepEqual(await readdir(join(root, 'node_1')), ['master.key'], 'no temporary files left');
});

test('a candidate key left by a crashed starter is removed', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'node_1'), { recursive: true });
  await writeFile(join(root, 'node_1', '.master.key.4000000000.0123456789abcdef.tmp'), randomBytes(32), {
    mode: 0o600,
  });
  await openLocalKms({ root, nodeId: 'node_1' });
  t.deepEqual(await readdir(join(root, 'node_1')), ['master.key']);
});

test('concurrent starters agree on one master key', async (t) => {
  const root = await tempDir(t);
  const all = await Promise.all(Array.from({ length: 12 }, () => openLocalKms({ root, nodeId: 'node_2' })));
  t.is(new Set(all.map((k) => k.keyId)).size, 1);
  const wrapped = await all[3]!.wrapKey(randomBytes(32), ctx);
  for (const k of all) await t.notThrowsAsync(k.unwrapKey(wrapped, ctx));
  t.deepEqual(await readdir(join(root, 'node_2')), ['master.key']);
});

test('each node has its own key; a blob names its key id', async (t) => {
  const root = await tempDir(t);
  const n1 = await openLocalKms({ root, nodeId: 'node_1' });
  const n2 = await openLocalKms({ root, nodeId: 'node_2' });
  t.not(n1.keyId, n2.keyId);
  t.regex(n1.keyId, /^[0-9a-f]{16}$/);
  const wrapped = await n1.wrapKey(randomBytes(32), ctx);
  t.is(Buffer.from(wrapped).toString('hex', 3, 11), n1.keyId);
  const e = await t.throwsAsync(n2.unwrapKey(wrapped, ctx), { instanceOf: KmsError });
  t.is(e?.code, 'unknown-key');
});

test('unwrap refuses another context and any tampered byte', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const dataKey = randomBytes(32);
  const wrapped = await kms.wrapKey(dataKey, ctx);
  for (const other of [
    { ...ctx, node: 'node_2' },
    { ...ctx, id: 'wallet-2' },
    { ...ctx, kind: 'aux' },
    { node: 'node_1', kind: 'keyshare' },
    { ...ctx, extra: '' },
  ]) {
    const e = await t.throwsAsync(kms.unwrapKey(wrapped, other), { instanceOf: KmsError });
    t.is(e?.code, 'unwrap-failed');
  }
  for (let i = 0; i < wrapped.length; i++) {
    const bad = Uint8Array.from(wrapped);
    bad[i]! ^= 0x01;
    await t.throwsAsync(kms.unwrapKey(bad, ctx), { instanceOf: KmsError }, `byte ${i}`);
  }
  await t.throwsAsync(kms.unwrapKey(wrapped.subarray(0, wrapped.length - 1), ctx), { instanceOf: KmsError });
  await t.throwsAsync(kms.unwrapKey(Uint8Array.from([...wrapped, 0]), ctx), { instanceOf: KmsError });
  t.deepEqual(
    Buffer.from(await kms.unwrapKey(wrapped, { kind: 'keyshare', id: 'wallet-1', node: 'node_1' })),
    dataKey,
    'key order does not matter',
  );
});

test('a key file with loose permissions or the wrong length is refused', async (t) => {
  const root = await tempDir(t);
  await openLocalKms({ root, nodeId: 'node_1' });
  const path = join(root, 'node_1', 'master.key');
  await chmod(path, 0o644);
  const loose = await t.throwsAsync(openLocalKms({ root, nodeId: 'node_1' }), { instanceOf: KmsError });
  t.is(loose?.code, 'insecure-key-file');
  await mkdir(join(root, 'node_3'));
  await writeFile(join(root, 'node_3', 'master.key'), randomBytes(31), { mode: 0o600 });
  const short = await t.throwsAsync(openLocalKms({ root, nodeId: 'node_3' }), { instanceOf: KmsError });
  t.is(short?.code, 'bad-key-file');
});

test('node ids that could leave the KMS directory are refused', async (t) => {
  const root = await tempDir(t);
  for (const nodeId of ['../x', '..', '.', 'a/b', '', 'a'.repeat(65), 'node 1']) {
    await t.throwsAsync(openLocalKms({ root, nodeId }), { instanceOf: RangeError }, nodeId);
  }
});

test('the context encoding is canonical and checked', (t) => {
  t.deepEqual(encodeContext({ a: '1', b: '2' }), encodeContext({ b: '2', a: '1' }));
  t.notDeepEqual(encodeContext({ a: 'bc' }), encodeContext({ ab: 'c' }));
  t.notDeepEqual(encodeContext({ a: '' }), encodeContext({}));
  t.throws(() => encodeContext({ A: 'x' }), { instanceOf: KmsError });
  t.throws(() => encodeContext({ a: 'é' }), { instanceOf: KmsError });
  t.throws(() => encodeContext({ a: 'x'.repeat(257) }), { instanceOf: KmsError });
});

test('a closed KMS refuses to work and forgets its key', async (t) => {
  const kms = await openLocalKms({ root: await tempDir(t), nodeId: 'node_1' });
  const wrapped = await kms.wrapKey(randomBytes(32), ctx);
  await kms.close();
  const e = await t.throwsAsync(kms.unwrapKey(wrapped, ctx), { instanceOf: KmsError });
  t.is(e?.code, 'closed');
  await t.throwsAsync(kms.wrapKey(randomBytes(32), ctx), { instanceOf: KmsError });
});

kmsConformance(test, 'local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mpc-kms-'));
  return { kms: await openLocalKms({ root, nodeId: 'node_1' }), other: await openLocalKms({ root, nodeId: 'node_2' }) };
});
